"""PNG figures of runs from their ``log.jsonl``: ``numpy-ddqn plot RUN_DIR [RUN_DIR ...]``.

Needs matplotlib (the ``plot`` extra), imported here only. Several runs (e.g. seeds) are drawn as
their mean with a band (min to max) on a common step grid.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import require
from .runlog import read_run

DIAGNOSTICS = [("loss", "loss (Huber / MSE)"), ("q_max", "max Q"), ("q_mean", "mean Q"),
               ("td_abs_mean", "mean |TD error|"), ("grad_norm", "gradient norm"), ("weight_norm", "weight norms")]
"""Panels of diagnostics.png: (log key, title)."""


def load_run(run_dir):
    """A run's log split by kind, plus its env id and solve threshold."""
    rows, config = read_run(run_dir)
    by_kind = {}
    for r in rows:
        by_kind.setdefault(r.get("kind"), []).append(r)
    starts = [r for r in by_kind.get("event", []) if r.get("event") == "start"]
    return {"name": Path(run_dir).name, "episodes": by_kind.get("episode", []), "evals": by_kind.get("eval", []),
            "updates": by_kind.get("update", []), "env_id": config.get("env_id", "?"),
            "threshold": starts[0].get("threshold") if starts else None}


def moving_average(x, window):
    """Trailing mean over the last ``window`` values (over fewer at the start)."""
    c = np.concatenate(([0.0], np.cumsum(np.asarray(x, dtype=float))))
    i = np.arange(1, len(c))
    n = np.minimum(i, window)
    return (c[i] - c[i - n]) / n


def _band(ax, curves, label, color):
    """Plot one curve, or the mean and min..max band of several (x, y) curves on a common grid."""
    curves = [(np.asarray(x, float), np.asarray(y, float)) for x, y in curves if len(x)]
    if not curves:
        return
    if len(curves) == 1:
        ax.plot(*curves[0], color=color, label=label)
        return
    grid = np.unique(np.concatenate([x for x, _ in curves]))
    ys = np.array([np.where((grid >= x[0]) & (grid <= x[-1]), np.interp(grid, x, y), np.nan) for x, y in curves])
    present = ~np.all(np.isnan(ys), axis=0)
    grid, ys = grid[present], ys[:, present]
    ax.plot(grid, np.nanmean(ys, axis=0), color=color, label=f"{label} (mean of {len(curves)})")
    ax.fill_between(grid, np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), color=color, alpha=0.2)


def make_figures(runs, window=20):
    """``{"learning_curve": Figure, "diagnostics": Figure}`` for loaded runs (see ``load_run``)."""
    require("matplotlib", "plot")
    import matplotlib
    matplotlib.use("Agg")                     # headless: files only, no window
    import matplotlib.pyplot as plt

    env_id = runs[0]["env_id"]
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    if len(runs) == 1:
        ep = runs[0]["episodes"]
        ax.plot([r["step"] for r in ep], [r["ret"] for r in ep], color="0.75", lw=0.8, label="episode return")
    _band(ax, [([r["step"] for r in run["episodes"]], moving_average([r["ret"] for r in run["episodes"]], window))
               for run in runs if run["episodes"]], f"training return ({window}-episode average)", "C0")
    _band(ax, [([r["step"] for r in run["evals"]], [r["mean"] for r in run["evals"]]) for run in runs],
          "evaluation return (greedy)", "C1")
    threshold = runs[0]["threshold"]
    if threshold is not None:
        ax.axhline(threshold, color="C2", ls="--", label=f"solved threshold ({threshold:g})")
    ax.set(title=f"Learning curve: {env_id}", xlabel="env steps", ylabel="return")
    ax.legend(loc="upper left", fontsize=8)
    figures = {"learning_curve": fig}

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), layout="constrained")
    for ax, (key, title) in zip(axes.flat, DIAGNOSTICS):
        if key == "weight_norm":
            names = sorted({n for run in runs for u in run["updates"] for n in u.get("weight_norms", {})
                            if n.startswith("W")})
            for i, name in enumerate(names):
                _band(ax, [([u["step"] for u in run["updates"]], [u["weight_norms"][name] for u in run["updates"]])
                           for run in runs if run["updates"]], name, f"C{i}")
            if names:
                ax.legend(fontsize=8)
        else:
            _band(ax, [([u["step"] for u in run["updates"] if u.get(key) is not None],
                        [u[key] for u in run["updates"] if u.get(key) is not None]) for run in runs], key, "C0")
        ax.set(title=title, xlabel="env steps")
    fig.suptitle(f"Update diagnostics: {env_id} ({len(runs)} run{'s' if len(runs) > 1 else ''})")
    figures["diagnostics"] = fig
    return figures


def plot_runs(run_dirs, out_dir=None):
    """Write ``learning_curve.png`` and ``diagnostics.png``; return their paths."""
    runs = [load_run(d) for d in run_dirs]
    out_dir = Path(out_dir or run_dirs[0])
    figures = make_figures(runs)              # checks matplotlib is installed first
    import matplotlib.pyplot as plt
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
