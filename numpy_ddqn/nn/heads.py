"""Q heads: how a network's last linear layer becomes Q-values, and the gradient back. The ``HEADS`` registry.

A head is the map from the last linear layer's outputs ``out: (..., n_outputs(A))`` to the Q-values
``q: (..., A)``, and the backward of that map. The ``MLP``, the layer-list ``Network`` and the memory plan read
a head only through its ``Head`` entry, so a new head (categorical atoms, quantiles) is one entry here and its
tests: its forward and backward below, side by side, with the equation in the docstring. Heads act on the last
axis, so one observation ``(n,)`` and a batch ``(B, n)`` go through the same functions.
(``policy.py``, which must stay a standalone NumPy-only file, restates each head's forward once.)
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np


class Head(NamedTuple):
    """A registry entry: the last linear layer's width for A actions, forward ``out -> q``, backward ``dq -> dout``.

    A distributional head (C51's atoms, QR-DQN's quantiles) also has ``outputs``: ``out -> (..., A, N)``, the
    per-action distribution a distributional rule learns from; its ``forward`` is that distribution's mean (what
    acting, evaluation and export see) and its ``backward`` takes the gradient of the *outputs*, ``(..., A, N) ->
    dout``. ``params`` are the values it was made with and ``make(**params)`` makes it again with others.
    """
    n_outputs: Callable[[int], int]                   # A -> outputs of the last linear layer
    forward: Callable[[np.ndarray], np.ndarray]       # out: (..., n_outputs) -> q: (..., A)
    backward: Callable[[np.ndarray], np.ndarray]      # dq: (..., A) (or d outputs: (..., A, N)) -> dout: (..., n_outputs)
    min_actions: int = 1                              # fewer actions than this: the head is undefined
    outputs: Callable[[np.ndarray], np.ndarray] | None = None   # out -> (..., A, N); None: Q is the output
    mean: Callable[[np.ndarray], np.ndarray] | None = None      # outputs (..., A, N) -> q: (..., A)
    params: dict | None = None                        # what ``make`` was given (n_atoms, v_min, v_max / n_quantiles)
    make: Callable[..., Head] | None = None           # (**params) -> the same head with other parameters


def linear_head_forward(out):                          # out: (..., A) -> q: (..., A)
    """Q(s, a) = out_a: the last linear layer gives the Q-values."""
    return out


def linear_head_backward(dq):                          # dq: (..., A) -> dout: (..., A)
    """dout = dQ."""
    return dq


def dueling_forward(v, a, axis=-1):               # v: (..., 1), a: (..., A) -> q: (..., A)
    """Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')   (Wang et al. 2016); the mean makes V and A identifiable.

    ``axis`` is the action axis (-2 for a distributional head: the same aggregation on every atom / quantile).
    """
    return v + (a - a.mean(axis=axis, keepdims=True))


def dueling_backward(dq, axis=-1):                # dq: (..., A) -> dv: (..., 1), da: (..., A)
    """dV = sum_a dQ; dA = dQ - mean_a dQ: each advantage moves every Q by -1/A through the mean."""
    return dq.sum(axis=axis, keepdims=True), dq - dq.mean(axis=axis, keepdims=True)


def dueling_head_forward(out):                    # out: (..., 1 + A), read as (V, A) -> q: (..., A)
    """``dueling_forward`` of ``V = out[..., :1]`` and ``A = out[..., 1:]``."""
    return dueling_forward(out[..., :1], out[..., 1:])


def dueling_head_backward(dq):                    # dq: (..., A) -> dout: (..., 1 + A)
    """``dueling_backward``, (dV, dA) joined as the gradient of the last linear layer's output."""
    dv, da = dueling_backward(dq)
    return np.concatenate((dv, da), axis=-1)


# -- distributional heads: N values per action, read as (..., A, N); Q is their mean --------------------------------

def atoms_outputs(out, n):                        # out: (..., A N) -> (..., A, N)
    """The last linear layer's outputs as one row of N atoms (or quantiles) per action (a view)."""
    return out.reshape(*out.shape[:-1], -1, n)


def atoms_backward(dist_grad):                    # (..., A, N) -> dout: (..., A N)
    """The reshape's backward: the same values, flat again."""
    return dist_grad.reshape(*dist_grad.shape[:-2], -1)


def dueling_atoms_outputs(out, n):                # out: (..., (1 + A) N), read as (V, A) rows -> (..., A, N)
    """``dueling_forward`` on every atom: Z_i(s, a) = V_i(s) + A_i(s, a) - mean_a' A_i(s, a')   (Rainbow).

    The same values as ``dueling_forward(v, a, axis=-2)``, with one array made instead of three."""
    rows = atoms_outputs(out, n)                  # (..., 1 + A, N)
    v, a = rows[..., :1, :], rows[..., 1:, :]
    z = np.add.reduce(a, axis=-2, keepdims=True)  # (..., 1, N): the mean is this sum / A, as np.mean computes it
    z /= a.shape[-2]
    z = np.subtract(a, z)                         # (..., A, N)
    z += v
    return z


def dueling_atoms_backward(dist_grad):            # (..., A, N) -> dout: (..., (1 + A) N)
    """``dueling_backward`` on every atom: dV = sum_a dZ, dA = dZ - mean_a dZ, the rows flattened; as one matrix
    product per observation, [dV; dA] = M^T dZ with the forward's matrix M = [1 | I - 1/A] (Z = M [V; A])."""
    return atoms_backward(dueling_matrix(dist_grad.shape[-2], dist_grad.dtype).T @ dist_grad)


@lru_cache(maxsize=32)
def dueling_matrix(n_actions, dtype):             # -> M: (A, 1 + A), read-only
    """M = [1 | I - 1/A]: row a of M [V; A] is V + A_a - mean_a' A_a' (made once per action count and dtype)."""
    M = np.concatenate((np.ones((n_actions, 1)), np.eye(n_actions) - 1.0 / n_actions), axis=1).astype(dtype)
    M.flags.writeable = False
    return M


def categorical_mean(logits, z):                  # logits: (..., A, N), z: (N,) -> q: (..., A)
    """Q(s, a) = sum_i softmax_i(logits(s, a, .)) z_i = sum_i e_i z_i / sum_i e_i, e_i = exp(l_i - max_j l_j)."""
    e = logits - logits.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    return (e @ z.astype(e.dtype, copy=False)) / np.add.reduce(e, axis=-1)


def categorical_head(n_atoms=51, v_min=-10.0, v_max=10.0, dueling=False) -> Head:
    """C51's head (Bellemare et al. 2017): ``n_atoms`` logits per action over the support
    ``z_i = v_min + i (v_max - v_min) / (n_atoms - 1)``; Q = sum_i p_i z_i (``rl/categorical.py``: the loss)."""
    if int(n_atoms) < 2 or not v_min < v_max:
        raise ValueError(f"a categorical head needs n_atoms >= 2 and v_min < v_max, got {n_atoms}, [{v_min}, {v_max}]")
    n = int(n_atoms)
    z = np.linspace(v_min, v_max, n)              # float64; cast to the logits' dtype where used
    outputs = (lambda out: dueling_atoms_outputs(out, n)) if dueling else (lambda out: atoms_outputs(out, n))
    mean = lambda logits: categorical_mean(logits, z)
    return Head(lambda n_actions: ((1 if dueling else 0) + n_actions) * n, lambda out: mean(outputs(out)),
                dueling_atoms_backward if dueling else atoms_backward, 2 if dueling else 1, outputs, mean,
                dict(n_atoms=n, v_min=float(v_min), v_max=float(v_max)),
                lambda **p: categorical_head(**p, dueling=dueling))


def quantile_head(n_quantiles=32, dueling=False) -> Head:
    """QR-DQN's head (Dabney et al. 2018a): ``n_quantiles`` quantile values per action at the midpoints
    ``(2i - 1) / 2N``; Q = mean_i theta_i (``rl/quantile.py``: the loss)."""
    if int(n_quantiles) < 1:
        raise ValueError(f"a quantile head needs n_quantiles >= 1, got {n_quantiles}")
    n = int(n_quantiles)
    outputs = (lambda out: dueling_atoms_outputs(out, n)) if dueling else (lambda out: atoms_outputs(out, n))
    mean = lambda quantiles: quantiles.mean(axis=-1)
    return Head(lambda n_actions: ((1 if dueling else 0) + n_actions) * n, lambda out: mean(outputs(out)),
                dueling_atoms_backward if dueling else atoms_backward, 2 if dueling else 1, outputs, mean,
                dict(n_quantiles=n), lambda **p: quantile_head(**p, dueling=dueling))


HEADS = {
    "linear": Head(lambda n_actions: n_actions, linear_head_forward, linear_head_backward),
    "dueling": Head(lambda n_actions: 1 + n_actions, dueling_head_forward, dueling_head_backward, min_actions=2),
    "categorical": categorical_head(),
    "categorical_dueling": categorical_head(dueling=True),
    "quantile": quantile_head(),
    "quantile_dueling": quantile_head(dueling=True),
}
"""Q heads by name (``Config``: ``dueling=True`` selects "dueling", else "linear"; ``distribution`` = categorical /
quantile selects "categorical[_dueling]" / "quantile[_dueling]"; see ``rl/registry.py``). The distributional
entries hold their default parameters; ``get_head(name, **params)`` makes them with others."""


def get_head(name: str, **params) -> Head:
    """The ``HEADS`` entry ``name`` (made with ``params``, for a head that takes them); ``ValueError`` naming the
    known heads, or the head's parameters, otherwise."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; expected one of {sorted(HEADS)}")
    head = HEADS[name]
    if not params:
        return head
    if head.make is None or set(params) - set(head.params):
        raise ValueError(f"head {name!r} takes {sorted(head.params or ())} as parameters, got {sorted(params)}")
    return head.make(**params)
