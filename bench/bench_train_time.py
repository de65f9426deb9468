"""train-time: the training CPU time two configurations need to solve, seed by seed, interleaved in one process.

    python bench/bench_train_time.py --sweep A_FOLDER --config c00 --against B_FOLDER --config-b c00

A sweep's ``trials.jsonl`` gives each seed's steps to solve. This script trains each configuration of each seed
again for exactly those steps with evaluation off (``eval_interval=0``: what is timed is the training loop alone,
acting, storing and learning), alternating A and B seed by seed in one process, and times this process's CPU time
(``time.process_time``), which another job on the machine changes far less than wall time. It prints the median
CPU seconds of each and the median of the per-seed ratios B / A. Issue 28's "median training time" figure.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from common import print_table

from numpy_ddqn import Config, train


def solved_runs(folder, config_id):
    """``{seed: (steps_to_solve, fields)}`` of one configuration of a finished sweep."""
    runs = {}
    for line in (Path(folder) / "trials.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("config") == config_id and row.get("status") == "ok":
            fields = json.loads((Path(folder) / "runs" / config_id / f"seed{row['seed']}" / "config.json").read_text())
            runs[row["seed"]] = (row["steps_to_solve"], fields)
    if not runs:
        raise SystemExit(f"{folder} has no finished trial of configuration {config_id!r}")
    return runs


def cpu_seconds(fields, steps):
    """CPU time of ``steps`` training steps of the run ``fields`` describes, evaluation off."""
    config = Config.from_dict({**fields, "total_steps": steps, "eval_interval": 0, "stop_when_solved": False,
                               "progress_interval": 0.0})
    start = time.process_time()
    train(config)                                        # no run folder: nothing written
    return time.process_time() - start


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweep", required=True, help="sweep folder of configuration A")
    p.add_argument("--config", default="c00", help="configuration id of A in its sweep (default c00)")
    p.add_argument("--against", required=True, help="sweep folder of configuration B (the same seeds)")
    p.add_argument("--config-b", default="c00", help="configuration id of B (default c00)")
    a = p.parse_args()
    runs_a, runs_b = solved_runs(a.sweep, a.config), solved_runs(a.against, a.config_b)
    seeds = sorted(set(runs_a) & set(runs_b))
    times_a, times_b = [], []
    for seed in seeds:                                   # interleaved: A then B on every seed
        for runs, times in ((runs_a, times_a), (runs_b, times_b)):
            steps, fields = runs[seed]
            times.append(cpu_seconds(fields, steps))
        print(f"seed {seed}: A {runs_a[seed][0]:,} steps {times_a[-1]:.2f} s, B {runs_b[seed][0]:,} steps "
              f"{times_b[-1]:.2f} s", flush=True)
    ratios = [b / x for x, b in zip(times_a, times_b)]
    print_table([{"bench": "train-time", "config": "A", "seeds": len(seeds), "median_cpu_s": round(statistics.median(times_a), 2)},
                 {"bench": "train-time", "config": "B", "seeds": len(seeds), "median_cpu_s": round(statistics.median(times_b), 2),
                  "median_ratio_b_over_a": round(statistics.median(ratios), 2),
                  "ratio_of_medians": round(statistics.median(times_b) / statistics.median(times_a), 2)}],
                ["bench", "config", "seeds", "median_cpu_s", "median_ratio_b_over_a", "ratio_of_medians"])
