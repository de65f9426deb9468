"""minatar-learn: train the MinAtar preset (conv 16x3x3 + 128) per seed; evaluation curve and frames/s.

    python bench/bench_minatar.py --env MinAtar/Breakout-v1 --seeds 0-2            # 500,000 frames each
    python bench/bench_minatar.py --env MinAtar/SpaceInvaders-v1 --seeds 0 --steps 200000
    python bench/bench_minatar.py --figure MinAtar/Breakout-v1 MinAtar/SpaceInvaders-v1   # the curves so far
    python bench/bench_minatar.py --table MinAtar/Breakout-v1                              # ... as a table

Every run keeps its folder under ``--runs`` (default ``bench/out/minatar``, which git ignores): the greedy
evaluations (10 episodes every 25,000 frames) are in its ``log.jsonl`` as they happen, so ``--figure`` can draw
the curves of runs still going. A finished run appends one row to the results file (``bench/common.py``):
its evaluation curve, the last and best evaluation, training wall time (evaluation excluded) and frames/s.
Seeds run one after another in this process (one BLAS thread); start one process per seed to run them side
by side.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_solve import parse_seeds, parse_set
from common import HERE, print_table, record

from numpy_ddqn import Config, train

RUNS = HERE / "out" / "minatar"
REFERENCE = {"MinAtar/Breakout-v1": [(150_000, 5.6), (200_000, 8.2), (350_000, 8.9), (403_000, 13.1)]}
"""The published reference agent (PyTorch, the same network, one update per frame) re-implemented and run on this
project's 2-core machine: 1 seed, 10 evaluation episodes (as issue 16 reports it)."""
TARGET = {"MinAtar/Breakout-v1": 13.0}


def run_folder(runs, env_id, seed):
    return Path(runs) / f"{env_id.split('/')[-1]}-seed{seed}"


def curve(folder):
    """``[(step, mean greedy return), ...]`` from a run's log (finished or not)."""
    points = []
    path = Path(folder) / "log.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:          # a line being written
                continue
            if row.get("kind") == "eval":
                points.append((row["step"], row["mean"]))
    return points


def run(env_id, seed, runs, steps, changes):
    config = Config.for_env(env_id, seed=seed, progress_interval=0, **({"total_steps": steps} if steps else {}),
                            **changes)
    h = train(config, out_dir=run_folder(runs, env_id, seed))
    points = curve(run_folder(runs, env_id, seed))
    row = {"bench": "minatar-learn", "env": env_id, "seed": seed, "steps": h.steps, "episodes": h.episodes,
           "train_wall_s": round(h.train_wall_s, 1), "total_wall_s": round(h.total_wall_s, 1),
           "frames_per_s": round(h.steps / h.train_wall_s, 1), "last_eval": points[-1][1] if points else None,
           "best_eval": h.best_eval, "curve": points, "changes": changes}
    record([row])
    return row


def recorded_curves(env_id, path):
    """``{seed: [(step, mean), ...]}`` of the MinAtar preset's finished runs (no changes) in a results file."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return {r["seed"]: [tuple(p) for p in r["curve"]] for r in rows
            if r.get("bench") == "minatar-learn" and r.get("env") == env_id and not r.get("changes")}


def figure(env_ids, runs, out, label="", beside=None):
    """One panel per env: each seed's greedy evaluation curve and their mean; ``beside``, a results file: the
    preset's recorded curves drawn dashed beside them (``label`` names the runs' configuration)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig, axes = plt.subplots(1, len(env_ids), figsize=(5.5 * len(env_ids), 4), squeeze=False)
    for ax, env_id in zip(axes[0], env_ids):
        curves = {}
        for folder in sorted(Path(runs).glob(f"{env_id.split('/')[-1]}-seed*")):
            points = curve(folder)
            if points:
                curves[folder.name.rsplit("seed", 1)[-1]] = points
                steps, means = zip(*points)
                ax.plot(steps, means, lw=1.5 if beside else 1, alpha=0.6 if not beside else 0.9,
                        label=f"{label + ', ' if label else ''}seed {folder.name.rsplit('seed', 1)[-1]}")
        for seed, points in (recorded_curves(env_id, beside) if beside else {}).items():
            ax.plot(*zip(*points), lw=1, ls="--", alpha=0.7, label=f"DDQN preset, seed {seed} (recorded)")
        if len(curves) > 1:
            common = sorted(set.intersection(*(set(s for s, _ in p) for p in curves.values())))
            if common:
                mean = [np.mean([dict(p)[s] for p in curves.values()]) for s in common]
                ax.plot(common, mean, lw=2.5, color="black", label=f"mean of {len(curves)}")
        if env_id in REFERENCE:
            ax.plot(*zip(*REFERENCE[env_id]), "s--", color="gray", ms=5, lw=1, label="reference agent (PyTorch, 1 seed)")
        if env_id in TARGET:
            ax.axhline(TARGET[env_id], color="red", lw=0.8, ls=":", label=f"target {TARGET[env_id]:g} at 500k frames")
            ax.set_xlim(0, 520_000)
        ax.set_title(f"{env_id}: greedy evaluation (10 episodes)")
        ax.set_xlabel("frames (env steps)")
        ax.set_ylabel("mean return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def table(env_ids, runs, every=100_000):
    """A markdown table of each run's evaluations at every ``every`` frames (runs still going: as far as they got)."""
    for env_id in env_ids:
        folders = sorted(Path(runs).glob(f"{env_id.split('/')[-1]}-seed*"))
        points = {f.name.rsplit("seed", 1)[-1]: dict(curve(f)) for f in folders}
        last = max((max(p) for p in points.values() if p), default=0)
        marks = list(range(every, last + 1, every))
        print(f"| {env_id}, seed | " + "".join(f"{m // 1000}k | " for m in marks) + "latest (frames) |")
        print("|---" * (len(marks) + 2) + "|")
        for seed, p in points.items():
            cells = "".join(f"{p[m]:.1f} | " if m in p else " | " for m in marks)
            latest = f"{p[max(p)]:.1f} ({max(p):,})" if p else "none yet"
            print(f"| {seed} | {cells}{latest} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="MinAtar/Breakout-v1")
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--steps", type=int, default=0, help="frames per run (default: the preset's, 500,000)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    p.add_argument("--runs", default=str(RUNS), help="folder of the run folders")
    p.add_argument("--figure", nargs="+", metavar="ENV", help="draw the curves of these envs' runs and stop")
    p.add_argument("--figure-out", default=str(HERE / "figures" / "minatar.png"))
    p.add_argument("--label", default="", help="--figure: the configuration the runs' curves are labelled with")
    p.add_argument("--beside", metavar="RESULTS", help="--figure: draw the preset's recorded curves of this results "
                                                     "file beside the runs' (e.g. bench/results.jsonl)")
    p.add_argument("--table", nargs="+", metavar="ENV", help="print these envs' evaluations as a markdown table and stop")
    args = p.parse_args()
    if args.figure:
        figure(args.figure, args.runs, args.figure_out, args.label, args.beside)
        return
    if args.table:
        table(args.table, args.runs)
        return
    rows = [run(args.env, seed, args.runs, args.steps, parse_set(args.set)) for seed in parse_seeds(args.seeds)]
    print_table(rows, ["env", "seed", "steps", "last_eval", "best_eval", "train_wall_s", "frames_per_s"])


if __name__ == "__main__":
    main()
