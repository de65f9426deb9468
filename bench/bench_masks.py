"""Munchausen and action masks (bench/MASKS.md): the cost of a learning step, and a masked env learned.

    python bench/bench_masks.py cost [--rounds 7]                  # one learning step, interleaved, medians
    python bench/bench_masks.py act-store                          # acting + storing, masks off
    python bench/bench_masks.py taxi [--seeds 0-2] [--budget 60000] [--jobs 1] [--masks both|on|off]

``cost``: the median time of ``agent.update(replay.sample(64))`` (4-64-64-2 tanh, Adam, batch 64, float32, 5-step
returns: the default config) for each rule, measured in rounds that alternate between the variants, and each
median's ratio to the default's (Double DQN); also the fastest round of each (less sensitive to a loaded machine).
``taxi``: Taxi-v4 (Taxi-v3 in older Gymnasium) with one-hot observations (500 inputs); its ``info["action_mask"]``
with ``action_masks=True`` against none. The optimum is known exactly (value iteration on the env's own
deterministic transition table): an evaluation (10 greedy episodes, seeds 10000..10009) has reached it when its
mean equals the optimal mean of those 10 start states. Reported: the first evaluation step that reaches it.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics

import numpy as np
from common import median_us, print_table

from numpy_ddqn.config import Config
from numpy_ddqn.rl.agent import DDQNAgent

VARIANTS = {
    "double (default)": dict(),
    "dqn": dict(double=False),
    "munchausen": dict(munchausen=True),
    "double + masks": dict(action_masks=True),
    "munchausen + masks": dict(munchausen=True, action_masks=True),
    "double + prioritized": dict(prioritized=True),
    "munchausen + prioritized": dict(munchausen=True, prioritized=True),
}


def act_store():
    """Acting and storing with masks off: the fastest of 30 x 2,000 ``act`` + ``store`` calls, in us a step (run it in
    two checkouts, alternating, to compare)."""
    import time
    agent = DDQNAgent(4, 2, Config(n_step=1, buffer_size=100_000))
    obs, best = np.zeros(4, np.float32), float("inf")
    for _ in range(30):
        agent.steps = 0
        t = time.perf_counter()
        for _ in range(2000):
            agent.store(obs, agent.act(obs), 1.0, obs, False, False)
        best = min(best, (time.perf_counter() - t) / 2000 * 1e6)
    print(f"act + store: {best:.2f} us")


def cost_agent(fields):
    """An agent of the default config (batch 64, 5-step) over a filled replay; ``update`` of a sampled batch."""
    agent = DDQNAgent(4, 2, Config(batch_size=64, hidden_sizes=(64, 64), buffer_size=50_000, **fields))
    rng = np.random.default_rng(0)
    masks = rng.random((5000, 2)) < 0.7
    masks[:, 0] = True
    for i in range(5000):
        agent.store(rng.normal(size=4).astype(np.float32), 0, 1.0, rng.normal(size=4).astype(np.float32),
                    i % 50 == 49, **(dict(mask=masks[i], next_mask=masks[(i + 1) % 5000])
                                     if fields.get("action_masks") else {}))
    return lambda: agent.update(agent.replay.sample(64, agent.rngs.replay, 0.4))


def cost(rounds):
    steps = {name: cost_agent(fields) for name, fields in VARIANTS.items()}
    times = {name: [] for name in VARIANTS}
    for _ in range(rounds):                        # interleaved: every variant once per round
        for name, step in steps.items():
            times[name].append(median_us(step, number=100, repeat=5, warmup=20))
    base, floor = statistics.median(times["double (default)"]), min(times["double (default)"])
    rows = [{"rule": name, "us per learning step (median)": round(statistics.median(t), 1),
             "ratio to default": round(statistics.median(t) / base, 3), "us (min of rounds)": round(min(t), 1),
             "ratio of mins": round(min(t) / floor, 3)} for name, t in times.items()]
    print_table(rows, list(rows[0]))


def taxi_env():
    """Taxi with one-hot observations (float32, 500)."""
    import gymnasium as gym
    try:
        env = gym.make("Taxi-v4")
    except gym.error.Error:
        env = gym.make("Taxi-v3")
    n = env.observation_space.n
    eye = np.eye(n, dtype=np.float32)
    return gym.wrappers.TransformObservation(env, lambda s: eye[s], gym.spaces.Box(0.0, 1.0, (n,), np.float32))


def optimal_values(env):
    """V*(s) of the deterministic Taxi (undiscounted, value iteration over env.unwrapped.P)."""
    P = env.unwrapped.P
    v = np.zeros(len(P))
    for _ in range(300):
        v = np.array([max(sum(p * (r + (0.0 if done else v[s2])) for p, s2, r, done in P[s][a]) for a in P[s])
                      for s in range(len(P))])
    return v


def optimal_eval_mean(episodes=10, seed=10_000):
    env = taxi_env()
    v = optimal_values(env)
    return float(np.mean([v[int(env.reset(seed=seed + k)[0].argmax())] for k in range(episodes)]))


def taxi_run(args):
    seed, masks, budget, optimum = args
    from numpy_ddqn.run.loop import train
    config = Config(env_id="Taxi-v4", seed=seed, action_masks=masks, total_steps=budget, hidden_sizes=(128,),
                    activation="relu", learning_rate=1e-3, gamma=0.99, n_step=3, exploration_steps=budget // 3,
                    epsilon_end=0.05, eval_interval=2_000, eval_episodes=10, stop_when_solved=False,
                    progress_interval=0, threads=1)
    history = train(config, env=taxi_env(), eval_env=taxi_env())
    reached = next((e["step"] for e in history.evals if e["mean"] >= optimum - 1e-9), None)
    return {"seed": seed, "masks": masks, "steps to optimum": reached if reached is not None else f">{budget}",
            "final eval mean": round(history.evals[-1]["mean"], 2), "optimal mean": round(optimum, 2),
            "wall s": round(history.total_wall_s, 1)}


def taxi(seeds, budget, jobs, masks=(True, False)):
    optimum = optimal_eval_mean()
    work = [(s, m, budget, optimum) for s in seeds for m in masks]
    rows = []
    with mp.get_context("spawn").Pool(jobs) as pool:
        for row in pool.imap_unordered(taxi_run, work):
            print(row, flush=True)                 # progress: one line per finished run
            rows.append(row)
    rows.sort(key=lambda r: (r["seed"], not r["masks"]))
    print_table(rows, list(rows[0]))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cost")
    c.add_argument("--rounds", type=int, default=7)
    sub.add_parser("act-store")
    t = sub.add_parser("taxi")
    t.add_argument("--seeds", default="0-2")
    t.add_argument("--budget", type=int, default=60_000)
    t.add_argument("--jobs", type=int, default=1)
    t.add_argument("--masks", choices=("both", "on", "off"), default="both", help="runs with masks, without, or both")
    a = p.parse_args()
    if a.what == "cost":
        cost(a.rounds)
    elif a.what == "act-store":
        act_store()
    else:
        lo, _, hi = a.seeds.partition("-")
        taxi(list(range(int(lo), int(hi or lo) + 1)), a.budget, a.jobs,
             {"both": (True, False), "on": (True,), "off": (False,)}[a.masks])
