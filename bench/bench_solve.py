"""cartpole-solve of bench/BENCHMARK.md: train until solved (or 100k steps) over seeds 0..9.

    python bench/bench_solve.py                      # default config, seeds 0..9
    python bench/bench_solve.py --seeds 0-4 --set learning_rate=2e-3 --set optimizer=sgd
    python bench/bench_solve.py --preset tanh-sgd    # the tanh + plain SGD configuration
Runs are spread over --jobs processes (default 2, one BLAS thread each); for wall times quoted
anywhere, use --jobs 1 on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics

from common import print_table, record

from numpy_ddqn.config import Config, coerce_fields
from numpy_ddqn.presets import NAMED_PRESETS


def parse_seeds(text):
    """'0-9' or '0,3,5' -> list of ints."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def parse_set(items):
    """['learning_rate=2e-3', 'hidden_sizes=[64,64]'] -> dict (values parsed as JSON when possible)."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return coerce_fields(out)


def one_run(args):
    seed, overrides, budget = args
    from numpy_ddqn.run.loop import train
    env_id = overrides.get("env_id", "CartPole-v1")      # its preset first, as the CLI does
    fields = {k: v for k, v in overrides.items() if k != "env_id"}
    config = Config.for_env(env_id, **{**fields, "seed": seed, "total_steps": budget, "progress_interval": 0.0,
                                       "stop_when_solved": True})
    h = train(config)
    name = "cartpole-solve" if env_id == "CartPole-v1" else f"solve-{env_id}"
    return {"bench": name, "seed": seed, "solved": h.solved,
            "steps": h.solved_at if h.solved else budget,
            "train_wall_s": h.solve_train_wall_s if h.solved else h.train_wall_s,
            "total_wall_s": h.solve_total_wall_s if h.solved else h.total_wall_s,
            "best_eval": h.best_eval}


def summarize(rows, budget):
    """Solved count, median steps and training time (failures count as the budget), worst seed."""
    worst = max(rows, key=lambda r: (not r["solved"], r["steps"]))
    return {"bench": "cartpole-solve-summary", "runs": len(rows), "solved": sum(r["solved"] for r in rows),
            "median_steps": statistics.median(r["steps"] for r in rows),
            "median_train_wall_s": statistics.median(r["train_wall_s"] for r in rows),
            "worst_seed": worst["seed"], "worst_steps": worst["steps"] if worst["solved"] else f">{budget}"}


def run(seeds=range(10), overrides=None, budget=100_000, jobs=2):
    overrides = overrides or {}
    tasks = [(s, overrides, budget) for s in seeds]
    if jobs == 1:
        rows = [one_run(t) for t in tasks]
    else:
        # Parallel runs each get one BLAS thread: two processes with two OpenBLAS threads each
        # oversubscribe two cores (a 256-row matmul then takes ~6x longer). The variables must be
        # set before the workers import numpy, hence "spawn" rather than "fork".
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"
        with mp.get_context("spawn").Pool(jobs) as pool:
            rows = pool.map(one_run, tasks, chunksize=1)
    for r in rows:
        r["config"] = overrides
    return rows, summarize(rows, budget) | {"config": overrides}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0-9", help="seeds, '0-9' or '0,2,5' (default 0-9)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="config override")
    p.add_argument("--preset", choices=sorted(NAMED_PRESETS), help="a named configuration")
    p.add_argument("--budget", type=int, default=100_000, help="training env steps per run")
    p.add_argument("--env", default="CartPole-v1", help="env id; its preset applies first (default CartPole-v1)")
    p.add_argument("--jobs", type=int, default=2, help="parallel processes")
    p.add_argument("--no-record", action="store_true", help="do not append the rows to the results file (see common.results_path)")
    a = p.parse_args()
    overrides = {**(NAMED_PRESETS[a.preset] if a.preset else {}), **parse_set(a.set), "env_id": a.env}
    rows, summary = run(parse_seeds(a.seeds), overrides, a.budget, a.jobs)
    print_table(rows, ["seed", "solved", "steps", "train_wall_s", "total_wall_s", "best_eval"])
    print_table([summary], ["runs", "solved", "median_steps", "median_train_wall_s", "worst_seed", "worst_steps"])
    if not a.no_record:
        record(rows + [summary])


if __name__ == "__main__":
    main()
