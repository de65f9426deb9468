"""PNG figures of runs from their ``log.jsonl``: ``numpy-ddqn plot RUN_DIR [RUN_DIR ...]``.

Needs matplotlib (the ``plot`` extra), imported here only. Runs are grouped by configuration (every
config field except the seed and the run-only settings in ``RUN_ONLY``): each group is drawn as its
mean with a min..max band over its runs, labelled by the fields in which the groups differ, so that
``plot runs/a-* runs/b-*`` compares configurations. A run that stopped earlier than the others (it
solved) holds its last value, so no curve jumps where a run ends. A sweep folder (``numpy-ddqn sweep``)
stands for the run folders of its finished trials: one band per configuration, over its seeds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import require
from ..run.runlog import read_run

DIAGNOSTICS = [("loss", "loss (Huber / MSE)"), ("q_max", "max Q"), ("q_mean", "mean Q"),
               ("td_abs_mean", "mean |TD error|"), ("grad_norm", "gradient norm"), ("weight_norm", "weight norms")]
"""Panels of diagnostics.png: (log key, title)."""

RUN_ONLY = ("seed", "total_steps", "stop_when_solved", "progress_interval", "log_interval", "save_replay",
            "threads")
"""Config fields that do not make another configuration: runs differing only in these are one group."""


def load_run(run_dir):
    """A run's log split by kind, plus its env id, solve threshold and config."""
    rows, config = read_run(run_dir)
    by_kind = {}
    for r in rows:
        by_kind.setdefault(r.get("kind"), []).append(r)
    starts = [r for r in by_kind.get("event", []) if r.get("event") == "start"]
    return {"name": Path(run_dir).name, "episodes": by_kind.get("episode", []), "evals": by_kind.get("eval", []),
            "updates": by_kind.get("update", []), "env_id": config.get("env_id", "?"), "config": config,
            "threshold": starts[0].get("threshold") if starts else None}


def group_runs(runs):
    """``[(label, [run, ...]), ...]``: runs with the same configuration together, in first-seen order.

    The label names the config fields whose values differ between groups (``""`` for one group).
    """
    key = lambda run: tuple(sorted((k, str(v)) for k, v in run["config"].items() if k not in RUN_ONLY))
    groups = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    keys = list(groups)
    differing = sorted({k for g in keys for k, v in g} - {k for k, v in set.intersection(*map(set, keys))})
    label = lambda g: ", ".join(f"{k}={v}" for k, v in g if k in differing)
    return [(label(g), groups[g]) for g in keys]


def moving_average(x, window):
    """Trailing mean over the last ``window`` values (over fewer at the start)."""
    c = np.concatenate(([0.0], np.cumsum(np.asarray(x, dtype=float))))
    i = np.arange(1, len(c))
    n = np.minimum(i, window)
    return (c[i] - c[i - n]) / n


def on_grid(curves):
    """``(grid, ys)``: several (x, y) curves on the union of their x; before its first x a curve is NaN,
    after its last x it holds its last value (a run that stopped early, e.g. solved)."""
    grid = np.unique(np.concatenate([x for x, _ in curves]))
    ys = np.array([np.where(grid >= x[0], np.interp(grid, x, y), np.nan) for x, y in curves])
    return grid, ys


def _band(ax, curves, label, color, each_run=False):
    """Plot one curve, or the mean and min..max band of several (x, y) curves on a common grid."""
    curves = [(np.asarray(x, float), np.asarray(y, float)) for x, y in curves if len(x)]
    if not curves:
        return
    if len(curves) == 1:
        ax.plot(*curves[0], color=color, label=label)
        return
    grid, ys = on_grid(curves)
    if each_run:
        for y in ys:
            ax.plot(grid, y, color=color, lw=0.5, alpha=0.5)
    ax.plot(grid, np.nanmean(ys, axis=0), color=color, label=f"{label} (mean of {len(curves)})")
    ax.fill_between(grid, np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), color=color, alpha=0.2)


def make_figures(runs, window=20, each_run=False):
    """``{"learning_curve": Figure, "diagnostics": Figure}`` for loaded runs (see ``load_run``)."""
    require("matplotlib", "plot")
    import matplotlib
    matplotlib.use("Agg")                     # headless: files only, no window
    import matplotlib.pyplot as plt

    env_id = runs[0]["env_id"]
    groups = group_runs(runs)
    named = lambda label, what: f"{label}: {what}" if label else what
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    if len(runs) == 1:
        ep = runs[0]["episodes"]
        ax.plot([r["step"] for r in ep], [r["ret"] for r in ep], color="0.75", lw=0.8, label="episode return")
    for i, (label, group) in enumerate(groups):
        train_color, eval_color = (f"C{2 * i}", f"C{2 * i + 1}") if len(groups) > 1 else ("C0", "C1")
        _band(ax, [([r["step"] for r in run["episodes"]], moving_average([r["ret"] for r in run["episodes"]], window))
                   for run in group if run["episodes"]], named(label, f"training return ({window}-episode average)"),
              train_color, each_run)
        _band(ax, [([r["step"] for r in run["evals"]], [r["mean"] for r in run["evals"]]) for run in group],
              named(label, "evaluation return (greedy)"), eval_color, each_run)
    threshold = runs[0]["threshold"]
    if threshold is not None:
        ax.axhline(threshold, color="0.3", ls="--", label=f"solved threshold ({threshold:g})")
    ax.set(title=f"Learning curve: {env_id}", xlabel="env steps", ylabel="return")
    ax.legend(loc="upper left", fontsize=8)
    figures = {"learning_curve": fig}

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), layout="constrained")
    for ax, (key, title) in zip(axes.flat, DIAGNOSTICS):
        for g, (label, group) in enumerate(groups):
            if key == "weight_norm":
                names = sorted({n for run in group for u in run["updates"] for n in u.get("weight_norms", {})
                                if n.startswith("W")})
                for i, name in enumerate(names):
                    _band(ax, [([u["step"] for u in run["updates"]], [u["weight_norms"][name] for u in run["updates"]])
                               for run in group if run["updates"]], named(label, name),
                          f"C{g * len(names) + i}", each_run)
            else:
                _band(ax, [([u["step"] for u in run["updates"] if u.get(key) is not None],
                            [u[key] for u in run["updates"] if u.get(key) is not None]) for run in group],
                      named(label, key), f"C{g}", each_run)
        if key == "weight_norm" or len(groups) > 1:
            ax.legend(fontsize=7)
        ax.set(title=title, xlabel="env steps")
    configs = f", {len(groups)} configurations" if len(groups) > 1 else ""
    fig.suptitle(f"Update diagnostics: {env_id} ({len(runs)} run{'s' if len(runs) > 1 else ''}{configs})")
    figures["diagnostics"] = fig
    return figures


def expand_sweeps(run_dirs):
    """The run folders behind ``run_dirs``: a sweep folder gives its finished trials' folders, in spec order."""
    from ..errors import NumpyDDQNError
    from ..sweep.run import TRIALS, SweepFolder
    out = []
    for d in map(Path, run_dirs):
        if not (d / TRIALS).is_file():
            out.append(d)
            continue
        rows = [r for r in SweepFolder(d).rows() if r.get("status") == "ok"]
        if not rows:
            raise NumpyDDQNError(f"sweep {d} has no finished trial to plot yet")
        out += [d / "runs" / r["config"] / f"seed{r['seed']}" for r in sorted(rows, key=lambda r: (r["config"], r["seed"]))]
    return out


def plot_runs(run_dirs, out_dir=None, each_run=False):
    """Write ``learning_curve.png`` and ``diagnostics.png``; return their paths (``each_run``: thin lines too).

    A sweep folder among ``run_dirs`` stands for its trials' run folders (the figures go into it by default).
    """
    out_dir = out_dir or run_dirs[0]
    run_dirs = expand_sweeps(run_dirs)
    runs = [load_run(d) for d in run_dirs]
    out_dir = Path(out_dir)
    figures = make_figures(runs, each_run=each_run)   # checks matplotlib is installed first
    import matplotlib.pyplot as plt
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
