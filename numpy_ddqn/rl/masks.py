"""Legal-action masks as pure functions: greedy, max, random and soft-max over the legal actions only.

A mask is a (B, A) boolean array, True where the action is legal (Gymnasium's ``info["action_mask"]``
and sb3-contrib's ``action_masks()`` use the same sense, with 1 for legal). Every function here ranges
over the legal actions only, so an illegal action is never taken and never bootstrapped from, however
large its Q-value. A state with no legal action is the environment's error (``EnvError``): nothing
here can choose for it. For storage, masks pack to bits along the action axis (8 actions a byte).
"""
from __future__ import annotations

import numpy as np

from ..errors import EnvError
from .checks import check_rank


def check_mask(mask, q=None):
    """Raise ``ValueError`` unless ``mask`` is a (B, A) bool array (shaped like ``q`` if given), and
    ``EnvError`` if a row has no legal action."""
    check_rank("mask", mask, 2, "(B, A)")
    if mask.dtype != np.bool_:
        raise ValueError(f"mask must be a bool array (True = legal), got {mask.dtype}")
    if q is not None and q.shape != mask.shape:
        raise ValueError(f"mask must have the Q-values' shape {q.shape}, got {mask.shape}")
    empty = ~mask.any(axis=1)                                 # (B,)
    if empty.any():
        rows = np.flatnonzero(empty)
        raise EnvError(f"no legal action in {rows.size} state(s) (batch rows {rows[:5].tolist()}"
                       f"{'...' if rows.size > 5 else ''}): the env's action mask is all False there")


def masked_argmax(q, mask=None):                      # q: (B, A), mask: (B, A) bool -> (B,) int
    """argmax_{a legal} q(s, a); ties go to the lowest index (np.argmax's rule), so it is deterministic."""
    check_rank("q", q, 2, "(B, A)")
    if mask is None:
        return q.argmax(axis=1)
    check_mask(mask, q)
    return np.where(mask, q, -np.inf).argmax(axis=1)


def masked_max(q, mask=None):                         # q: (B, A), mask: (B, A) bool -> (B,)
    """max_{a legal} q(s, a)."""
    check_rank("q", q, 2, "(B, A)")
    if mask is None:
        return q.max(axis=1)
    check_mask(mask, q)
    return np.where(mask, q, -np.inf).max(axis=1)


def random_legal_actions(mask, rng):                  # mask: (B, A) bool -> (B,) int
    """a ~ Uniform{legal actions of each row}: one ``rng.random(B)`` call, k = floor(u * n_legal), the k-th legal."""
    check_mask(mask)
    n_legal = mask.sum(axis=1)                                # (B,)
    k = np.minimum((rng.random(mask.shape[0]) * n_legal).astype(np.int64), n_legal - 1)   # (B,) in [0, n_legal)
    # the k-th legal action (0-based) is the first column where the running count of legal ones exceeds k
    return (np.cumsum(mask, axis=1) > k[:, np.newaxis]).argmax(axis=1)


def pack_masks(mask):                                 # mask: (..., A) bool -> (..., ceil(A / 8)) uint8
    """Masks as bits along the action axis (little-endian: action a is bit a % 8 of byte a // 8)."""
    if getattr(mask, "dtype", None) != np.bool_:
        raise ValueError(f"mask must be a bool array, got {getattr(mask, 'dtype', type(mask).__name__)}")
    return np.packbits(mask, axis=-1, bitorder="little")


def unpack_masks(packed, n_actions):                  # packed: (..., ceil(A / 8)) uint8 -> (..., A) bool
    """The inverse of ``pack_masks`` for ``n_actions`` actions."""
    if getattr(packed, "dtype", None) != np.uint8 or packed.shape[-1] != -(-n_actions // 8):
        raise ValueError(f"packed masks must be uint8 of last axis {-(-n_actions // 8)} for {n_actions} actions, "
                         f"got {getattr(packed, 'dtype', None)} {np.shape(packed)}")
    return np.unpackbits(packed, axis=-1, count=n_actions, bitorder="little").astype(bool)


def masked_logsumexp(q, mask=None, temperature=1.0):   # q: (B, A) -> (B,)
    """T log sum_{a legal} exp(q_a / T) = m + T log sum_{a legal} exp((q_a - m) / T), m = max_{legal} q.

    The soft maximum of the Q-values at temperature T (it tends to max q as T -> 0); with the largest legal
    q subtracted first every exponent is <= 0, so it neither overflows nor loses the max to rounding."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    q_max = masked_max(q, mask)                              # (B,); checks q and mask
    z = q - q_max[:, np.newaxis] if mask is None else np.where(mask, q - q_max[:, np.newaxis], -np.inf)
    z /= temperature                                         # (B, A), <= 0 where legal, -inf where illegal
    return q_max + temperature * np.log(np.exp(z).sum(axis=1))   # the max contributes exp(0) = 1: log >= 0


def masked_log_softmax(q, mask=None, temperature=1.0):   # q: (B, A) -> log pi: (B, A), -inf where illegal
    """log pi(a|s) = (q_a - m) / T - log sum_{b legal} exp((q_b - m) / T), m = max_{legal} q (log-sum-exp).

    Subtracting the largest legal q first keeps every exponent <= 0, so Q of 1e4 at T = 1e-6 neither
    overflows nor turns into NaN; illegal actions get log pi = -inf (pi = 0)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    q_max = masked_max(q, mask)[:, np.newaxis]               # (B, 1); checks q and mask
    z = q - q_max if mask is None else np.where(mask, q - q_max, -np.inf)   # (B, A), <= 0 where legal
    z /= temperature
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # the legal max contributes exp(0) = 1: log >= 0


def masked_softmax(q, mask=None, temperature=1.0):   # q: (B, A) -> pi: (B, A), 0 where illegal
    """pi(a|s) = exp(log pi(a|s)) of ``masked_log_softmax``: sums to 1 over the legal actions."""
    return np.exp(masked_log_softmax(q, mask, temperature))

