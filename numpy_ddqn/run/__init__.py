"""Running the agent on Gymnasium envs: the training loop and everything around it.

``loop`` (``train``, ``loop``, ``vector_loop``: the algorithm on one screen), ``runner`` (``Run``: set-up,
resume, env checks, evaluation, checkpoints, signals), ``envs`` (making and checking envs: the only module
that imports gymnasium), ``evaluate`` (greedy evaluation and the solve check), ``runlog`` (the run folder's
files), ``runlock`` (one run per folder), ``report`` (text for people), ``tensorboard`` (scalars).
"""
from .loop import RESUME_FIELDS, History, StepInfo, loop, train, vector_loop
from .runner import Run

__all__ = ["train", "loop", "vector_loop", "Run", "History", "StepInfo", "RESUME_FIELDS"]
