"""Layer normalisation (Ba, Kiros & Hinton 2016) over the feature axis, with a gain and a bias.

    mu = mean_h x_h,   var = mean_h (x_h - mu)**2,   x_hat = (x - mu) / sqrt(var + eps),   y = g * x_hat + b

Each row (sample) is normalised on its own, so the layer is the same at batch size 1 and at 64, and
nothing is carried between calls (unlike batch norm's running statistics). ``params = {"gain": (H,),
"bias": (H,)}``, initialised to ones and zeros so a new layer is the plain normalisation.
Gallici et al. (2024) put it after each hidden linear layer, before the activation, to stabilise TD learning.

Speed (a network of a few 64-wide layers: NumPy's per-call overhead is the cost): the row means are
matrix-vector products (with cached vectors of ones or of 1/H, ``layers.py: ones, mean_vector``), the backward folds the gain into
that vector, results go into arrays the caller gives (``out``, ``dgain``, ``dbias``), and ``layernorm_forward_one``
normalises one vector with scalar statistics: 11 NumPy calls for the forward, 11 for the backward, 6 for one vector.
"""
from __future__ import annotations

import math

import numpy as np

from .layers import mean_vector, ones


def init_layernorm(n_features, dtype=np.float32):    # -> {"gain": (H,), "bias": (H,)}
    """g = 1, b = 0: a new layer normalises and changes nothing else."""
    return {"gain": np.ones(n_features, dtype), "bias": np.zeros(n_features, dtype)}


def check_features(x, params):
    """Raise ``ValueError`` unless ``x`` is (B, H) and the gain and bias are (H,)."""
    shape = getattr(x, "shape", ())
    if len(shape) != 2:
        raise ValueError(f"layernorm input must have shape (B, H), got {np.shape(x)}")
    for name in ("gain", "bias"):
        if params[name].shape != shape[1:]:
            raise ValueError(f"layernorm {name} must have shape ({shape[1]},), got {params[name].shape}")


def layernorm_forward(x, params, eps=1e-5, out=None):   # x: (B, H) -> y: (B, H), cache
    """y = g * (x - mean_h x) / sqrt(var_h x + eps) + b, each row over its H features.

    ``out``: a (B, H) array to write y into (``x`` itself is allowed). The cache is ``(x_hat (B, H),
    inv_std (B, 1), g)``; ``x_hat`` and ``inv_std`` are new arrays, batch-first, so a caller may keep them apart
    and slice both by rows.
    """
    if x.ndim != 2 or params["gain"].shape != x.shape[1:] or params["bias"].shape != x.shape[1:]:
        check_features(x, params)                     # raises the one-line error
    H = x.shape[1]
    mu = np.dot(x, ones(H, x.dtype))                  # (B,), sum_h x_h; then / H: a constant row's sum, if exact,
    mu /= H                                           # gives its value exactly, so its x_hat is exactly 0
    x_hat = np.subtract(x, mu[:, np.newaxis])         # (B, H), the centred rows (x_hat once scaled)
    sq = np.multiply(x_hat, x_hat, out=out)           # (B, H), scratch: y's memory (x is read no more)
    inv_std = np.dot(sq, mean_vector(H, x.dtype))     # (B,), the biased variance (divides by H)
    inv_std += eps                                    # eps keeps a constant row finite: x_hat = 0
    np.sqrt(inv_std, out=inv_std)
    np.divide(1.0, inv_std, out=inv_std)              # (B,), 1 / sqrt(var + eps)
    inv_std = inv_std[:, np.newaxis]                  # (B, 1)
    x_hat *= inv_std                                  # (B, H)
    y = np.multiply(x_hat, params["gain"], out=sq)    # (B, H)
    y += params["bias"]
    return y, (x_hat, inv_std, params["gain"])


def layernorm_backward(dy, cache, dgain=None, dbias=None, out=None):   # dy: (B, H) -> dx: (B, H), grads
    """dx = inv_std * (dx_hat - mean_h dx_hat - x_hat * mean_h(dx_hat * x_hat)), dx_hat = g * dy;
    dg = sum_batch dy * x_hat; db = sum_batch dy.

    ``dgain``, ``dbias`` ((H,)) and ``out`` ((B, H), ``dy`` itself allowed) are arrays to write the gradients
    into, overwritten. Returns ``(dx, {"gain": dg, "bias": db})``.
    """
    x_hat, inv_std, gain = cache
    ones_b = ones(dy.shape[0], dy.dtype)
    dy_x_hat = np.multiply(dy, x_hat)                 # (B, H)
    grads = {"gain": np.dot(ones_b, dy_x_hat, out=dgain),   # (H,)
             "bias": np.dot(ones_b, dy, out=dbias)}         # (H,)
    # mu and var depend on every x_h of the row: the two means are their paths back. With dx_hat = g * dy,
    # mean_h dx_hat = dy @ (g / H) and mean_h(dx_hat * x_hat) = (dy * x_hat) @ (g / H): the gain folded in
    g_mean = np.multiply(gain, mean_vector(gain.shape[0], gain.dtype))    # (H,), g / H
    mean_dx_hat = np.dot(dy, g_mean)[:, np.newaxis]                       # (B, 1)
    paths = np.multiply(x_hat, np.dot(dy_x_hat, g_mean)[:, np.newaxis], out=dy_x_hat)   # (B, H)
    paths += mean_dx_hat
    dx = np.multiply(dy, gain, out=out)               # (B, H), dx_hat (dy is read no more)
    dx -= paths
    dx *= inv_std
    return dx, grads


def layernorm_forward_one(x, params, eps=1e-5, stat=None):   # x: (H,) -> y: (H,), written into x
    """``layernorm_forward`` of one vector, in place: the same equation with a scalar mean and variance.

    For acting on one observation (``MLP.forward_one``): 6 NumPy calls instead of a one-row forward's 11.
    ``stat``: a 0-d array of x's dtype to hold the statistics (the ufuncs take it for less than a Python float);
    one is made if omitted. The variance's square root is taken in float64 (Python's), so in float32 the result
    may differ from the batched one by rounding.
    """
    n = x.shape[0]
    stat = np.empty((), x.dtype) if stat is None else stat
    stat.fill(float(np.dot(x, ones(n, x.dtype))) / n)      # mu = x . 1 / H, as the batched forward's
    x -= stat                                                # (H,), centred
    stat.fill(1.0 / math.sqrt(float(np.dot(x, x)) / n + eps))   # 1 / sqrt(var + eps), var = x . x / H
    x *= stat                                                # x_hat
    x *= params["gain"]
    x += params["bias"]
    return x


def layernorm_forward_packed(x, params, eps=1e-5):   # x: (B, H) -> y: (B, H), packed: (B, H + 1)
    """``layernorm_forward`` with its cache as one batch-first array ``[x_hat | inv_std]`` (a network's cache
    entries are sliced by rows, e.g. the s half of a stacked s / s' batch)."""
    y, (x_hat, inv_std, _) = layernorm_forward(x, params, eps)
    return y, np.concatenate((x_hat, inv_std), axis=1)


def layernorm_backward_packed(dy, packed, gain, dgain=None, dbias=None):   # dy: (B, H) -> dx: (B, H), grads
    """``layernorm_backward`` from ``layernorm_forward_packed``'s cache and the gain (``dgain``, ``dbias``: as
    there)."""
    return layernorm_backward(dy, (packed[:, :-1], packed[:, -1:], gain), dgain, dbias)
