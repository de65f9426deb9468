"""The run folder's plain files: the config, the JSON-lines log, and their readers.

``<run>/config.json``: the resolved config. ``<run>/log.jsonl``: one JSON object per line, with
``"kind"`` one of ``episode``, ``eval``, ``update`` (sparse diagnostics), ``event`` (start, resume,
stop) and ``summary``. Any program that reads JSON lines can read a run.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

LOG_NAME, CONFIG_NAME = "log.jsonl", "config.json"
LAST, BEST = "last.npz", "best.npz"             # the latest and the best-evaluated checkpoint


class RunLog:
    """Appends JSON lines to ``<out_dir>/log.jsonl`` (nothing when ``out_dir`` is None), and hands every
    row to the ``sinks`` too (objects with ``write(kind, fields)`` and ``close()``, e.g. TensorBoard)."""

    def __init__(self, out_dir, config=None, sinks=()):
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.sinks = list(sinks)
        self._file = None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if config is not None:
                (self.out_dir / CONFIG_NAME).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
            self._file = open(self.out_dir / LOG_NAME, "a", buffering=1)     # line-buffered

    def write(self, kind, **fields):
        """One JSON line ``{"kind": kind, **fields}`` (non-finite floats written as null)."""
        if self._file is not None:
            row = {"kind": kind, **{k: _finite(v) for k, v in fields.items()}}
            self._file.write(json.dumps(row) + "\n")
        for sink in self.sinks:
            sink.write(kind, fields)

    def close(self):
        """Flush and close the log file and the sinks."""
        if self._file is not None:
            self._file.close()
            self._file = None
        for sink in self.sinks:
            sink.close()
        self.sinks = []


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def cut_log(run_dir, step):
    """Cut ``<run_dir>/log.jsonl`` back to env step ``step`` (a checkpoint's, on resume); the rows dropped.

    Every row from the first one logged past ``step`` on is dropped (a killed run's episodes after its last
    checkpoint, which the resumed run plays again), and a torn last line, so the log tells one history.
    """
    path = Path(run_dir) / LOG_NAME
    if not path.is_file():
        return 0
    offset, cut_at, dropped = 0, None, 0
    with open(path, "rb") as f:
        for line in f:
            if cut_at is None:
                try:
                    row = json.loads(line)
                except ValueError:
                    row = None
                at = row.get("step") if isinstance(row, dict) else None
                if (row is None and not line.endswith(b"\n")) or (isinstance(at, (int, float)) and at > step):
                    cut_at = offset
            dropped += cut_at is not None
            offset += len(line)
    if cut_at is not None:
        os.truncate(path, cut_at)
    return dropped


def read_log(run_dir):
    """All rows of ``<run_dir>/log.jsonl`` as dicts (a truncated last line is skipped)."""
    rows = []
    with open(Path(run_dir) / LOG_NAME) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return rows


class Diagnostics:
    """Means of the update metrics over a logging interval, written as one ``update`` line."""

    def __init__(self, steps=0, eval_time=0.0):
        self.sums, self.count, self.steps, self.time, self.eval_time = {}, 0, steps, time.perf_counter(), eval_time
        self.last_loss, self.last_metrics = None, None

    def add(self, metrics):
        """Accumulate one update's metrics dict (``None`` when no update happened)."""
        if metrics is not None:
            self.last_loss, self.last_metrics = metrics["loss"], metrics
            for key, value in metrics.items():
                self.sums[key] = self.sums.get(key, 0.0) + value
            self.count += 1

    def write(self, log, step, updates, epsilon, lr, weight_norms, eval_time):
        """Log the interval's means, weight norms and training steps/s (evaluation time excluded).

        ``eval_time`` is the run's total evaluation time so far (seconds); the interval's part is
        taken out of the rate.
        """
        if not self.count:
            return
        now = time.perf_counter()
        train_time = now - self.time - (eval_time - self.eval_time)
        log.write("update", step=step, updates=updates, epsilon=epsilon, lr=lr,
                  **{k: v / self.count for k, v in self.sums.items()}, weight_norms=weight_norms,
                  steps_per_s=(step - self.steps) / max(train_time, 1e-9))
        self.sums, self.count, self.steps, self.time, self.eval_time = {}, 0, step, now, eval_time


def read_run(run_dir):
    """``(log rows, config dict)`` of a run folder; ``NumpyDDQNError`` if it is not one."""
    from ..errors import NumpyDDQNError
    run_dir = Path(run_dir)
    if not (run_dir / LOG_NAME).is_file():
        raise NumpyDDQNError(f"{run_dir} is not a run folder (no {LOG_NAME})")
    config_path = run_dir / CONFIG_NAME
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return read_log(run_dir), config
