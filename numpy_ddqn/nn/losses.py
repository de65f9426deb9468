"""TD losses on the Q-values of the taken actions, returning the gradient w.r.t. the network output.

``td_loss`` is the seam between RL and backprop: it turns Q-values, actions and targets into one
array ``dq = dL/dQ`` of the network output's shape, non-zero only at the actions taken.
Both losses use mean reduction over the batch, as PyTorch's ``mse_loss`` and ``smooth_l1_loss``.
"""
from __future__ import annotations

import numpy as np

from .layers import arange


def mse(td_error, weights=None):                  # td_error: (B,) -> loss, dloss/dtd: (B,)
    """L = mean(w td**2); dL/dtd = 2 w td / B (w = 1 without weights)."""
    n = td_error.shape[0]
    wtd = td_error if weights is None else weights * td_error
    loss = float(np.dot(wtd, td_error)) / n
    return loss, wtd * (2.0 / n)


def huber(td_error, weights=None, delta=1.0):     # td_error: (B,) -> loss, dloss/dtd: (B,)
    """L = mean(w h(td)), h = td**2 / 2 if |td| <= delta else delta * (|td| - delta / 2) (w = 1 without weights).

    With ``delta = 1`` this is PyTorch's ``smooth_l1_loss`` (mean). Its derivative is the TD error
    clipped to [-delta, delta], the "error clipping" of Mnih et al. (2015), times w.
    """
    n = td_error.shape[0]
    clipped = np.minimum(np.maximum(td_error, -delta), delta)   # dh/dtd = clip(td); 2x faster than np.clip
    # h(td) = clip(td) * (td - clip(td) / 2): td**2/2 inside, delta*(|td| - delta/2) outside
    residual = td_error - 0.5 * clipped
    if weights is not None:
        clipped *= weights                                      # w dh/dtd
    loss = float(np.dot(clipped, residual)) / n
    clipped *= 1.0 / n
    return loss, clipped


LOSSES = {"huber": huber, "mse": mse}
"""Elementwise TD losses by name: ``name -> f(td_error, weights=None) -> (loss, dloss/dtd_error)``."""


def td_loss(q: np.ndarray, actions: np.ndarray, targets: np.ndarray, kind: str = "huber",
            weights: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:   # q: (B, A), actions: (B,), targets: (B,)
    """Loss on ``Q(s, a)`` at the taken actions, and its gradient w.r.t. the whole output ``q``.

    ``td_error = Q(s, a) - y``. Returns ``(loss, dq, td_error)`` where ``dq: (B, A)`` is zero
    except at ``dq[i, actions[i]]``.
    """
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {kind!r}")
    if q.ndim != 2:
        raise ValueError(f"q must have shape (B, A), got {q.shape}")
    if actions.shape != q.shape[:1] or actions.dtype.kind not in "iu":
        raise ValueError(f"actions must be integers of shape (B,) = ({q.shape[0]},), got {actions.dtype} {actions.shape}")
    if targets.shape != q.shape[:1]:
        raise ValueError(f"targets must have shape (B,) = ({q.shape[0]},), got {targets.shape}")
    rows = arange(q.shape[0])
    td_error = q[rows, actions] - targets          # (B,)
    loss, dtd = LOSSES[kind](td_error, weights)
    dq = np.zeros(q.shape, q.dtype)                # (B, A); np.zeros_like costs ~10x more here
    dq[rows, actions] = dtd
    return loss, dq, td_error
