"""The cost of noisy layers and LayerNorm: one learning step and one acting step against the default network's.

    OPENBLAS_NUM_THREADS=1 python bench/bench_layers.py [--rounds 5] [--cpu]

The default CartPole config (4-64-64-2 tanh MLP, batch 64, Adam, Double DQN), with ``noisy``, ``layer_norm`` or
both switched on; ``act`` is epsilon-greedy at epsilon's floor (noisy: a new draw of the noise), ``act-greedy`` the
greedy action on the mean weights. Variants are timed interleaved, round after round, and each round's time is divided by the
default's of the same round: the table gives the median microseconds and the median ratio. ``--cpu`` times this
process's CPU time (``time.process_time``) instead of wall time: steadier on a loaded machine.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from common import median_us, print_table

from numpy_ddqn.config import Config
from numpy_ddqn.rl.agent import DDQNAgent

VARIANTS = {"default": {}, "noisy": {"noisy": True}, "layer_norm": {"layer_norm": True},
            "noisy+layer_norm": {"noisy": True, "layer_norm": True}}


def agent_of(fields):
    """An agent of the default config with ``fields`` and 5,000 random transitions stored."""
    agent = DDQNAgent(4, 2, Config(**fields))
    rng = np.random.default_rng(0)
    for _ in range(5000):
        agent.store(rng.normal(size=4).astype(np.float32), int(rng.integers(2)), 1.0,
                    rng.normal(size=4).astype(np.float32), False)
    return agent


def run(rounds, clock=time.perf_counter):
    agents = {name: agent_of(fields) for name, fields in VARIANTS.items()}
    batches = {name: a.replay.sample(64, a.rngs.replay, 1.0) for name, a in agents.items()}
    obs = np.random.default_rng(1).normal(size=4).astype(np.float32)
    times = {(name, what): [] for name in VARIANTS for what in ("update", "act", "act-greedy")}
    for _ in range(rounds):                              # interleaved: every variant once per round
        for name, agent in agents.items():
            times[name, "update"].append(median_us(lambda: agent.update(batches[name]), number=100, repeat=5,
                                                           clock=clock))
            times[name, "act"].append(median_us(lambda: agent.act(obs), number=200, repeat=5,
                                                        clock=clock))
            times[name, "act-greedy"].append(median_us(lambda: agent.act(obs, greedy=True), number=200, repeat=5,
                                                               clock=clock))
    rows = []
    for what in ("update", "act", "act-greedy"):
        base = np.array(times["default", what])
        for name in VARIANTS:
            t = np.array(times[name, what])
            rows.append({"bench": what, "variant": name, "us": float(np.median(t)),
                         "ratio": float(np.median(t / base))})
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--cpu", action="store_true", help="time CPU time (process_time), not wall time")
    a = p.parse_args()
    print_table(run(a.rounds, time.process_time if a.cpu else time.perf_counter), ["bench", "variant", "us", "ratio"])
