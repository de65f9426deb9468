"""Run the benchmark set and print a summary table; every row is appended to bench/out/results.jsonl
(untracked; NUMPY_DDQN_RESULTS=bench/results.jsonl adds them to the project's tracked history instead).

    python bench/run.py                          # everything (the solve benchmark takes minutes)
    python bench/run.py --only mlp,agent,throughput
    python bench/run.py --only solve --seeds 0-4
Names: mlp, agent (micro-benchmarks), kernel (one update against its kernel floor), throughput
(cartpole-throughput + floor), resources (import time, peak memory of a training run), solve
(cartpole-solve). Stable-Baselines3 side by side: bench_sb3.py (needs the [compare] extra).
"""
from __future__ import annotations

import argparse
import time

import bench_agent
import bench_kernel_floor
import bench_mlp
import bench_resources
import bench_solve
import bench_throughput
from common import print_table, record

NAMES = ("mlp", "agent", "kernel", "throughput", "resources", "solve")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(NAMES), help=f"comma-separated subset of {', '.join(NAMES)}")
    p.add_argument("--seeds", default="0-9", help="solve seeds, '0-9' or '0,2,5'")
    p.add_argument("--jobs", type=int, default=1,
                   help="parallel solve runs (default 1: wall times measured on a quiet core)")
    p.add_argument("--repeats", type=int, default=3, help="throughput/floor repetitions")
    a = p.parse_args()
    only = [n.strip() for n in a.only.split(",") if n.strip()]
    unknown = set(only) - set(NAMES)
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}")
    summary = []
    for name in only:
        t0 = time.perf_counter()
        if name == "mlp":
            rows = bench_mlp.run()
            summary += [{"bench": f"{r['bench']} ({r['dtype']})", "value": r["us"], "unit": "us"} for r in rows]
        elif name == "agent":
            rows = bench_agent.run()
            summary += [{"bench": f"{r['bench']} {r['variant']}".strip(), "value": r["us"], "unit": "us"} for r in rows]
        elif name == "kernel":
            rows = bench_kernel_floor.run()
            summary += [{"bench": "kernel floor of one update", "value": rows[0]["us"], "unit": "us"},
                        {"bench": "update / kernel floor", "value": rows[1]["x_floor"], "unit": "x"}]
        elif name == "throughput":
            rows = bench_throughput.run(a.repeats)
            floor, loop = rows
            summary += [{"bench": "floor", "value": floor["steps_per_s"], "unit": "steps/s"},
                        {"bench": "cartpole-throughput", "value": loop["steps_per_s"], "unit": "steps/s"},
                        {"bench": "cartpole-throughput update", "value": loop["us_per_update"], "unit": "us"},
                        {"bench": "loop cost / floor", "value": loop["loop_cost_x_floor"], "unit": "x"}]
        elif name == "resources":
            rows = bench_resources.run()
            summary += [{"bench": "import numpy_ddqn", "value": rows[0]["seconds"], "unit": "s"},
                        {"bench": "training run peak memory", "value": rows[1]["mb"], "unit": "MB"}]
        else:
            runs, s = bench_solve.run(bench_solve.parse_seeds(a.seeds), {}, 100_000, a.jobs)
            print_table(runs, ["seed", "solved", "steps", "train_wall_s", "total_wall_s"])
            rows = runs + [s]
            summary += [{"bench": "cartpole-solve solved", "value": f"{s['solved']}/{s['runs']}", "unit": "runs"},
                        {"bench": "cartpole-solve median steps", "value": s["median_steps"], "unit": "steps"},
                        {"bench": "cartpole-solve median train time", "value": s["median_train_wall_s"], "unit": "s"},
                        {"bench": "cartpole-solve worst seed", "value": f"{s['worst_seed']} ({s['worst_steps']})",
                         "unit": "steps"}]
        record(rows)
        print(f"[{name}: {time.perf_counter() - t0:.1f} s]")
    print()
    print_table(summary, ["bench", "value", "unit"])


if __name__ == "__main__":
    main()
