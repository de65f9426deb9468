"""Shape checks at the door of the pure target and loss functions (rlax style): one clear line, not a broadcast.

A (B, 1) reward added to a (B, N) distribution would broadcast into a (B, B, N) target without a word;
these checks make that a ``ValueError`` naming the argument, its shape and the shape it must have.
They compare attributes only, so they cost microseconds on the update path.
"""
from __future__ import annotations

import numpy as np


def check_rank(name, x, rank, what):
    """Raise ``ValueError`` unless ``x`` is an array of ``rank`` dimensions (``what`` spells the expected shape)."""
    if getattr(x, "ndim", None) != rank:
        raise ValueError(f"{name} must be an array of shape {what}, got {np.shape(x)}")


def check_shape(name, x, shape):
    """Raise ``ValueError`` unless ``x`` is an array of exactly ``shape``."""
    if getattr(x, "shape", None) != tuple(shape):
        raise ValueError(f"{name} must be an array of shape {tuple(shape)}, got {np.shape(x)}")


def check_transitions(B, reward, terminated, discount):
    """Check ``reward`` and ``terminated`` are (B,) arrays and ``discount`` (gamma^m) is a scalar or a (B,) array."""
    check_shape("reward", reward, (B,))
    check_shape("terminated", terminated, (B,))
    if getattr(discount, "ndim", 0) != 0:        # a float has no ndim: a scalar (attributes only, as above)
        check_shape("discount", discount, (B,))


def check_actions(actions, B):
    """Check ``actions`` are (B,) integers (their range is the caller's: indexing raises on one out of range)."""
    check_shape("actions", actions, (B,))
    if actions.dtype.kind not in "iu":
        raise ValueError(f"actions must be integers, got {actions.dtype}")


def check_weights(weights, B):
    """Check per-sample (importance) ``weights`` are ``None`` or a (B,) array."""
    if weights is not None:
        check_shape("weights", weights, (B,))
