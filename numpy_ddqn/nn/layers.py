"""Layers as pure forward/backward pairs, each derivative written beside its forward.

Conventions (numpy-ml's): ``W: (n_in, n_out)``, ``b: (n_out,)``, ``z = x @ W + b``.
A forward returns what it computes; the matching backward takes the upstream gradient
and the values the forward kept, and returns the downstream gradient. Nothing is stored
on any object, so nothing accumulates between calls.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


def _read_only(v):                                # a cached constant: no caller may write into it
    v.flags.writeable = False
    return v


@lru_cache(maxsize=64)
def ones(n, dtype):                               # -> (n,) read-only
    """A cached, read-only vector of n ones (creating one costs more than the product using it)."""
    return _read_only(np.ones(n, dtype))


@lru_cache(maxsize=64)
def mean_vector(n, dtype):                        # -> (n,) read-only, every entry 1/n
    """A cached, read-only vector of 1/n: ``a @ mean_vector(H)`` is mean_h a_bh, (B,), ~3x cheaper than
    ``a.mean(axis=1)`` on rows this short."""
    return _read_only(np.full(n, 1.0 / n, dtype))


@lru_cache(maxsize=64)
def arange(n):                                    # -> (n,) int64, read-only
    """A cached, read-only ``np.arange(n)``: the row index of a batch, as in ``q[arange(B), actions]``."""
    return _read_only(np.arange(n))


@lru_cache(maxsize=8)
def scratch(name, shape, dtype):                  # -> (*shape) array kept between calls
    """A work array of ``shape`` and ``dtype`` kept between calls, one per ``name`` (the last 8 asked for): a fresh
    array of more than ~128 KB is a new mapping from the OS, and filling it costs a page fault every 4 KB on every
    call. What it holds is whatever its last user wrote: write it before reading it, and never return it."""
    return np.empty(shape, dtype)


def linear_forward(x, W, b, out=None, product=np.matmul):   # x: (B, n_in) -> z: (B, n_out)
    """z = x @ W + b (written into ``out``, a (B, n_out) array, if given).

    ``product=np.dot`` for one vector ``x: (n_in,) -> z: (n_out,)``: the same values, at about half the cost.
    """
    z = product(x, W, out=out)
    z += b
    return z


def linear_backward(dz, x, W, dW=None, db=None, need_dx=True, dx=None):  # dz: (B, n_out) -> dx: (B, n_in)
    """Gradients of z = x @ W + b: dx = dz @ W.T, dW = x.T @ dz, db = sum_batch dz.

    ``dW``/``db``/``dx`` may be preallocated arrays to write into (they are overwritten, never added to).
    ``need_dx=False`` skips dx (the first layer has no use for it) and returns ``None`` for it.
    Returns ``(dx, dW, db)``.
    """
    dW = np.matmul(x.T, dz, out=dW)               # (n_in, n_out)
    # db = 1^T dz, the batch sum; as a dot product it is ~5x faster than dz.sum(axis=0) here
    db = np.dot(ones(dz.shape[0], dz.dtype), dz, out=db)   # (n_out,)
    dx = np.matmul(dz, W.T, out=dx) if need_dx else None   # (B, n_in)
    return dx, dW, db


def tanh_forward(z, out=None):                    # z: (B, H) -> h: (B, H)
    """h = tanh(z)."""
    return np.tanh(z, out=out)


def tanh_backward(dh, h, out=None):               # dh: (B, H) -> dz: (B, H)
    """dz = dh * (1 - h**2); reuses the forward's output h, since tanh'(z) = 1 - tanh(z)**2.

    ``out``: a (B, H) array to write dz into (neither ``dh`` nor ``h``)."""
    dz = np.multiply(h, h, out=out)
    np.subtract(1.0, dz, out=dz)
    dz *= dh
    return dz


def relu_forward(z, out=None):                    # z: (B, H) -> h: (B, H)
    """h = max(z, 0)."""
    return np.maximum(z, 0.0, out=out)


def relu_backward(dh, h, out=None):               # dh: (B, H) -> dz: (B, H)
    """dz = dh * [h > 0] (the subgradient at 0 is taken as 0); into ``out`` if given."""
    return np.multiply(dh, h > 0, out=out)


def identity_forward(z, out=None):                # z: (B, H) -> h: (B, H)
    """h = z."""
    if out is not None and out is not z:
        np.copyto(out, z)
        return out
    return z


def identity_backward(dh, h, out=None):           # dh: (B, H) -> dz: (B, H)
    """dz = dh (copied into ``out`` if given)."""
    if out is not None:
        np.copyto(out, dh)
        return out
    return dh


ACTIVATIONS = {
    "tanh": (tanh_forward, tanh_backward),
    "relu": (relu_forward, relu_backward),
    "identity": (identity_forward, identity_backward),
}
"""Hidden-layer activations by name: ``name -> (forward, backward)``."""
