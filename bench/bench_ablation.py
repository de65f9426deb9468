"""Ablation on the solve protocol (bench/BENCHMARK.md): each variant of the default config over the
same seeds, one row each, written as a Markdown table (steps to solve: solved runs, median, interquartile
range, worst seed; median training time).

    python bench/bench_ablation.py --seeds 0-9 --out bench/ABLATION.md            # choose on these
    python bench/bench_ablation.py --seeds 10-19 --only default,best --out ...     # report on held-out seeds
Variants are named in VARIANTS; failures count as the budget. Runs are spread over --jobs processes
(one BLAS thread each); steps to solve do not depend on --jobs, wall times do.
"""
from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np
from bench_solve import parse_seeds, run
from common import context, record

from numpy_ddqn.presets import NAMED_PRESETS

VARIANTS = {
    "one-step": dict(n_step=1),              # the default before the ablation
    "default": {},
    "n-step 3": dict(n_step=3),
    "n-step 5": dict(n_step=5),
    "PER": dict(prioritized=True),
    "dueling": dict(dueling=True),
    "n-step 3 + PER": dict(n_step=3, prioritized=True),
    "n-step 3 + dueling": dict(n_step=3, dueling=True),
    "n-step 3 + PER + dueling": dict(n_step=3, prioritized=True, dueling=True),
    "MSE loss": dict(loss="mse"),
    "tanh-sgd": dict(NAMED_PRESETS["tanh-sgd"]),
    "tanh-sgd + n-step 3": dict(NAMED_PRESETS["tanh-sgd"], n_step=3),
    "tanh-sgd + n-step 5": dict(NAMED_PRESETS["tanh-sgd"], n_step=5),
}
"""Variant name -> config fields changed from the default."""


def row(name, rows, budget):
    """One table row: runs solved, median / IQR / worst steps (failures = the budget), median train time."""
    steps = np.array([r["steps"] if r["solved"] else budget for r in rows])
    q1, q3 = np.percentile(steps, [25, 75])
    worst = max(rows, key=lambda r: (not r["solved"], r["steps"]))
    return {"variant": name, "solved": f"{sum(r['solved'] for r in rows)}/{len(rows)}",
            "median_steps": float(np.median(steps)), "iqr": f"{q1:,.0f}-{q3:,.0f}",
            "worst": f"seed {worst['seed']}: {worst['steps']:,}" + ("" if worst["solved"] else " (unsolved)"),
            "median_train_s": statistics.median(r["train_wall_s"] for r in rows)}


def markdown(table, seeds, command):
    ctx = context()
    lines = [f"Seeds {seeds}; {ctx['machine']}, {ctx.get('simd', 'CPU')}; numpy {ctx['numpy']}; commit {ctx['commit']}.",
             f"Made by `{command}`.", "",
             "| variant | solved | median steps | IQR | worst seed | median training s |", "|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['variant']} | {r['solved']} | {r['median_steps']:,.0f} | {r['iqr']} | {r['worst']} | "
                     f"{r['median_train_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0-9")
    p.add_argument("--only", help="comma-separated variant names (default: all)")
    p.add_argument("--budget", type=int, default=100_000)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", help="append the Markdown table to this file")
    a = p.parse_args()
    names = a.only.split(",") if a.only else list(VARIANTS)
    table = []
    for name in names:
        rows, _ = run(parse_seeds(a.seeds), VARIANTS[name], a.budget, a.jobs)
        table.append(row(name, rows, a.budget))
        record([{**r, "bench": "ablation", "variant": name} for r in rows])
        print(f"{name}: {table[-1]}", flush=True)
    text = markdown(table, a.seeds, "python bench/" + " ".join(sys.argv))
    print(text)
    if a.out:
        with open(a.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
