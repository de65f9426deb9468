"""Shared helpers for the bench/ scripts: timing by median of repeats, JSON-lines results, a table."""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:                     # run from a checkout without installing
    sys.path.insert(0, str(ROOT))
RESULTS = HERE / "results.jsonl"             # the project's recorded history (tracked)
LOCAL_RESULTS = HERE / "out" / "results.jsonl"  # where a run appends by default (untracked)


def median_us(fn, number=200, repeat=15, warmup=50, clock=time.perf_counter):
    """Median over ``repeat`` runs of the mean time of ``number`` calls of ``fn()``, in microseconds.

    ``clock=time.process_time``: this process's CPU time, steadier than wall time on a loaded machine."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = clock()
        for _ in range(number):
            fn()
        times.append((clock() - t0) / number * 1e6)
    return float(np.median(times))


def _commit():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=5)
        # the results file itself is appended to by every run: it does not make the code dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)bench/results.jsonl"], cwd=ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def context():
    """Commit, date and versions stamped on every result row."""
    ctx = {"impl": "numpy_ddqn", "commit": _commit(),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "python": platform.python_version(), "numpy": np.__version__,
           "machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        import gymnasium
        ctx["gymnasium"] = gymnasium.__version__
    except ImportError:
        pass
    try:                                          # the SIMD targets NumPy dispatches to on this CPU
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
        ctx["simd"] = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)] or ["baseline"]
    except ImportError:
        pass
    try:                                          # which BLAS, which kernels, how many threads
        from threadpoolctl import threadpool_info
        ctx["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                       for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        pass
    return ctx


def results_path():
    """Where results go: ``$NUMPY_DDQN_RESULTS`` if set (``bench/results.jsonl`` adds to the project's
    tracked history), else ``bench/out/results.jsonl``, which git ignores: running a benchmark changes no
    tracked file."""
    return Path(os.environ.get("NUMPY_DDQN_RESULTS") or LOCAL_RESULTS)


def record(rows, path=None):
    """Append result rows (dicts), stamped with ``context()``, to ``results_path()`` (or ``path``)."""
    ctx = context()
    path = Path(path or results_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for row in rows:
            f.write(json.dumps({**ctx, **row}) + "\n")


def print_table(rows, columns):
    """Print rows (dicts) as an aligned text table with the given columns."""
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.0f}"
    return str(v)
