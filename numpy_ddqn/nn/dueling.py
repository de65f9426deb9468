"""The dueling head (Wang et al. 2016): Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a').

The network's last linear layer has 1 + n_actions outputs, read as the state value V and the
advantages A; the aggregation below turns them into Q-values. Subtracting the mean advantage makes
V and A identifiable (a constant added to every A leaves Q unchanged).
"""
from __future__ import annotations

import numpy as np

from .mlp import MLP


def dueling_forward(v, a):                        # v: (B, 1), a: (B, A) -> q: (B, A)
    """q = v + a - mean_a(a)."""
    return v + (a - a.mean(axis=1, keepdims=True))


def dueling_backward(dq):                         # dq: (B, A) -> dv: (B, 1), da: (B, A)
    """dv = sum_a dq; da = dq - mean_a(dq): each advantage moves every Q by -1/A through the mean."""
    return dq.sum(axis=1, keepdims=True), dq - dq.mean(axis=1, keepdims=True)


class DuelingMLP(MLP):
    """An ``MLP`` with ``n_actions + 1`` outputs (V, then A) and the dueling aggregation on top.

    ``sizes`` ends with the number of actions; the parameters (one flat array) are the MLP's, so
    optimizers, target syncs and checkpoints work unchanged.
    """

    def __init__(self, sizes, activation="tanh", dtype=np.float32, rng=None) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or sizes[-1] < 2:
            raise ValueError(f"a dueling head needs at least 2 actions, got sizes {sizes}")
        super().__init__((*sizes[:-1], sizes[-1] + 1), activation, dtype, rng)
        self.n_actions = sizes[-1]

    def forward(self, x: np.ndarray, reuse: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:   # (B, n_in) -> q: (B, A), cache
        """Q-values and the MLP's cache (the aggregation's backward needs nothing more); ``reuse`` as ``MLP``'s."""
        out, cache = super().forward(x, reuse)    # (B, 1 + A)
        return dueling_forward(out[:, :1], out[:, 1:]), cache

    def forward_one(self, x: np.ndarray) -> np.ndarray:   # x: (n_in,) -> q: (A,)
        """Q-values of one input vector (``MLP.forward_one``, then the aggregation)."""
        out = super().forward_one(x)[np.newaxis]  # (1, 1 + A)
        return dueling_forward(out[:, :1], out[:, 1:])[0]

    def backward(self, dout: np.ndarray, cache: list[np.ndarray], out: np.ndarray | None = None,
                 reuse: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
        """``MLP.backward`` of the gradient with respect to (V, A), from ``dout = dL/dQ`` (B, A)."""
        dv, da = dueling_backward(np.asarray(dout, dtype=self.dtype))
        return super().backward(np.concatenate((dv, da), axis=1), cache, out, reuse)

    def __repr__(self):
        return f"DuelingMLP(sizes={self.sizes[:-1] + (self.n_actions,)}, activation={self.activation!r})"
