"""Cost of one learning step of the distributional family against the default update, interleaved.

The default network (4-64-64-2 tanh, Adam, batch 64, float32, one BLAS thread): one ``agent.update`` on a fixed
batch, each variant in turn, ``--rounds`` rounds, so that a loaded machine slows every variant alike; the table
gives the median over rounds and its ratio to the default's median (bench/FAMILY.md).

    OPENBLAS_NUM_THREADS=1 python bench/bench_family.py [--rounds 5] [--cpu] [--no-record]

``--cpu`` times CPU time (``time.process_time``) instead of wall time: steadier when other jobs share the machine.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from common import median_us, print_table, record

from numpy_ddqn.config import Config
from numpy_ddqn.presets import NAMED_PRESETS
from numpy_ddqn.rl.agent import DDQNAgent

VARIANTS = {
    "default": {},
    "c51 (51 atoms)": dict(distribution="categorical", n_atoms=51),
    "qr-dqn (32 quantiles, the default)": dict(distribution="quantile", n_quantiles=32),
    "qr-dqn (51 quantiles)": dict(distribution="quantile", n_quantiles=51),
    "qr-dqn (200 quantiles, the paper's)": dict(distribution="quantile", n_quantiles=200),
    "rainbow preset (noisy layers off)": dict(NAMED_PRESETS["rainbow"], n_step=1, noisy=False),
    "rainbow preset": dict(NAMED_PRESETS["rainbow"], n_step=1),
    "iqn (N = N' = 8, K = 32, n_cos 64: the defaults)": dict(distribution="implicit"),
    "iqn (N = N' = 32)": dict(distribution="implicit", n_taus=32, n_target_taus=32),
    "iqn (N = N' = 64, the paper's)": dict(distribution="implicit", n_taus=64, n_target_taus=64),
}
"""Variant name -> config overrides (one-step transitions everywhere, so every variant reads the same batch)."""


def update_us(overrides: dict, clock=time.perf_counter) -> float:
    """Median microseconds of one ``agent.update`` on a fixed batch of 64 (after a warm-up)."""
    config = Config(**{**dict(batch_size=64, n_step=1, hidden_sizes=(64, 64), buffer_size=10_000), **overrides})
    agent = DDQNAgent(4, 2, config)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        agent.replay.add(rng.normal(size=4).astype(np.float32), int(rng.integers(2)), 1.0,
                         rng.normal(size=4).astype(np.float32), False)
    batch = agent.replay.sample(64, agent.rngs.replay, 0.4)
    return median_us(lambda: agent.update(batch), number=100, repeat=7, warmup=30, clock=clock)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cpu", action="store_true", help="CPU time (time.process_time) instead of wall time")
    p.add_argument("--no-record", action="store_true")
    a = p.parse_args()
    times = {name: [] for name in VARIANTS}
    for _ in range(a.rounds):                                   # interleaved: every variant once per round
        for name, overrides in VARIANTS.items():
            times[name].append(update_us(overrides, time.process_time if a.cpu else time.perf_counter))
    base = float(np.median(times["default"]))
    rows = [{"bench": "update", "variant": name, "us": float(np.median(t)), "ratio": float(np.median(t)) / base,
             "batch": 64, "sizes": "4-64-64-2", "dtype": "float32"} for name, t in times.items()]
    print_table(rows, ["variant", "us", "ratio"])
    if not a.no_record:
        record(rows)


if __name__ == "__main__":
    main()
