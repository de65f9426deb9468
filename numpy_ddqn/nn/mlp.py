"""A fully connected network with a hand-written backward pass.

All parameters live in one flat array, ``net.flat``; ``net.params`` are views into it, in the
order ``[W0, b0, W1, b1, ...]`` with ``W_i: (n_in, n_out)``. The flat layout is what makes
the rest of the library cheap: an optimizer step, a global gradient norm, a target-network
sync and Polyak averaging are each a single NumPy call over one vector, however deep the net.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing

from .flat import FlatParams
from .layers import ACTIVATIONS, linear_backward, linear_forward

INITS = ("glorot", "he")


class Workspace(NamedTuple):
    """Arrays an MLP's ``reuse=True`` forward and backward write into, for one batch size."""
    z: list        # z[i]: (B, sizes[i + 1]), linear layer i's output (the activation overwrites it in place)
    dx: list       # dx[i]: (B, sizes[i]), the gradient at layer i's input (i >= 1)
    dz: list       # dz[i]: (B, sizes[i]), dx[i] through the activation below it (i >= 1)


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


class MLP(FlatParams):
    """Multi-layer perceptron: ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``, linear output.

    Args:
        sizes: layer widths including input and output, e.g. ``(4, 64, 64, 2)``.
        activation: hidden activation, one of ``"tanh"`` (default), ``"relu"``, ``"identity"``.
        dtype: ``float32`` for training, ``float64`` for gradient checks. Inputs are converted to
            it; nothing is upcast.
        rng: ``numpy.random.Generator`` for the initial weights (``default_rng(0)`` if omitted).

    Weights are Glorot-uniform for tanh/identity layers and He-normal for relu layers (the output
    layer is linear, so Glorot); biases start at zero.
    """

    def __init__(self, sizes: tuple[int, ...] | list[int], activation: str = "tanh",
                 dtype: np.typing.DTypeLike = np.float32, rng: np.random.Generator | None = None) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least an input and an output width, all >= 1; got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.sizes = sizes
        self.activation = activation
        self.dtype = _check_dtype(dtype)
        self._act_forward, self._act_backward = ACTIVATIONS[activation]
        self.shapes = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            self.shapes += [(n_in, n_out), (n_out,)]
        self._slices, start = [], 0               # (start, stop, shape) of each parameter in flat
        for shape in self.shapes:
            size = int(np.prod(shape))
            self._slices.append((start, start + size, shape))
            start += size
        self.n_params = start
        self.flat = np.zeros(self.n_params, dtype=self.dtype)
        self.params = self.views(self.flat)
        self.n_layers = len(sizes) - 1            # linear layers: hidden layers + the output layer
        self._layers = [(self.params[2 * i], self.params[2 * i + 1]) for i in range(self.n_layers)]
        self._grad_buffer, self._grad_views = None, None   # views of the last `out` given to backward
        self._workspaces = {}                     # rows -> Workspace, for reuse=True
        self._one = None                          # forward_one's layer outputs, made on its first call
        none = [None] * self.n_layers
        self._allocate = Workspace(none, none, none)   # reuse=False: no arrays given, every step allocates
        self.init_weights(np.random.default_rng(0) if rng is None else rng)

    @property
    def param_names(self) -> list[str]:
        """``["W0", "b0", "W1", "b1", ...]``, matching ``params`` and the gradients."""
        return [f"{k}{i}" for i in range(self.n_layers) for k in ("W", "b")]

    def init_weights(self, rng: np.random.Generator) -> None:
        """Draw fresh weights from ``rng`` (Glorot for tanh/identity and the output, He for relu)."""
        for i in range(self.n_layers):
            W, b = self.params[2 * i], self.params[2 * i + 1]
            n_in, n_out = W.shape
            hidden = i < self.n_layers - 1
            if hidden and self.activation == "relu":
                W[...] = rng.normal(0.0, np.sqrt(2.0 / n_in), size=W.shape)        # He
            else:
                limit = np.sqrt(6.0 / (n_in + n_out))
                W[...] = rng.uniform(-limit, limit, size=W.shape)                  # Glorot
            b[...] = 0.0

    # -- forward / backward -------------------------------------------------------------

    def forward(self, x: np.ndarray, reuse: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:   # x: (B, n_in) -> q: (B, n_out), cache
        """Return ``(out, cache)``; ``cache`` holds exactly what ``backward`` needs.

        ``cache[i]`` is the input of linear layer i: the network input, then each hidden
        activation, which is also what the activation's backward needs (tanh' = 1 - h**2,
        relu' = [h > 0]).

        ``reuse=True`` writes every layer's output into arrays this network keeps for batches of B
        rows (made on the first such call): the training step's way, allocating nothing. The output
        and cache are then overwritten by the next ``reuse=True`` forward of B rows.
        """
        h = np.asarray(x, dtype=self.dtype)
        if h.ndim != 2 or h.shape[1] != self.sizes[0]:
            raise ValueError(f"expected input of shape (B, {self.sizes[0]}), got {np.shape(x)}")
        z_out = (self._workspace(h.shape[0]) if reuse else self._allocate).z
        cache = [h]
        for (W, b), z in zip(self._layers[:-1], z_out):
            z = linear_forward(h, W, b, out=z)    # (B, n_out)
            h = self._act_forward(z, out=z)       # activation in place
            cache.append(h)
        W, b = self._layers[-1]
        return linear_forward(h, W, b, out=z_out[-1]), cache   # linear output layer

    def __call__(self, x):                        # x: (B, n_in) -> (B, n_out)
        """Forward without keeping a cache (acting, evaluation, targets)."""
        return self.forward(x)[0]

    def forward_one(self, x: np.ndarray) -> np.ndarray:   # x: (n_in,) -> out: (n_out,)
        """The output for one input vector: acting on a single observation.

        The same layers as ``forward`` through vector-matrix products (``np.dot``) into arrays kept
        between calls: about half the cost of a one-row ``forward``, with the same values. The result
        is overwritten by the next call.
        """
        h = np.asarray(x, dtype=self.dtype)
        if h.shape != self.sizes[:1]:
            h = h.reshape(self.sizes[0])          # (1, n_in) or any shape of n_in values
        if self._one is None:
            self._one = [np.empty(n, self.dtype) for n in self.sizes[1:]]
        for (W, b), z in zip(self._layers[:-1], self._one):
            z = np.dot(h, W, out=z)               # (n_out,): z = x W + b
            z += b
            h = self._act_forward(z, out=z)
        W, b = self._layers[-1]
        q = np.dot(h, W, out=self._one[-1])
        q += b
        return q

    def backward(self, dout: np.ndarray, cache: list[np.ndarray], out: np.ndarray | None = None,
                 reuse: bool = False) -> tuple[list[np.ndarray], np.ndarray]:    # dout: (B, n_out) -> grads like params
        """Gradients of a loss with respect to every parameter, given ``dout = dL/d(output)``.

        Args:
            dout: ``(B, n_out)`` upstream gradient.
            cache: the cache from the ``forward`` call that produced the output.
            out: optional flat array of length ``n_params`` (dtype of the net) to write into.
            reuse: write the gradients flowing between layers into arrays kept for batches of B rows
                (as ``forward``'s ``reuse``) instead of new ones.
        Returns:
            ``(grads, flat_grad)``: ``grads`` are views shaped like ``params`` into ``flat_grad``.
            The gradients are overwritten on every call, never accumulated.
        """
        if out is None:
            flat_grad = np.empty(self.n_params, dtype=self.dtype)
            grads = self.views(flat_grad)
        else:                                     # a reused buffer: reuse its views too
            if out is not self._grad_buffer:
                self._grad_buffer, self._grad_views = out, self.views(out)
            flat_grad, grads = out, self._grad_views
        dz = np.asarray(dout, dtype=self.dtype)
        work = self._workspace(dz.shape[0]) if reuse else self._allocate
        for i in reversed(range(self.n_layers)):
            x = cache[i]                          # this layer's input = previous activation
            dx, _, _ = linear_backward(dz, x, self.params[2 * i], grads[2 * i], grads[2 * i + 1],
                                       need_dx=i > 0, dx=work.dx[i])
            if i > 0:                             # through the previous layer's activation
                dz = self._act_backward(dx, x, out=work.dz[i])
        return grads, flat_grad

    def _workspace(self, rows):
        """The arrays a ``reuse=True`` forward/backward of ``rows`` rows writes into, made once per row count."""
        work = self._workspaces.get(rows)
        if work is None:
            new = lambda width: np.empty((rows, width), self.dtype)
            work = self._workspaces[rows] = Workspace(
                z=[new(n) for n in self.sizes[1:]],                    # z[i]: output of linear layer i
                dx=[None] + [new(n) for n in self.sizes[1:-1]],        # dx[i]: dL/d(input of layer i), i >= 1
                dz=[None] + [new(n) for n in self.sizes[1:-1]])        # dz[i]: dx[i] through the activation
        return work

    # -- weights as plain data: copy, Polyak, get/set and norms are FlatParams' (flat.py) --

    def _check_compatible(self, other):
        if self.sizes != other.sizes or self.dtype != other.dtype:
            raise ValueError(f"network mismatch: {self.sizes}/{self.dtype} vs {other.sizes}/{other.dtype}")

    def __repr__(self):
        return f"MLP(sizes={self.sizes}, activation={self.activation!r}, dtype={self.dtype.name})"
