"""TensorBoard scalars of a run, under Stable-Baselines3's tags (``--tensorboard DIR``).

Needs tensorboardX (the ``tensorboard`` extra; no torch, no TensorFlow), imported here only. The same
numbers as ``log.jsonl``, as they are written:

| log.jsonl | TensorBoard tags |
|---|---|
| ``episode`` | ``rollout/ep_rew_mean``, ``rollout/ep_len_mean`` (last 100 episodes), ``rollout/exploration_rate`` |
| ``eval`` | ``eval/mean_reward``, ``eval/std_reward`` |
| ``update`` | ``train/loss``, ``train/q_mean``, ``train/q_max``, ``train/td_abs_mean``, ``train/grad_norm``, ``train/learning_rate``, ``train/n_updates``, ``time/fps`` |
"""
from __future__ import annotations

from collections import deque

from ..errors import require

UPDATE_TAGS = {"loss": "train/loss", "q_mean": "train/q_mean", "q_max": "train/q_max",
               "td_abs_mean": "train/td_abs_mean", "grad_norm": "train/grad_norm", "lr": "train/learning_rate",
               "updates": "train/n_updates", "steps_per_s": "time/fps"}
"""``update`` row key -> TensorBoard tag."""


class TensorBoardSink:
    """Receives the run log's rows (``write(kind, fields)``) and writes them as scalars at their env step."""

    def __init__(self, logdir):
        tensorboardX = require("tensorboardX", "tensorboard")
        self.writer = tensorboardX.SummaryWriter(str(logdir))
        self.returns, self.lengths = deque(maxlen=100), deque(maxlen=100)   # SB3's window

    def write(self, kind, fields):
        """Write the scalars of one log row (rows of other kinds are ignored)."""
        step, add = fields.get("step"), self.writer.add_scalar
        if kind == "episode":
            self.returns.append(fields["ret"])
            self.lengths.append(fields["length"])
            add("rollout/ep_rew_mean", sum(self.returns) / len(self.returns), step)
            add("rollout/ep_len_mean", sum(self.lengths) / len(self.lengths), step)
            add("rollout/exploration_rate", fields["epsilon"], step)
        elif kind == "eval":
            add("eval/mean_reward", fields["mean"], step)
            add("eval/std_reward", fields["std"], step)
        elif kind == "update":
            for key, tag in UPDATE_TAGS.items():
                if fields.get(key) is not None:
                    add(tag, fields[key], step)

    def close(self):
        """Flush and close the event file."""
        self.writer.close()
