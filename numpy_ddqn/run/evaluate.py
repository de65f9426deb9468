"""Greedy evaluation on a separate environment, as bench/BENCHMARK.md defines it."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

EVAL_SEED = 10_000        # evaluation episode k is reset with seed EVAL_SEED + k
CONFIRM_SEED = 20_000     # confirmation episode k is reset with seed CONFIRM_SEED + k
HELDOUT_SEED = 1_000_000  # ``numpy-ddqn evaluate`` / ``record``: start states training never judged by


def evaluate(policy, env, episodes, seed=EVAL_SEED):
    """Returns of ``episodes`` episodes, episode k reset with ``seed + k``; ``policy(obs) -> action``."""
    returns = np.empty(episodes)
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += reward
            done = terminated or truncated
        returns[k] = total
    return returns


class SolveCheck(NamedTuple):
    """Outcome of one evaluation point: the 10-episode mean and, if it passed, the 100-episode one."""
    mean: float
    std: float
    confirm_mean: float | None
    solved: bool


def solve_check(policy, env, threshold, episodes=10, confirm_episodes=100):
    """Evaluate; if the mean reaches ``threshold``, confirm on ``confirm_episodes`` more (solved if >=)."""
    returns = evaluate(policy, env, episodes, EVAL_SEED)
    mean, confirm = float(returns.mean()), None
    if threshold is not None and mean >= threshold:
        confirm = float(evaluate(policy, env, confirm_episodes, CONFIRM_SEED).mean())
    return SolveCheck(mean, float(returns.std()), confirm, confirm is not None and confirm >= threshold)
