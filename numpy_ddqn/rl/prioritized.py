"""Prioritized experience replay, proportional variant (Schaul et al. 2016).

Transition i is drawn with probability ``P(i) = p_i / sum_k p_k``, its priority ``p_i = (|td_i| + eps)^alpha``
set from its latest TD error (a new transition gets the largest priority so far, so it is replayed at
least once). The bias this brings is corrected by importance weights ``w_i = (N * P(i))^-beta``, scaled by
``1 / max_j w_j`` over the batch (as Dopamine does) so that they only ever shrink a step; ``beta`` is
annealed to 1 over training. Sampling is stratified: one uniform draw in each of B equal segments of
the total priority, all found in the ``SumTree`` in one vectorized descent.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing

from .replay import Batch, ReplayBuffer
from .sumtree import SumTree

if TYPE_CHECKING:
    from ..config import Config


class PrioritizedReplayBuffer(ReplayBuffer):
    """A ``ReplayBuffer`` that samples by priority.

    Args: as ``ReplayBuffer``, and ``alpha`` (how much priorities count: 0 = uniform), ``eps`` (keeps a
    zero TD error drawable), ``fanout`` (of the sum tree).
    """

    def __init__(self, capacity: int, obs_dim: int | tuple[int, ...], dtype: np.typing.DTypeLike = np.float32,
                 store_discount: bool = False, alpha: float = 0.6, eps: float = 1e-6, fanout: int = 32,
                 obs_dtype: str | None = None) -> None:
        super().__init__(capacity, obs_dim, dtype, store_discount, obs_dtype)
        if not alpha >= 0 or not eps > 0:
            raise ValueError(f"alpha must be >= 0 and eps > 0, got {alpha} and {eps}")
        self.alpha, self.eps = float(alpha), float(eps)
        self.tree = SumTree(self.capacity, fanout)
        self.max_priority = 1.0                    # a new transition's priority: the largest so far
        self._segment_starts = np.zeros(0)

    @classmethod
    def from_config(cls, config: Config, obs_dim: int | tuple[int, ...], obs_dtype: str | None = None
                    ) -> PrioritizedReplayBuffer:
        """The buffer a ``Config`` asks for, with its ``per_alpha`` and ``per_eps``."""
        return cls(config.buffer_size, obs_dim, config.dtype, config.n_step > 1, config.per_alpha, config.per_eps,
                   obs_dtype=obs_dtype)

    @staticmethod
    def extra_bytes(capacity: int) -> int:
        """The sum tree: float64 nodes on every level."""
        return 8 * sum(SumTree.level_sizes(capacity))

    def add(self, obs: np.typing.ArrayLike, action: int, reward: float, next_obs: np.typing.ArrayLike,
            terminated: bool, discount: float | None = None, mask: np.ndarray | None = None,
            next_mask: np.ndarray | None = None) -> None:
        """Store a transition with the largest priority so far (then ``ReplayBuffer.add``)."""
        self.tree.set(self.next, self.max_priority)
        super().add(obs, action, reward, next_obs, terminated, discount, mask, next_mask)

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float | None = None) -> Batch:
        """B transitions drawn with P(i) = p_i / sum p (stratified), with their rows (``indices``) and their
        importance weights ``(N P(i))^-beta / max w`` (``weights``, (B,) in the buffer's dtype; ``beta=None``: 1)."""
        beta = 1.0 if beta is None else beta
        if self.size < batch_size:
            raise ValueError(f"cannot sample {batch_size} transitions: only {self.size} stored")
        u = rng.random(batch_size)
        u += self._segments(batch_size)                                               # one draw per segment
        u *= self.tree.total / batch_size
        idx = self.tree.find(u)                                                       # (B,)
        # w_i / max_j w_j = (N P(i))^-beta / (N min_j P(j))^-beta = (p_i / min_j p_j)^-beta: N and sum p cancel
        p = self.tree.leaves.take(idx)
        weights = np.power(p / p.min(), -beta, dtype=self.dtype)
        return self.gather(idx, weights, idx)

    def _segments(self, batch_size):                   # (B,) 0, 1, ..., B-1 as floats, made once per size
        if self._segment_starts.shape[0] != batch_size:
            self._segment_starts = np.arange(batch_size, dtype=np.float64)
        return self._segment_starts

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:   # (B,), (B,)
        """p_i = (|td_i| + eps)^alpha for the transitions just learned from."""
        priorities = np.abs(td_errors, dtype=np.float64)
        priorities += self.eps
        priorities **= self.alpha
        self.tree.update(indices, priorities)
        self.max_priority = max(self.max_priority, float(priorities.max()))

    def state_dict(self) -> dict:
        """``ReplayBuffer.state_dict`` with the priorities and the largest priority."""
        return {**super().state_dict(), "tree": self.tree.state_dict(), "max_priority": self.max_priority}

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()`` (bit-exact: the tree is rebuilt from the same leaves)."""
        super().load_state_dict(state)
        if "tree" not in state:
            raise ValueError("replay state has no priorities: it was saved without prioritized replay")
        self.tree.load_state_dict(state["tree"])
        self.max_priority = float(state["max_priority"])
