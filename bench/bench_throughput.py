"""cartpole-throughput and the floor of bench/BENCHMARK.md.

throughput: MLP 4-64-64-2 tanh, batch 64, plain SGD, one update per env step after 1,000
learning-start steps, replay 50,000, hard target update every 500 steps, epsilon-greedy;
20,000 env steps. floor: 20,000 random-action CartPole-v1 steps in the same process.
    python bench/bench_throughput.py [--repeats 3] [--set layer_norm=true ...]
``--set FIELD=VALUE`` changes the fixed-work config (e.g. ``layer_norm=true``); ``cpu_s`` is the loop's CPU time
(``time.process_time``), steadier than wall time on a loaded machine.
"""
from __future__ import annotations

import argparse
import statistics
import time

from bench_solve import parse_set
from common import print_table, record

from numpy_ddqn.config import Config
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.run.envs import make_env
from numpy_ddqn.run.loop import train

STEPS = 20_000
FIXED_WORK = Config(hidden_sizes=(64, 64), activation="tanh", batch_size=64, optimizer="sgd", n_step=1,
                    learning_rate=1e-2, max_grad_norm=10.0, train_freq=1, gradient_steps=1,
                    learning_starts=1_000, buffer_size=50_000, target_update_interval=500, tau=1.0,
                    total_steps=STEPS, eval_interval=0, stop_when_solved=False, progress_interval=0.0,
                    save_replay=False)


def floor_once(steps=STEPS, seed=0):
    """Random-action CartPole-v1 steps per second (reset when an episode ends)."""
    env = make_env("CartPole-v1")
    env.reset(seed=seed)
    env.action_space.seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - t0)


def throughput_once(seed=0, overrides=None):
    """(env steps per second of the whole loop, median us per gradient update, updates, CPU seconds of the loop)."""
    config = FIXED_WORK.replace(seed=seed, **(overrides or {}))
    agent = DDQNAgent(4, 2, config)
    update, times = agent.update, []

    def timed_update(batch):                       # wraps the bound method: times every update
        t0 = time.perf_counter()
        out = update(batch)
        times.append(time.perf_counter() - t0)
        return out

    agent.update = timed_update
    cpu0 = time.process_time()
    h = train(config, agent=agent)
    return STEPS / h.train_wall_s, statistics.median(times) * 1e6, len(times), time.process_time() - cpu0


def run(repeats=3, overrides=None):
    floors, loops = [], []
    for r in range(repeats):                       # interleaved, so drift hits both alike
        floors.append(floor_once(seed=r))
        loops.append(throughput_once(seed=r, overrides=overrides))
    floor = statistics.median(floors)
    steps_per_s = statistics.median(l[0] for l in loops)
    us_per_update = statistics.median(l[1] for l in loops)
    extra = {"set": overrides} if overrides else {}
    return [{"bench": "floor", "steps_per_s": floor, "repeats": repeats},
            {"bench": "cartpole-throughput", "steps_per_s": steps_per_s, "us_per_update": us_per_update,
             "updates": loops[0][2], "loop_cost_x_floor": floor / steps_per_s,
             "cpu_s": statistics.median(l[3] for l in loops), "repeats": repeats, **extra}]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="fixed-work config override")
    a = p.parse_args()
    rows = run(a.repeats, parse_set(a.set))
    print_table(rows, ["bench", "steps_per_s", "us_per_update", "loop_cost_x_floor", "cpu_s"])
    record(rows)
