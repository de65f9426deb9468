"""Text for people: the start line, the progress line, and the end-of-run summary.

The summary is printed when training stops and again by ``numpy-ddqn summary RUN_DIR`` (read back
from the run's ``log.jsonl``). Everything here takes plain numbers and strings.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import NumpyDDQNError
from .runlog import CONFIG_NAME, LAST, LOG_NAME, read_run


def start_line(config, out_dir, preset, resumed_at=None, memory=None):
    """A few short lines: ``numpy-ddqn: training on ENV -> RUN_DIR``, then the seed and budget, the preset
    and threads, and the planned memory."""
    threads = "NumPy's default BLAS threads" if config.threads == 0 else (
        f"{config.threads} BLAS thread{'s' if config.threads > 1 else ''}")
    verb = f"resuming at step {resumed_at:,} on" if resumed_at is not None else "training on"
    where = f" -> {out_dir}" if out_dir is not None else ""
    lines = [f"numpy-ddqn: {verb} {config.env_id}{where}",
             f"  seed {config.seed} | budget {config.total_steps:,} steps | "
             + (f"preset {preset}" if preset else f"no preset for {config.env_id}: the defaults") + f" | {threads}"]
    if memory:
        lines.append(f"  memory {memory}")
    if config.noisy:
        lines.append("  noisy layers explore: " + ("epsilon-greedy stays on too (noisy_epsilon)" if config.noisy_epsilon
                                                   else "epsilon-greedy is off (epsilon = 0; noisy_epsilon keeps it)"))
    return "\n".join(lines)


def clock(seconds):
    """``m:ss`` (``h:mm:ss`` past an hour) of a number of seconds."""
    s = int(round(max(seconds, 0.0)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """Prints one progress line every ``interval`` seconds (to stderr); silent if interval is 0.

    The line: elapsed wall time (evaluation's share apart), percentage of the budget, steps, episodes,
    recent return, epsilon, loss, training steps/s (evaluation time excluded), the time left at the
    run's pace if it spends its budget, and an evaluation's result only in the first line after it.
    ``elapsed`` and ``eval_time`` carry a resumed run's clock on.
    """

    def __init__(self, total_steps, interval, stream=None, start_steps=0, elapsed=0.0, eval_time=0.0):
        self.total_steps, self.interval = total_steps, interval
        self.stream = stream or sys.stderr
        self._start_time = time.perf_counter() - elapsed
        self._start_steps, self._start_eval = start_steps, eval_time
        self._last_time = self._call_start = time.perf_counter()
        self._last_steps = start_steps               # a resumed run's rate counts from where it resumed
        self._last_eval_time = eval_time
        self._new_eval = None                        # an evaluation not shown yet

    def due(self):
        """True when the next line should be printed."""
        return self.interval > 0 and time.perf_counter() - self._last_time >= self.interval

    def print(self, line):
        """Print one line of text (a start line, a warning) unless progress is silent."""
        if self.interval > 0:
            print(line, file=self.stream, flush=True)

    def warn(self, line):
        """Print a warning line, even when progress is silent."""
        print(line, file=self.stream, flush=True)

    def evaluated(self, mean, confirm_mean=None):
        """An evaluation's result, for the next line (shown once)."""
        self._new_eval = (mean, confirm_mean)

    def show(self, steps, episodes, recent_return, epsilon, loss, last_eval=None, eval_time=0.0):
        """Print the line; ``eval_time``: seconds spent evaluating so far (not counted in the steps/s)."""
        now = time.perf_counter()
        train_dt = (now - self._last_time) - (eval_time - self._last_eval_time)
        rate = (steps - self._last_steps) / max(train_dt, 1e-9)
        self._last_time, self._last_steps, self._last_eval_time = now, steps, eval_time
        elapsed = now - self._start_time
        done = steps - self._start_steps
        pace = (now - self._call_start) / done if done > 0 else None     # seconds per step, evaluation included
        eta = "ETA  -  " if pace is None else f"ETA {clock(pace * (self.total_steps - steps))}"
        parts = [f"{clock(elapsed)} (eval {clock(eval_time)})", f"{100 * steps / self.total_steps:3.0f}%",
                 f"step {steps:>7,}/{self.total_steps:,}", f"ep {episodes:>5}",
                 "return(20) " + ("   -  " if recent_return is None else f"{recent_return:6.1f}"),
                 f"eps {epsilon:.3f}", "loss " + ("  -   " if loss is None else f"{loss:.4f}"),
                 f"{rate:6,.0f} steps/s", eta]
        if self._new_eval is not None:
            mean, confirm = self._new_eval
            parts.append(f"eval {mean:.1f}" + ("" if confirm is None else f" (confirmation {confirm:.1f})"))
            self._new_eval = None
        print(" | ".join(parts), file=self.stream, flush=True)


def summary_fields(history):
    """The end-of-run summary of a ``History`` as a JSON-friendly dict."""
    path = lambda p: None if p is None else str(p)
    return {"reason": history.reason, "steps": history.steps, "total_steps": history.total_steps,
            "episodes": history.episodes, "solved": history.solved, "solved_at": history.solved_at,
            "best_eval": history.best_eval, "train_wall_s": round(history.train_wall_s, 3),
            "total_wall_s": round(history.total_wall_s, 3), "solve_train_wall_s": history.solve_train_wall_s,
            "solve_total_wall_s": history.solve_total_wall_s, "out_dir": path(history.out_dir),
            "last_checkpoint": path(history.last_checkpoint), "best_checkpoint": path(history.best_checkpoint)}


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
    solved = (f"solved {env} at step {s['solved_at']:,} ({s['solve_train_wall_s']:.1f} s of training, "
              f"{s['solve_total_wall_s']:.1f} s with evaluation)") if s.get("solved") else None
    if s["reason"] == "interrupted":
        head = f"Interrupted at step {s['steps']:,}" + (f", after it had {solved}" if solved else "") + \
               "; a checkpoint was saved."
    elif s["reason"] == "callback":
        head = f"Stopped by the callback at step {s['steps']:,}" + (f", after it had {solved}" if solved else "") + "."
    elif s["reason"] == "error":
        head = f"Stopped by an error at step {s['steps']:,}" + (f", after it had {solved}" if solved else "") + "."
    elif solved and s["reason"] == "solved":      # stopped at the solving check: the times are the line below
        head = f"Solved {env} at step {s['solved_at']:,}."
    elif solved:
        head = solved[0].upper() + solved[1:] + "."
    else:
        head = f"Budget spent: {s['steps']:,} steps without solving {env}."
    best = "-" if s.get("best_eval") is None else f"{s['best_eval']:.1f}"
    lines = [head,
             f"  steps {s['steps']:,} | episodes {s['episodes']:,} | training {s['train_wall_s']:.1f} s | "
             f"evaluation {s['total_wall_s'] - s['train_wall_s']:.1f} s | total {s['total_wall_s']:.1f} s | "
             f"best evaluation {best}"]
    if s.get("out_dir"):
        lines.append(f"  run folder: {s['out_dir']} ({CONFIG_NAME}, {LOG_NAME})")
    if s.get("last_checkpoint"):
        lines.append(f"  model: {s['last_checkpoint']}" +
                     (f" (best: {s['best_checkpoint']})" if s.get("best_checkpoint") else ""))
        lines.append(f"  evaluate: numpy-ddqn evaluate {s['last_checkpoint']} --episodes 100")
        if s["reason"] != "solved":
            budget = s.get("total_steps") or s["steps"]
            more = budget if s["steps"] < budget else 2 * s["steps"]    # spent: suggest twice as many
            lines.append(f"  resume:   numpy-ddqn train --resume {s['last_checkpoint']} --steps {more}")
    return "\n".join(lines)
