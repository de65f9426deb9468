"""Micro-benchmarks of the learning step: replay store and sample, one full update, acting.

Fixed-work configuration of bench/BENCHMARK.md: 4-64-64-2 tanh, batch 64, float32.
    python bench/bench_agent.py
"""
from __future__ import annotations

import numpy as np
from common import median_us, print_table, record

from numpy_ddqn.config import Config
from numpy_ddqn.rl.agent import DDQNAgent


def run():
    rows = []
    for optimizer, double in (("sgd", True), ("adam", True), ("sgd", False)):
        config = Config(optimizer=optimizer, learning_rate=1e-4, double=double, batch_size=64, n_step=1,
                        hidden_sizes=(64, 64), buffer_size=50_000)
        agent = DDQNAgent(4, 2, config)
        rng = np.random.default_rng(0)
        for _ in range(5000):                                   # a filled-in memory to sample from
            agent.replay.add(rng.normal(size=4).astype(np.float32), int(rng.integers(2)),
                             1.0, rng.normal(size=4).astype(np.float32), False)
        sample = lambda: agent.replay.sample(64, agent.rngs.replay)
        batch = sample()
        tag = f"{optimizer}{'' if double else '-vanilla'}"
        rows.append({"bench": "update", "variant": tag, "us": median_us(lambda: agent.update(batch))})
        rows.append({"bench": "sample+update", "variant": tag, "us": median_us(lambda: agent.update(sample()))})
    obs = rng.normal(size=4).astype(np.float32)
    rows.append({"bench": "replay-add", "variant": "", "us": median_us(
        lambda: agent.replay.add(obs, 1, 1.0, obs, False), number=2000)})
    rows.append({"bench": "replay-sample", "variant": "batch 64", "us": median_us(sample)})
    rows.append({"bench": "act-greedy", "variant": "", "us": median_us(lambda: agent.act(obs, greedy=True))})
    for r in rows:
        r.update(sizes="4-64-64-2", batch=64, dtype="float32")
    return rows


if __name__ == "__main__":
    rows = run()
    print_table(rows, ["bench", "variant", "us"])
    record(rows)
