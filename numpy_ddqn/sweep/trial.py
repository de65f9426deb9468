"""One trial, as every backend runs it: a (configuration, seed) trained into its own run folder.

``run_trial(task)`` is a plain function of a JSON-friendly task, so a process pool and a Ray worker run
the very same code and get the very same row (wall times aside). Whatever the trial raises (a config
value the space drew that is invalid, divergence, an env error) becomes the row's one-line ``error``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

ROW_RESULTS = ("status", "solved", "solved_at", "steps_to_solve", "final_eval", "best_eval", "steps", "episodes")
"""Fields of a trial's row that depend only on its config and seed (on one machine): the backends must agree."""


def make_task(spec, config_id: str, label: str, overrides: dict, seed: int, folder: Path) -> dict:
    """The task of one trial: its id, configuration, seed, fields and run folder (absolute)."""
    return {"trial": f"{config_id}-seed{seed}", "config": config_id, "label": label, "seed": seed,
            "overrides": overrides, "env_id": spec.env_id, "fields": spec.fields(overrides, seed),
            "metric": spec.metric, "run_dir": str((Path(folder) / "runs" / config_id / f"seed{seed}").resolve())}


def one_line(error: BaseException) -> str:
    """An exception as one line: its type (unless ours) and the first line of its message."""
    from ..errors import NumpyDDQNError
    text = (str(error).strip().splitlines() or [""])[0]
    return text if isinstance(error, NumpyDDQNError) else f"{type(error).__name__}: {text}"


def run_trial(task: dict) -> dict:
    """Train one trial from scratch into ``task["run_dir"]`` (a partial run left there is removed first).

    Returns the trial's row: the task's ids, ``status`` ``"ok"``, ``"error"`` (with ``error``) or
    ``"interrupted"`` (a signal stopped it: not a result), the solve and evaluation figures, wall times.
    """
    from ..config import Config
    from ..run.loop import train
    row = {k: task[k] for k in ("trial", "config", "label", "seed", "overrides")}
    run_dir = Path(task["run_dir"])
    if run_dir.exists():                  # a trial killed mid-run: its row was never written, so start again
        shutil.rmtree(run_dir)
    try:
        config = Config.for_env(task["env_id"], **task["fields"])
        h = train(config, out_dir=run_dir)
    except Exception as e:
        return {**row, "status": "error", "error": one_line(e)}
    if h.reason == "interrupted":
        return {**row, "status": "interrupted"}
    final = h.evals[-1]["mean"] if h.evals else None
    return {**row, "status": "ok", "solved": h.solved, "solved_at": h.solved_at,
            "steps_to_solve": h.solved_at if h.solved else config.total_steps, "final_eval": final,
            "best_eval": h.best_eval, "steps": h.steps, "episodes": h.episodes,
            "train_wall_s": round(h.solve_train_wall_s if h.solved else h.train_wall_s, 3),
            "total_wall_s": round(h.total_wall_s, 3)}
