"""Vector envs: env steps per second of the training loop with 1, 4 and 8 CartPole-v1 envs.

The fixed work of bench/BENCHMARK.md (4-64-64-2 tanh, batch 64, plain SGD, one update per env step
after 1,000 steps), 20,000 env steps (transitions, summed over the envs), sync and async vector envs,
interleaved over --repeats rounds; medians, and each as a ratio to one plain env.
    python bench/bench_vector.py [--repeats 3] [--envs 1,4,8]
To solve with 4 envs under the solve protocol: python bench/bench_solve.py --set num_envs=4
"""
from __future__ import annotations

import argparse
import statistics

from bench_throughput import FIXED_WORK
from common import print_table, record

from numpy_ddqn.run.loop import train


def steps_per_s(num_envs, vector, seed):
    """Env steps per second of the whole training loop (evaluation off)."""
    h = train(FIXED_WORK.replace(num_envs=num_envs, vector=vector, seed=seed))
    return h.steps / h.train_wall_s


def run(repeats=3, envs=(1, 4, 8)):
    cases = [(1, "sync")] + [(n, mode) for n in envs if n > 1 for mode in ("sync", "async")]
    times = {case: [] for case in cases}
    for r in range(repeats):                       # interleaved, so drift hits every case alike
        for case in cases:
            times[case].append(steps_per_s(*case, seed=r))
    base = statistics.median(times[(1, "sync")])
    return [{"bench": "vector-throughput", "num_envs": n, "vector": mode if n > 1 else "none",
             "steps_per_s": statistics.median(times[(n, mode)]),
             "x_one_env": statistics.median(times[(n, mode)]) / base, "repeats": repeats} for n, mode in cases]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--envs", default="1,4,8", help="comma-separated env counts")
    a = p.parse_args()
    rows = run(a.repeats, tuple(int(n) for n in a.envs.split(",")))
    print_table(rows, ["bench", "num_envs", "vector", "steps_per_s", "x_one_env"])
    record(rows)
