"""Aggregates over seeds, NumPy only: the interquartile mean and its stratified bootstrap confidence interval.

The definitions are those of ``rliable`` (Agarwal et al. 2021, "Deep RL at the edge of the statistical
precipice"): the IQM is ``scipy.stats.trim_mean(x, 0.25)`` over all runs (drop ``floor(n / 4)`` runs at
each end, average the rest), and the 95% interval is the percentile bootstrap with runs resampled
with replacement within each task (stratified). ``tests/test_sweep.py`` checks both against a naive
computation and, where rliable is installed, against rliable itself.
"""
from __future__ import annotations

import numpy as np


def iqm(scores, axis=None) -> np.ndarray | float:
    """Interquartile mean: the mean of the runs left after dropping ``floor(n / 4)`` at each end.

    ``axis=None`` pools every score (rliable's ``aggregate_iqm`` over a runs x tasks matrix);
    ``axis=-1`` gives one IQM per row (used for many bootstrap samples at once).
    """
    x = np.asarray(scores, dtype=float)
    if axis is None:
        x = x.reshape(-1)
        axis = -1
    x = np.sort(x, axis=axis)
    n = x.shape[axis]
    if n == 0:
        raise ValueError("the IQM of no scores is undefined")
    cut = int(0.25 * n)
    kept = np.take(x, np.arange(cut, n - cut), axis=axis)
    return kept.mean(axis=axis)


def bootstrap_ci(scores, statistic=iqm, reps: int = 50_000, size: float = 0.95, seed: int = 0) -> tuple:
    """``(low, high)``: stratified percentile bootstrap interval of ``statistic`` over runs.

    ``scores`` is ``(runs,)`` or ``(runs, tasks)``; each of ``reps`` resamples draws the runs of every
    task with replacement (``numpy.random.default_rng(seed).integers``, task by task), and the interval
    is the ``(1 - size) / 2`` and ``(1 + size) / 2`` percentiles of the statistic over the resamples.
    ``statistic`` takes ``(reps, runs * tasks)`` and an ``axis=-1`` keyword.
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    runs, tasks = x.shape
    if runs == 0:
        raise ValueError("a confidence interval of no scores is undefined")
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.integers(0, runs, size=(reps, runs)) for _ in range(tasks)], axis=-1)  # (reps, runs, tasks)
    samples = np.take_along_axis(np.broadcast_to(x, (reps, runs, tasks)), idx, axis=1).reshape(reps, -1)
    stats = statistic(samples, axis=-1)
    tail = (1.0 - size) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)
