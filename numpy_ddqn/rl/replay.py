"""Experience replay: a ring buffer over arrays preallocated at construction."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing


class Batch(NamedTuple):
    """A sample of transitions, each field's first axis the batch: (s, a, r, s', terminated[, discount])."""
    obs: np.ndarray          # (B, obs_dim)
    action: np.ndarray       # (B,) int64
    reward: np.ndarray       # (B,) r, or the n-step return R
    next_obs: np.ndarray     # (B, obs_dim)
    terminated: np.ndarray   # (B,) 1.0 where s' is terminal, else 0.0
    discount: np.ndarray | None = None   # (B,) gamma^m of n-step transitions; None: gamma for all


class ReplayBuffer:
    """Fixed-capacity memory of transitions; when full, a new one overwrites the oldest.

    Storage is allocated once: ``obs`` and ``next_obs`` ``(capacity, obs_dim)`` in ``dtype``,
    ``action`` int64, ``reward`` and ``terminated`` in ``dtype`` (``terminated`` as 0.0/1.0 so the
    target's ``1 - terminated`` needs no cast), and with ``store_discount`` a per-transition
    ``discount`` (n-step returns). ``add`` is O(1) and allocates nothing.
    """

    _NAMES = ("obs", "action", "reward", "next_obs", "terminated", "discount")   # as _arrays() orders them

    def __init__(self, capacity: int, obs_dim: int, dtype: np.typing.DTypeLike = np.float32,
                 store_discount: bool = False) -> None:
        if int(capacity) < 1 or int(obs_dim) < 1:
            raise ValueError(f"capacity and obs_dim must be >= 1, got {capacity} and {obs_dim}")
        self.capacity, self.obs_dim, self.dtype = int(capacity), int(obs_dim), np.dtype(dtype)
        self.obs = np.zeros((self.capacity, self.obs_dim), self.dtype)
        self.next_obs = np.zeros((self.capacity, self.obs_dim), self.dtype)
        self.action = np.zeros(self.capacity, np.int64)
        self.reward = np.zeros(self.capacity, self.dtype)
        self.terminated = np.zeros(self.capacity, self.dtype)
        self.discount = np.zeros(self.capacity, self.dtype) if store_discount else None
        self.next = 0            # row the next transition is written to
        self.size = 0            # rows holding a transition

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays (allocated up front)."""
        return sum(a.nbytes for a in self._arrays())

    @property
    def bytes_per_transition(self) -> int:
        """Storage bytes per stored transition: 2 * obs_dim * itemsize + 8 + 2 * itemsize."""
        return self.nbytes // self.capacity

    def __len__(self):
        return self.size

    def add(self, obs: np.typing.ArrayLike, action: int, reward: float, next_obs: np.typing.ArrayLike,
            terminated: bool, discount: float | None = None) -> None:
        """Store one transition (s, a, r, s', terminated[, discount]), overwriting the oldest when full."""
        i = self.next
        if self.discount is not None:
            self.discount[i] = discount
        self.obs[i] = obs
        self.action[i] = action
        self.reward[i] = reward
        self.next_obs[i] = next_obs
        self.terminated[i] = terminated
        self.next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """``batch_size`` transitions drawn uniformly, with replacement, from the stored ones.

        Raises ``ValueError`` if fewer than ``batch_size`` transitions are stored: a batch larger than
        the memory would mostly repeat the same few transitions (set ``learning_starts >= batch_size``).
        """
        if self.size < batch_size:
            raise ValueError(f"cannot sample {batch_size} transitions: only {self.size} stored")
        # floor(U * size) with U ~ Uniform[0, 1): uniform indices, ~2x cheaper than rng.integers
        idx = (rng.random(batch_size) * self.size).astype(np.int64)   # (B,)
        return self.gather(idx)

    def gather(self, idx: np.ndarray) -> Batch:     # idx: (B,) rows -> Batch
        """The transitions at rows ``idx``."""
        # take(idx, axis=0) gathers the same rows as obs[idx], ~10x faster for 2-D arrays
        return Batch(self.obs.take(idx, axis=0), self.action.take(idx), self.reward.take(idx),
                     self.next_obs.take(idx, axis=0), self.terminated.take(idx),
                     None if self.discount is None else self.discount.take(idx))

    def _arrays(self):
        return (self.obs, self.action, self.reward, self.next_obs, self.terminated) + (
            () if self.discount is None else (self.discount,))

    def state_dict(self) -> dict:
        """Stored rows and write position as plain arrays (copies), for checkpoints."""
        n = self.size
        return {"capacity": self.capacity, "obs_dim": self.obs_dim, "next": self.next, "size": n,
                **{name: arr[:n].copy() for name, arr in zip(self._NAMES, self._arrays())}}

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()``; the buffer must have the same capacity and obs_dim."""
        if int(state["capacity"]) != self.capacity or int(state["obs_dim"]) != self.obs_dim:
            raise ValueError(f"replay state is for capacity {int(state['capacity'])} and obs_dim "
                             f"{int(state['obs_dim'])}, this buffer has {self.capacity} and {self.obs_dim}")
        n, nxt = int(state["size"]), int(state["next"])
        if not (0 <= n <= self.capacity and 0 <= nxt < self.capacity):
            raise ValueError(f"replay state has an invalid size {n} or position {nxt}")
        for name, arr in zip(self._NAMES, self._arrays()):
            src = np.asarray(state[name])
            if src.shape != (n,) + arr.shape[1:]:
                raise ValueError(f"replay state '{name}' has shape {src.shape}, expected {(n,) + arr.shape[1:]}")
            arr[:n] = src                         # rows >= n are never read: left untouched, they cost
        self.size, self.next = n, nxt             # no memory (np.zeros pages are committed on first write)
