"""The end-of-run summary: printed when training stops, and again by ``numpy-ddqn summary RUN_DIR``."""
from __future__ import annotations

from pathlib import Path

from .errors import NumpyDDQNError
from .runlog import CONFIG_NAME, LAST, LOG_NAME, read_run


def read_summary(run_dir):
    """``(summary_fields, env_id)`` of a finished run folder."""
    log, config = read_run(run_dir)
    rows = [r for r in log if r.get("kind") == "summary"]
    if not rows:
        raise NumpyDDQNError(f"{run_dir} has no summary yet: the run is still going or was killed "
                             f"(resume it with numpy-ddqn train --resume {Path(run_dir) / LAST})")
    return rows[-1], config.get("env_id")


def format_summary(s, env_id=None):
    """A few lines: how the run ended, steps, episodes, time, best evaluation, where the files are."""
    env = env_id or "the env"
    if s["reason"] == "solved" or s.get("solved"):
        head = (f"Solved {env} at step {s['solved_at']:,} "
                f"({s['solve_train_wall_s']:.1f} s of training, {s['solve_total_wall_s']:.1f} s with evaluation).")
    elif s["reason"] == "interrupted":
        head = f"Interrupted at step {s['steps']:,}; a checkpoint was saved."
    else:
        head = f"Budget spent: {s['steps']:,} steps without solving {env}."
    best = "-" if s.get("best_eval") is None else f"{s['best_eval']:.1f}"
    lines = [head,
             f"  steps {s['steps']:,} | episodes {s['episodes']:,} | training {s['train_wall_s']:.1f} s | "
             f"total {s['total_wall_s']:.1f} s | best evaluation {best}"]
    if s.get("out_dir"):
        lines.append(f"  run folder: {s['out_dir']} ({CONFIG_NAME}, {LOG_NAME})")
    if s.get("last_checkpoint"):
        lines.append(f"  model: {s['last_checkpoint']}" +
                     (f" (best: {s['best_checkpoint']})" if s.get("best_checkpoint") else ""))
        lines.append(f"  evaluate: numpy-ddqn evaluate {s['last_checkpoint']} --episodes 100")
        if s["reason"] != "solved":
            lines.append(f"  resume:   numpy-ddqn train --resume {s['last_checkpoint']}")
    return "\n".join(lines)
