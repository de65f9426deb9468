"""Experience replay: a ring buffer over arrays preallocated at construction, sampled uniformly.

Every replay type (``registry.REPLAYS``) has this class's interface: ``from_config``, ``add``,
``sample(batch_size, rng, beta=None) -> Batch`` (prioritized replay fills the batch's ``weights`` and
``indices``), ``update_priorities`` (a no-op here), ``state_dict`` / ``load_state_dict`` and ``extra_bytes``
(what it holds beyond the transitions, for the memory plan).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing

from .masks import pack_masks, unpack_masks

if TYPE_CHECKING:
    from ..config import Config


OBS_DTYPES = (None, "uint8", "bool")
"""How observations may be stored: in the network's dtype (None), one byte per value, or one bit per value."""


def stored_obs_shape(obs_shape, obs_dtype):
    """The shape one stored observation takes: ``obs_shape``, or ``(ceil(n / 8),)`` bytes for packed bits."""
    obs_shape = tuple(int(n) for n in np.atleast_1d(obs_shape))
    return (-(-int(np.prod(obs_shape)) // 8),) if obs_dtype == "bool" else obs_shape


class Batch(NamedTuple):
    """A sample of transitions, each field's first axis the batch: (s, a, r, s', terminated[, discount]), and
    for prioritized replay the importance weights and the rows they came from."""
    obs: np.ndarray          # (B, obs_dim), or (B, *obs_shape) for images
    action: np.ndarray       # (B,) int64
    reward: np.ndarray       # (B,) r, or the n-step return R
    next_obs: np.ndarray     # (B, obs_dim)
    terminated: np.ndarray   # (B,) 1.0 where s' is terminal, else 0.0
    discount: np.ndarray | None = None   # (B,) gamma^m of n-step transitions; None: gamma for all
    weights: np.ndarray | None = None    # (B,) importance weights of the loss terms; None: all 1
    indices: np.ndarray | None = None    # (B,) rows sampled (to update their priorities); None: not needed
    mask: np.ndarray | None = None       # (B, A) bool legal actions at s (action masks on); None: all legal
    next_mask: np.ndarray | None = None  # (B, A) bool legal actions at s'; None: all legal


class ReplayBuffer:
    """Fixed-capacity memory of transitions; when full, a new one overwrites the oldest.

    Storage is allocated once: ``obs`` and ``next_obs`` ``(capacity, obs_dim)`` in ``dtype``,
    ``action`` int64, ``reward`` and ``terminated`` in ``dtype`` (``terminated`` as 0.0/1.0 so the
    target's ``1 - terminated`` needs no cast), and with ``store_discount`` a per-transition
    ``discount`` (n-step returns). ``add`` is O(1) and allocates nothing.

    Observations of any shape (``obs_dim`` an int or a shape like ``(10, 10, 4)``) are kept in their own
    dtype when ``obs_dtype`` says so: ``"uint8"`` one byte per value, ``"bool"`` (0/1 frames such as
    MinAtar's) packed eight values to a byte (``np.packbits``); a sampled batch is cast to ``dtype``
    (the network's) and given the observation shape. ``obs_dtype=None`` stores them in ``dtype``.
    """

    _NAMES = ("obs", "action", "reward", "next_obs", "terminated", "discount")   # as _arrays() orders them

    def _names(self):                             # the names of _arrays(), in its order
        return (self._NAMES[:5] + (() if self.discount is None else ("discount",))
                + (() if self.mask is None else ("mask", "next_mask")))

    def __init__(self, capacity: int, obs_dim: int | tuple[int, ...], dtype: np.typing.DTypeLike = np.float32,
                 store_discount: bool = False, obs_dtype: str | None = None) -> None:
        self.obs_shape = tuple(int(n) for n in np.atleast_1d(obs_dim))
        if int(capacity) < 1 or min(self.obs_shape) < 1:
            raise ValueError(f"capacity and obs_dim must be >= 1, got {capacity} and {obs_dim}")
        if obs_dtype not in OBS_DTYPES:
            raise ValueError(f"obs_dtype must be one of {OBS_DTYPES}, got {obs_dtype!r}")
        self.capacity, self.obs_dim, self.dtype = int(capacity), int(np.prod(self.obs_shape)), np.dtype(dtype)
        self.obs_dtype, self._packed = obs_dtype, obs_dtype == "bool"
        self._cast = obs_dtype is not None       # stored rows need decoding per batch
        row = stored_obs_shape(self.obs_shape, obs_dtype)
        row_dtype = self.dtype if obs_dtype is None else np.uint8
        self.obs = np.zeros((self.capacity, *row), row_dtype)
        self.next_obs = np.zeros((self.capacity, *row), row_dtype)
        self.action = np.zeros(self.capacity, np.int64)
        self.reward = np.zeros(self.capacity, self.dtype)
        self.terminated = np.zeros(self.capacity, self.dtype)
        self.discount = np.zeros(self.capacity, self.dtype) if store_discount else None
        self.next = 0            # row the next transition is written to
        self.size = 0            # rows holding a transition
        self.mask = self.next_mask = None   # (capacity, ceil(A / 8)) uint8 bits of the legal actions (enable_masks)
        self.n_actions = 0

    def enable_masks(self, n_actions: int) -> None:
        """Store each transition's legal actions at s and s' too, as bits (``masks.pack_masks``: 8 actions a byte);
        a sampled batch carries them as (B, A) bool ``mask`` and ``next_mask``."""
        self.n_actions = int(n_actions)
        self.mask = np.zeros((self.capacity, -(-self.n_actions // 8)), np.uint8)
        self.next_mask = np.zeros_like(self.mask)

    @classmethod
    def from_config(cls, config: Config, obs_dim: int | tuple[int, ...], obs_dtype: str | None = None) -> ReplayBuffer:
        """The buffer a ``Config`` asks for (``buffer_size``, ``dtype``; a discount per transition if ``n_step > 1``)."""
        return cls(config.buffer_size, obs_dim, config.dtype, config.n_step > 1, obs_dtype)

    @staticmethod
    def extra_bytes(capacity: int) -> int:
        """Bytes held beyond the transitions' arrays: none."""
        return 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays (allocated up front)."""
        return sum(a.nbytes for a in self._arrays())

    @property
    def bytes_per_transition(self) -> int:
        """Storage bytes per stored transition: 2 * (bytes of one stored observation) + 8 + 2 * itemsize
        (+ itemsize for n-step discounts)."""
        return self.nbytes // self.capacity

    def __len__(self):
        return self.size

    def add(self, obs: np.typing.ArrayLike, action: int, reward: float, next_obs: np.typing.ArrayLike,
            terminated: bool, discount: float | None = None, mask: np.ndarray | None = None,
            next_mask: np.ndarray | None = None) -> None:
        """Store one transition (s, a, r, s', terminated[, discount]), overwriting the oldest when full; with masks
        enabled also the legal actions at s and s' (``mask``, ``next_mask``: (A,) bool)."""
        i = self.next
        if self.mask is not None:
            if mask is None or next_mask is None:
                raise ValueError("this replay stores action masks: add() needs mask and next_mask")
            self.mask[i], self.next_mask[i] = pack_masks(mask), pack_masks(next_mask)
        if self.discount is not None:
            self.discount[i] = discount
        if self._packed:                          # 0/1 frames: 8 values a byte
            obs, next_obs = np.packbits(obs, axis=None), np.packbits(next_obs, axis=None)
        self.obs[i] = obs
        self.action[i] = action
        self.reward[i] = reward
        self.next_obs[i] = next_obs
        self.terminated[i] = terminated
        self.next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float | None = None) -> Batch:
        """``batch_size`` transitions drawn uniformly, with replacement, from the stored ones (``beta``, the
        importance-weight exponent of prioritized replay, does not apply: no weights, no indices).

        Raises ``ValueError`` if fewer than ``batch_size`` transitions are stored: a batch larger than
        the memory would mostly repeat the same few transitions (set ``learning_starts >= batch_size``).
        """
        if self.size < batch_size:
            raise ValueError(f"cannot sample {batch_size} transitions: only {self.size} stored")
        # floor(U * size) with U ~ Uniform[0, 1): uniform indices, ~2x cheaper than rng.integers
        idx = (rng.random(batch_size) * self.size).astype(np.int64)   # (B,)
        return self.gather(idx)

    def update_priorities(self, indices: np.ndarray | None, td_errors: np.ndarray) -> None:
        """Nothing to do: uniform replay has no priorities."""

    def gather(self, idx: np.ndarray, weights: np.ndarray | None = None, indices: np.ndarray | None = None
               ) -> Batch:                        # idx: (B,) rows -> Batch
        """The transitions at rows ``idx`` (with ``weights`` and ``indices`` for prioritized replay)."""
        # take(idx, axis=0) gathers the same rows as obs[idx], ~10x faster for 2-D arrays
        obs, next_obs = self.obs.take(idx, axis=0), self.next_obs.take(idx, axis=0)
        if self._cast:                            # compact storage: unpack and cast this batch only
            obs, next_obs = self._decode(obs), self._decode(next_obs)
        masks = (None, None) if self.mask is None else (
            unpack_masks(self.mask.take(idx, axis=0), self.n_actions),        # (B, A) bool
            unpack_masks(self.next_mask.take(idx, axis=0), self.n_actions))
        return Batch(obs, self.action.take(idx), self.reward.take(idx), next_obs, self.terminated.take(idx),
                     None if self.discount is None else self.discount.take(idx), weights, indices, *masks)

    def _decode(self, rows):                      # stored rows (B, ...) -> (B, *obs_shape) in dtype
        if self._packed:
            rows = np.unpackbits(rows, axis=1, count=self.obs_dim)
        return rows.reshape((rows.shape[0], *self.obs_shape)).astype(self.dtype, copy=False)

    def _arrays(self):
        return (self.obs, self.action, self.reward, self.next_obs, self.terminated) + (
            () if self.discount is None else (self.discount,)) + (
            () if self.mask is None else (self.mask, self.next_mask))

    def state_dict(self) -> dict:
        """Stored rows and write position as plain arrays (copies), for checkpoints."""
        n = self.size
        return {"capacity": self.capacity, "obs_dim": self.obs_dim, "next": self.next, "size": n,
                **{name: arr[:n].copy() for name, arr in zip(self._names(), self._arrays())}}

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()``; the buffer must have the same capacity and obs_dim."""
        if int(state["capacity"]) != self.capacity or int(state["obs_dim"]) != self.obs_dim:
            raise ValueError(f"replay state is for capacity {int(state['capacity'])} and obs_dim "
                             f"{int(state['obs_dim'])}, this buffer has {self.capacity} and {self.obs_dim}")
        n, nxt = int(state["size"]), int(state["next"])
        if not (0 <= n <= self.capacity and 0 <= nxt < self.capacity):
            raise ValueError(f"replay state has an invalid size {n} or position {nxt}")
        for name, arr in zip(self._names(), self._arrays()):
            if name not in state:                 # masks: a checkpoint saved without them
                raise ValueError(f"replay state has no '{name}': it was saved without action masks")
            src = np.asarray(state[name])
            if src.shape != (n,) + arr.shape[1:]:
                raise ValueError(f"replay state '{name}' has shape {src.shape}, expected {(n,) + arr.shape[1:]}")
            arr[:n] = src                         # rows >= n are never read: left untouched, they cost
        self.size, self.next = n, nxt             # no memory (np.zeros pages are committed on first write)
