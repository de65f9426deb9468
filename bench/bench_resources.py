"""Import time of numpy_ddqn and peak memory of a CartPole-v1 training run, each in a fresh process.

    python bench/bench_resources.py
import: median over 7 fresh interpreters of the time `import numpy_ddqn` takes (numpy included, as a
user pays for it); memory: peak RSS of `python -m numpy_ddqn train` on CartPole-v1, seed 0, to solved.
"""
from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile

from common import ROOT, print_table, record

IMPORT = "import time; t = time.perf_counter(); import numpy_ddqn; print(time.perf_counter() - t)"


def import_seconds(repeats=7):
    """Median seconds of `import numpy_ddqn` in a fresh interpreter."""
    times = [float(subprocess.run([sys.executable, "-c", IMPORT], capture_output=True, text=True, cwd=ROOT,
                                  check=True).stdout) for _ in range(repeats)]
    return statistics.median(times)


def training_peak_mb():
    """Peak resident memory (MB) of a default CartPole-v1 training run in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "numpy_ddqn", "train", "--out", f"{tmp}/run", "--seed", "0",
                        "--progress-interval", "0"], capture_output=True, cwd=ROOT, check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024   # Linux reports KiB


def run():
    return [{"bench": "import-time", "seconds": import_seconds()},
            {"bench": "train-peak-memory", "mb": training_peak_mb()}]


if __name__ == "__main__":
    rows = run()
    print_table(rows, ["bench", "seconds", "mb"])
    record(rows)
