"""Gradient checking by central finite differences, for your own networks and losses.

    numeric dL/dp_i = (L(p + eps e_i) - L(p - eps e_i)) / (2 eps)

Use float64: in float32 the rounding error of L swamps the difference for any useful eps.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from .mlp import MLP


def numeric_grad(f, x, eps=1e-6):                  # x: any shape, float64 -> same shape
    """Central-difference gradient of the scalar function ``f()`` w.r.t. the array ``x``.

    ``x`` is perturbed in place, one entry at a time, and restored; ``f`` takes no arguments and
    must read ``x`` (a closure), so it works for parameters held inside a network.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        f_plus = f()
        x[i] = old - eps
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def relative_error(a, b):
    """||a - b|| / (||a|| + ||b||), 0 when both are zero: 0 means identical, ~1e-8 is a pass in float64."""
    a, b = np.ravel(np.asarray(a, dtype=np.float64)), np.ravel(np.asarray(b, dtype=np.float64))
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0


class GradCheck(NamedTuple):
    """Result of ``check_mlp_gradients``: flat analytic and numeric gradients and their error."""
    analytic: np.ndarray
    numeric: np.ndarray
    rel_error: float
    max_abs_error: float

    def report(self, names=None):
        """A human-readable 'mine vs numeric' table of the worst entries."""
        diff = np.abs(self.analytic - self.numeric)
        worst = np.argsort(diff)[::-1][:5]
        lines = [f"rel_error={self.rel_error:.3e} max_abs_error={self.max_abs_error:.3e}",
                 "   index        mine        numeric"]
        lines += [f"{i:8d} {self.analytic[i]: .6e} {self.numeric[i]: .6e}" for i in worst]
        return "\n".join(lines)


def check_mlp_gradients(net: MLP, x: np.ndarray, dout: np.ndarray | None = None, eps: float = 1e-6,
                        rng: np.random.Generator | None = None) -> GradCheck:
    """Compare ``net.backward`` with central differences of ``L = sum(net(x) * dout)``.

    Args:
        net: an ``MLP`` built with ``dtype=float64``.
        x: ``(B, n_in)`` input batch.
        dout: upstream gradient shaped like the output; random normal from ``rng`` if omitted.
        eps: finite-difference step.
    Returns:
        ``GradCheck(analytic, numeric, rel_error, max_abs_error)`` over the flat parameter vector.
    """
    if net.dtype != np.float64:
        raise ValueError("gradient checks need a float64 network (MLP(..., dtype=np.float64))")
    x = np.asarray(x, dtype=np.float64)
    out, cache = net.forward(x)
    if dout is None:
        rng = np.random.default_rng(0) if rng is None else rng
        dout = rng.standard_normal(out.shape)
    _, analytic = net.backward(dout, cache)
    numeric = numeric_grad(lambda: float(np.sum(net(x) * dout)), net.flat, eps)
    return GradCheck(analytic, numeric, relative_error(analytic, numeric),
                     float(np.max(np.abs(analytic - numeric))) if analytic.size else 0.0)
