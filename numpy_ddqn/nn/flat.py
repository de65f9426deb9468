"""Parameters as one flat array: the layout, names, gradient views and initialisation ``MLP`` and ``Network`` share.

A network lists its parameter shapes ``[W0, b0, W1, b1, ...]`` (``W_i: (n_in, n_out)`` for a dense layer,
``(kh, kw, C_in, C_out)`` for a convolution) and calls ``lay_out``: every parameter then lives in ``self.flat``,
with the views ``self.params`` into it. It says in ``_check_compatible`` which other networks have the same
architecture. Everything below is then one NumPy call over the flat vector, or a loop over the views: an
optimizer step, a global gradient norm, a target-network sync and Polyak averaging cost the same however deep
the net.
"""
from __future__ import annotations

import numpy as np
import numpy.typing


def check_dtype(dtype: np.typing.DTypeLike) -> np.dtype:
    """``dtype`` as a ``np.dtype``; ``ValueError`` unless float32 (training) or float64 (gradient checks)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


class FlatParams:
    """Weights as plain data, for networks whose parameters live in one flat array."""

    def lay_out(self, shapes: list[tuple[int, ...]], dtype: np.typing.DTypeLike,
                extra: list[tuple[str, tuple[int, ...]]] = ()) -> None:
        """Allocate ``flat`` (zeros) for parameters of ``shapes`` (W and b alternating) and its views ``params``.

        ``extra``: ``(name, shape)`` of further parameters laid out after every W and b (a LayerNorm's gain and
        bias, a noisy layer's sigmas), so the W and b keep their places and their names."""
        self.dtype = check_dtype(dtype)
        self.extra_names = [name for name, _ in extra]
        self.shapes = [tuple(int(n) for n in shape) for shape in [*shapes, *(shape for _, shape in extra)]]
        self._slices, start = [], 0               # (start, stop, shape) of each parameter in flat
        for shape in self.shapes:
            size = int(np.prod(shape))
            self._slices.append((start, start + size, shape))
            start += size
        self.n_params = start
        self.n_layers = len(shapes) // 2          # layers with parameters, the output layer included
        self.flat = np.zeros(self.n_params, dtype=self.dtype)
        self.params = self.views(self.flat)
        self._grad_buffer, self._grad_views = None, None   # the last `out` given to gradient_views, and its views

    @property
    def param_names(self) -> list[str]:
        """``["W0", "b0", "W1", "b1", ...]`` and then the extra parameters' names, matching ``params`` and the gradients."""
        return [f"{k}{i}" for i in range(self.n_layers) for k in ("W", "b")] + self.extra_names

    def views(self, flat: np.ndarray) -> list[np.ndarray]:
        """Split a flat vector of length ``n_params`` into views shaped like the parameters."""
        return [flat[start:stop].reshape(shape) for start, stop, shape in self._slices]

    def gradient_views(self, out: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """``(grads, flat_grad)`` for a backward pass: views shaped like ``params`` into ``out`` (a flat array of
        ``n_params``, its views made once and reused while the same array comes back) or into a new array."""
        if out is None:
            flat_grad = np.empty(self.n_params, dtype=self.dtype)
            return self.views(flat_grad), flat_grad
        if out is not self._grad_buffer:
            self._grad_buffer, self._grad_views = out, self.views(out)
        return self._grad_views, out

    def init_weights(self, rng: np.random.Generator) -> None:
        """He-normal weights where a ReLU follows (``self.he[i]``), Glorot-uniform elsewhere; zero biases.
        A pair whose ``self.he[i]`` is ``None`` is a LayerNorm's gain and bias: ones and zeros, nothing drawn.

        He: ``W ~ N(0, 2 / fan_in)``; Glorot: ``W ~ U(-l, l)``, ``l = sqrt(6 / (fan_in + fan_out))``, with
        ``fan = receptive field x channels`` (a dense layer's receptive field is 1).
        """
        for i, he in enumerate(self.he):
            W, b = self.params[2 * i], self.params[2 * i + 1]
            if he is None:                                  # a LayerNorm: g = 1, b = 0
                W[...], b[...] = 1.0, 0.0
                continue
            receptive = int(np.prod(W.shape[:-2]))          # conv: kh * kw; dense: 1
            fan_in, fan_out = receptive * W.shape[-2], receptive * W.shape[-1]
            if he:
                W[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=W.shape)
            else:
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                W[...] = rng.uniform(-limit, limit, size=W.shape)
            b[...] = 0.0

    def copy_from(self, other: FlatParams) -> None:
        """Overwrite this network's weights with ``other``'s (same architecture): target <- online."""
        self._check_compatible(other)
        np.copyto(self.flat, other.flat)

    def polyak_from(self, other: FlatParams, tau: float) -> None:
        """Soft update ``theta <- tau * theta_other + (1 - tau) * theta`` (in place)."""
        self._check_compatible(other)
        self.flat *= 1.0 - tau
        self.flat += tau * other.flat

    def get_weights(self) -> list[np.ndarray]:
        """Copies of ``[W0, b0, W1, b1, ...]`` as plain arrays."""
        return [p.copy() for p in self.params]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Set all parameters from a list shaped like ``get_weights()``."""
        weights = list(weights)
        if len(weights) != len(self.params):
            raise ValueError(f"expected {len(self.params)} arrays, got {len(weights)}")
        for name, p, w in zip(self.param_names, self.params, weights):
            if np.shape(w) != p.shape:
                raise ValueError(f"{name}: expected shape {p.shape}, got {np.shape(w)}")
        for p, w in zip(self.params, weights):
            p[...] = w

    def weight_norms(self) -> dict[str, float]:
        """L2 norm of each parameter array, by name (``{"W0": ..., "b0": ...}``)."""
        return {n: float(np.sqrt(np.dot(p.ravel(), p.ravel()))) for n, p in zip(self.param_names, self.params)}
