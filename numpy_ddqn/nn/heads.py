"""Q heads: how a network's last linear layer becomes Q-values, and the gradient back. The ``HEADS`` registry.

A head is the map from the last linear layer's outputs ``out: (..., n_outputs(A))`` to the Q-values
``q: (..., A)``, and the backward of that map. The ``MLP``, the layer-list ``Network`` and the memory plan read
a head only through its ``Head`` entry, so a new head (categorical atoms, quantiles) is one entry here and its
tests: its forward and backward below, side by side, with the equation in the docstring. Heads act on the last
axis, so one observation ``(n,)`` and a batch ``(B, n)`` go through the same functions.
(``policy.py``, which must stay a standalone NumPy-only file, restates each head's forward once.)
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


class Head(NamedTuple):
    """A registry entry: the last linear layer's width for A actions, forward ``out -> q``, backward ``dq -> dout``."""
    n_outputs: Callable[[int], int]                   # A -> outputs of the last linear layer
    forward: Callable[[np.ndarray], np.ndarray]       # out: (..., n_outputs) -> q: (..., A)
    backward: Callable[[np.ndarray], np.ndarray]      # dq: (..., A) -> dout: (..., n_outputs)
    min_actions: int = 1                              # fewer actions than this: the head is undefined


def linear_head_forward(out):                          # out: (..., A) -> q: (..., A)
    """Q(s, a) = out_a: the last linear layer gives the Q-values."""
    return out


def linear_head_backward(dq):                          # dq: (..., A) -> dout: (..., A)
    """dout = dQ."""
    return dq


def dueling_forward(v, a):                        # v: (..., 1), a: (..., A) -> q: (..., A)
    """Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')   (Wang et al. 2016); the mean makes V and A identifiable."""
    return v + (a - a.mean(axis=-1, keepdims=True))


def dueling_backward(dq):                         # dq: (..., A) -> dv: (..., 1), da: (..., A)
    """dV = sum_a dQ; dA = dQ - mean_a dQ: each advantage moves every Q by -1/A through the mean."""
    return dq.sum(axis=-1, keepdims=True), dq - dq.mean(axis=-1, keepdims=True)


def dueling_head_forward(out):                    # out: (..., 1 + A), read as (V, A) -> q: (..., A)
    """``dueling_forward`` of ``V = out[..., :1]`` and ``A = out[..., 1:]``."""
    return dueling_forward(out[..., :1], out[..., 1:])


def dueling_head_backward(dq):                    # dq: (..., A) -> dout: (..., 1 + A)
    """``dueling_backward``, (dV, dA) joined as the gradient of the last linear layer's output."""
    dv, da = dueling_backward(dq)
    return np.concatenate((dv, da), axis=-1)


HEADS = {
    "linear": Head(lambda n_actions: n_actions, linear_head_forward, linear_head_backward),
    "dueling": Head(lambda n_actions: 1 + n_actions, dueling_head_forward, dueling_head_backward, min_actions=2),
}
"""Q heads by name (``Config``: ``dueling=True`` selects "dueling", else "linear"; see ``rl/registry.py``)."""


def get_head(name: str) -> Head:
    """The ``HEADS`` entry ``name``; ``ValueError`` naming the known heads otherwise."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; expected one of {sorted(HEADS)}")
    return HEADS[name]
