"""Parameters as one flat array: what ``MLP`` and the layer-list ``Network`` share.

A network keeps every parameter in ``self.flat`` and the views ``self.params = [W0, b0, W1, b1, ...]``
into it, laid out by ``self._slices`` (start, stop, shape); it names them in ``param_names`` and says in
``_check_compatible`` which other networks have the same architecture. Everything below is then one
NumPy call over the flat vector, or a loop over the views.
"""
from __future__ import annotations

import numpy as np


class FlatParams:
    """Weights as plain data, for networks whose parameters live in one flat array."""

    def views(self, flat: np.ndarray) -> list[np.ndarray]:
        """Split a flat vector of length ``n_params`` into views shaped like the parameters."""
        return [flat[start:stop].reshape(shape) for start, stop, shape in self._slices]

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
