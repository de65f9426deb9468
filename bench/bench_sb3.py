"""numpy_ddqn and Stable-Baselines3 side by side, in the same run, rounds interleaved.

Two comparisons (``--work``):

fixed (default): the fixed work of BENCHMARK.md (MLP 4-64-64-2 tanh, batch 64, plain SGD lr 1e-2,
    gradient norm clipped at 10, Huber loss, gamma 0.99, one update per env step after 1,000 learning
    starts, replay 50,000, hard target update every 500 steps, epsilon 1 -> 0.05 over the first 4,000
    of 20,000 CartPole-v1 steps), one BLAS / torch thread on both sides. Each round runs the
    random-action floor, numpy_ddqn and SB3, in that order. Reported: env steps/s of the whole loop
    (SB3: its whole ``learn()``), the median us of one learning step (numpy_ddqn: sample + update;
    SB3: one ``train()`` call, which samples and steps), and the per-round ratios.
    One difference remains in the work: SB3's DQN takes the vanilla target max_a Q_target(s', a), so it
    skips the online forward over s' that Double DQN needs; numpy_ddqn does more.

solve: each side's CartPole-v1 configuration under the solve protocol (every 1,000 steps 10 greedy
    episodes reset with seeds 10,000 + k; at a mean >= 475, 100 more with seeds 20,000 + k; solved if
    that mean is >= 475), budget 100,000 steps, seed by seed, alternating sides. numpy_ddqn: its default
    config. SB3: DQN with rl-zoo3's tuned CartPole-v1 hyperparameters. Reported per side: runs solved,
    median steps, median training wall time to solve (evaluation excluded on both sides; failures count
    as the whole run), and the ratio of the medians.

Needs the optional extra ``pip install ".[compare]"`` (stable-baselines3, torch). On a machine
without a GPU install a CPU build of torch first (``pip install torch --index-url
https://download.pytorch.org/whl/cpu``), or pip pulls the multi-GB CUDA build. Without SB3 the script
runs the numpy_ddqn side alone and says so.

    python bench/bench_sb3.py [--rounds 3]
    python bench/bench_sb3.py --work solve [--seeds 0-9]
"""
from __future__ import annotations

import argparse
import statistics
import time

from bench_solve import parse_seeds
from bench_throughput import FIXED_WORK, STEPS, floor_once
from common import print_table, record

from numpy_ddqn.config import Config
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.run.loop import train

THRESHOLD, BUDGET = 475.0, 100_000

# rl-zoo3's hyperparams/dqn.yml, CartPole-v1 (exploration over 16% of its 50,000 steps = 8,000 steps)
RL_ZOO_CARTPOLE = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000,
                       gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
                       exploration_fraction=8_000 / BUDGET, exploration_final_eps=0.04,
                       policy_kwargs=dict(net_arch=[256, 256]))


def timed(fn, times):
    """``fn`` wrapped so that each call's duration is appended to ``times`` (seconds)."""
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
        return out
    return wrapper


def sb3_available():
    """``(True, versions)`` if stable-baselines3 and torch import, else ``(False, reason)``."""
    try:
        import stable_baselines3
        import torch
    except ImportError as e:
        return False, f"{e.name} is not installed (pip install '.[compare]')"
    torch.set_num_threads(1)
    return True, {"stable_baselines3": stable_baselines3.__version__, "torch": torch.__version__,
                  "torch_threads": torch.get_num_threads()}


# -- fixed work -------------------------------------------------------------------------------

def numpy_ddqn_fixed(seed):
    """(env steps/s of the fixed-work loop, median us of sample + update)."""
    config = FIXED_WORK.replace(seed=seed)
    agent = DDQNAgent(4, 2, config)
    samples, updates = [], []
    agent.replay.sample = timed(agent.replay.sample, samples)
    agent.update = timed(agent.update, updates)
    h = train(config, agent=agent)
    return STEPS / h.train_wall_s, (statistics.median(samples) + statistics.median(updates)) * 1e6


def sb3_fixed(seed):
    """(env steps/s of SB3's ``learn()`` on the same work, median us of one ``train()`` call)."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN

    c = FIXED_WORK
    model = DQN("MlpPolicy", gym.make("CartPole-v1"), seed=seed, verbose=0, device="cpu",
                policy_kwargs=dict(net_arch=list(c.hidden_sizes), activation_fn=torch.nn.Tanh,
                                   optimizer_class=torch.optim.SGD),
                learning_rate=c.learning_rate, batch_size=c.batch_size, train_freq=c.train_freq,
                gradient_steps=c.gradient_steps, learning_starts=c.learning_starts,
                buffer_size=c.buffer_size, target_update_interval=c.target_update_interval, tau=c.tau,
                gamma=c.gamma, max_grad_norm=c.max_grad_norm, exploration_initial_eps=c.epsilon_start,
                exploration_final_eps=c.epsilon_end, exploration_fraction=c.exploration_steps / STEPS)
    trains = []
    model.train = timed(model.train, trains)
    t0 = time.perf_counter()
    model.learn(total_timesteps=STEPS)
    return STEPS / (time.perf_counter() - t0), statistics.median(trains) * 1e6


def run_fixed(rounds, have_sb3, info):
    floors, ours, theirs = [], [], []
    for r in range(rounds):                        # interleaved, so drift hits every side alike
        floors.append(floor_once(seed=r))
        ours.append(numpy_ddqn_fixed(seed=r))
        if have_sb3:
            theirs.append(sb3_fixed(seed=r))
        print(f"round {r + 1}/{rounds}: floor {floors[-1]:,.0f}/s, numpy_ddqn {ours[-1][0]:,.0f}/s"
              + (f", SB3 {theirs[-1][0]:,.0f}/s" if have_sb3 else ""), flush=True)
    rows = [{"bench": "floor", "impl": "gymnasium", "steps_per_s": statistics.median(floors)},
            {"bench": "cartpole-throughput", "impl": "numpy_ddqn",
             "steps_per_s": statistics.median(o[0] for o in ours),
             "us_per_update": statistics.median(o[1] for o in ours),
             "x_floor": statistics.median(f / o[0] for f, o in zip(floors, ours))}]
    if have_sb3:
        rows.append({"bench": "cartpole-throughput", "impl": "stable-baselines3", **info,
                     "steps_per_s": statistics.median(t[0] for t in theirs),
                     "us_per_update": statistics.median(t[1] for t in theirs),
                     "x_floor": statistics.median(f / t[0] for f, t in zip(floors, theirs))})
        rows.append({"bench": "cartpole-throughput-ratio", "impl": "numpy_ddqn / SB3",
                     "steps_per_s": statistics.median(o[0] / t[0] for o, t in zip(ours, theirs)),
                     "us_per_update": statistics.median(o[1] / t[1] for o, t in zip(ours, theirs))})
    return rows


# -- solve protocol ---------------------------------------------------------------------------

def numpy_ddqn_solve(seed):
    """(solved, steps, training seconds to solve) with the default config."""
    config = Config(seed=seed, total_steps=BUDGET, progress_interval=0.0, stop_when_solved=True, save_replay=False)
    h = train(config)
    return h.solved, (h.solved_at if h.solved else BUDGET), (h.solve_train_wall_s if h.solved else h.train_wall_s)


def sb3_solve(seed):
    """(solved, steps, training seconds to solve) for SB3's DQN, evaluated as numpy_ddqn is."""
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    from numpy_ddqn.run.evaluate import solve_check

    class SolveProtocol(BaseCallback):
        """Every 1,000 steps the solve check of numpy_ddqn (its seeds); its time is kept out of training."""

        def __init__(self):
            super().__init__()
            self.eval_env, self.eval_s, self.solved_at = gym.make("CartPole-v1"), 0.0, None

        def _on_step(self):
            if self.num_timesteps % 1000:
                return True
            t0 = time.perf_counter()
            policy = lambda obs: self.model.predict(obs, deterministic=True)[0]    # (R, 4) -> (R,)
            check = solve_check(policy, self.eval_env, THRESHOLD)
            self.eval_s += time.perf_counter() - t0
            if check.solved:
                self.solved_at = self.num_timesteps
            return not check.solved

    model = DQN("MlpPolicy", gym.make("CartPole-v1"), seed=seed, verbose=0, device="cpu", **RL_ZOO_CARTPOLE)
    callback = SolveProtocol()
    t0 = time.perf_counter()
    model.learn(total_timesteps=BUDGET, callback=callback)
    train_s = time.perf_counter() - t0 - callback.eval_s
    solved = callback.solved_at is not None
    return solved, (callback.solved_at if solved else BUDGET), train_s


def run_solve(seeds, have_sb3, info):
    sides = {"numpy_ddqn": numpy_ddqn_solve} | ({"stable-baselines3": sb3_solve} if have_sb3 else {})
    results = {name: [] for name in sides}
    for seed in seeds:                              # alternating sides, seed by seed
        for name, fn in sides.items():
            results[name].append(fn(seed))
            solved, steps, secs = results[name][-1]
            print(f"seed {seed} {name}: solved {solved} at {steps:,} steps, {secs:.1f} s training", flush=True)
    rows = []
    for name, res in results.items():
        rows.append({"bench": "cartpole-solve-vs", "impl": name, **(info if name != "numpy_ddqn" else {}),
                     "solved": f"{sum(r[0] for r in res)}/{len(res)}",
                     "median_steps": statistics.median(r[1] for r in res),
                     "median_train_s": statistics.median(r[2] for r in res), "seeds": list(seeds)})
    if have_sb3:
        rows.append({"bench": "cartpole-solve-vs-ratio", "impl": "SB3 / numpy_ddqn",
                     "median_train_s": rows[1]["median_train_s"] / rows[0]["median_train_s"],
                     "median_steps": rows[1]["median_steps"] / rows[0]["median_steps"]})
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", choices=("fixed", "solve"), default="fixed")
    p.add_argument("--rounds", type=int, default=3, help="fixed work: interleaved rounds")
    p.add_argument("--seeds", default="0-9", help="solve: seeds, '0-9' or '0,2,5'")
    a = p.parse_args()
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)                            # one BLAS thread for both sides (torch: set_num_threads)
    have_sb3, info = sb3_available()
    if not have_sb3:
        print(f"Stable-Baselines3 side skipped: {info}")
    if a.work == "fixed":
        rows = run_fixed(a.rounds, have_sb3, info)
        print_table(rows, ["bench", "impl", "steps_per_s", "us_per_update", "x_floor"])
    else:
        rows = run_solve(parse_seeds(a.seeds), have_sb3, info)
        print_table(rows, ["bench", "impl", "solved", "median_steps", "median_train_s"])
    record(rows)
