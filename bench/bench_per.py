"""Cost of prioritized replay: one learning step (sample, gradient update, and for PER the priority
update) at batch 64 from a full 100,000-transition buffer, PER against uniform replay, interleaved.

The fixed work of bench/BENCHMARK.md otherwise (4-64-64-2 tanh, plain SGD). Also the cost of storing one
transition (PER updates the sum tree on every add). Medians over --repeats rounds; the ratio is PER / uniform.
    python bench/bench_per.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from bench_throughput import FIXED_WORK
from common import print_table, record

from numpy_ddqn.rl.agent import DDQNAgent

N = 100_000


def full_agent(prioritized):
    """An agent whose replay holds N random CartPole-like transitions."""
    agent = DDQNAgent(4, 2, FIXED_WORK.replace(buffer_size=N, prioritized=prioritized, total_steps=10**6))
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(N + 1, 4)).astype(np.float32)
    for i in range(N):
        agent.replay.add(obs[i], int(i % 2), 1.0, obs[i + 1], i % 200 == 199)
    return agent


def time_calls(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number * 1e6


def run(repeats=7, number=300):
    agents = {"uniform": full_agent(False), "PER": full_agent(True)}
    learn, store = {k: [] for k in agents}, {k: [] for k in agents}
    obs = np.zeros(4, np.float32)
    for _ in range(repeats):                       # interleaved rounds
        for name, agent in agents.items():
            learn[name].append(time_calls(agent.learn, number))
            store[name].append(time_calls(lambda: agent.replay.add(obs, 0, 1.0, obs, False), number))
    rows = [{"bench": "per-learning-step", "replay": name, "us_learn": statistics.median(learn[name]),
             "us_store": statistics.median(store[name]), "buffer": N, "batch": 64} for name in agents]
    ratio = rows[1]["us_learn"] / rows[0]["us_learn"]
    rows.append({"bench": "per-learning-step-ratio", "replay": "PER / uniform", "us_learn": ratio,
                 "us_store": rows[1]["us_store"] / rows[0]["us_store"]})
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):                     # one BLAS thread, as training uses
        rows = run(p.parse_args().repeats)
    print_table(rows, ["bench", "replay", "us_learn", "us_store"])
    record(rows)
