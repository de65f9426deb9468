"""A fully connected network with a hand-written backward pass, and a Q head (``heads.py``) on top.

All parameters live in one flat array, ``net.flat``; ``net.params`` are views into it, in the
order ``[W0, b0, W1, b1, ...]`` with ``W_i: (n_in, n_out)`` (the layout is ``FlatParams``', ``flat.py``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing

from .flat import FlatParams
from .heads import get_head
from .layers import ACTIVATIONS, linear_backward, linear_forward


class Workspace(NamedTuple):
    """Arrays an MLP's ``reuse=True`` forward and backward write into, for one batch size."""
    z: list        # z[i]: (B, sizes[i + 1]), linear layer i's output (the activation overwrites it in place)
    dx: list       # dx[i]: (B, sizes[i]), the gradient at layer i's input (i >= 1)
    dz: list       # dz[i]: (B, sizes[i]), dx[i] through the activation below it (i >= 1)


class MLP(FlatParams):
    """Multi-layer perceptron: ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``, a linear output layer and a head.

    Args:
        sizes: layer widths including input and output, e.g. ``(4, 64, 64, 2)``.
        activation: hidden activation, one of ``"tanh"`` (default), ``"relu"``, ``"identity"``.
        dtype: ``float32`` for training, ``float64`` for gradient checks. Inputs are converted to
            it; nothing is upcast.
        rng: ``numpy.random.Generator`` for the initial weights (``default_rng(0)`` if omitted).
        head: a key of ``heads.HEADS``: ``"linear"`` (the output layer gives Q) or ``"dueling"`` (it gives
            ``1 + sizes[-1]`` outputs, V and the advantages). ``sizes[-1]`` is the number of actions either way.

    Weights are Glorot-uniform for tanh/identity layers and He-normal for relu layers (the output
    layer is linear, so Glorot); biases start at zero.
    """

    def __init__(self, sizes: tuple[int, ...] | list[int], activation: str = "tanh",
                 dtype: np.typing.DTypeLike = np.float32, rng: np.random.Generator | None = None,
                 head: str = "linear", head_params: dict | None = None) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least an input and an output width, all >= 1; got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.head_name, self.head, self.n_actions = head, get_head(head, **(head_params or {})), sizes[-1]
        if self.n_actions < self.head.min_actions:
            raise ValueError(f"a {head} head needs at least {self.head.min_actions} actions, got sizes {sizes}")
        self.sizes = sizes = (*sizes[:-1], self.head.n_outputs(self.n_actions))   # layer widths, head outputs last
        self.activation = activation
        self._act_forward, self._act_backward = ACTIVATIONS[activation]
        self.lay_out([s for n_in, n_out in zip(sizes[:-1], sizes[1:]) for s in ((n_in, n_out), (n_out,))], dtype)
        self.he = [activation == "relu"] * (self.n_layers - 1) + [False]   # the output layer is linear: Glorot
        self._layers = [(self.params[2 * i], self.params[2 * i + 1]) for i in range(self.n_layers)]
        self._workspaces = {}                     # rows -> Workspace, for reuse=True
        self._one = None                          # forward_one's layer outputs, made on its first call
        none = [None] * self.n_layers
        self._allocate = Workspace(none, none, none)   # reuse=False: no arrays given, every step allocates
        self.init_weights(np.random.default_rng(0) if rng is None else rng)

    # -- forward / backward -------------------------------------------------------------

    def forward(self, x: np.ndarray, reuse: bool = False, raw: bool = False
                ) -> tuple[np.ndarray, list[np.ndarray]]:   # x: (B, n_in) -> q: (B, A) (raw: (B, A, N)), cache
        """Return ``(out, cache)``; ``cache`` holds exactly what ``backward`` needs.

        ``cache[i]`` is the input of linear layer i: the network input, then each hidden
        activation, which is also what the activation's backward needs (tanh' = 1 - h**2,
        relu' = [h > 0]).

        ``reuse=True`` writes every layer's output into arrays this network keeps for batches of B
        rows (made on the first such call): the training step's way, allocating nothing. The output
        and cache are then overwritten by the next ``reuse=True`` forward of B rows.

        ``raw=True`` (a distributional head): return the head's ``outputs``, the (B, A, N) distribution, not Q.
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
        out = linear_forward(h, W, b, out=z_out[-1])                             # linear output layer
        return (self.head.outputs(out) if raw else self.head.forward(out)), cache   # the head

    def __call__(self, x):                        # x: (B, n_in) -> (B, A)
        """Forward without keeping a cache (acting, evaluation, targets)."""
        return self.forward(x)[0]

    def forward_one(self, x: np.ndarray) -> np.ndarray:   # x: (n_in,) -> q: (A,)
        """The Q-values of one input vector: acting on a single observation.

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
            z = linear_forward(h, W, b, z, np.dot)   # (n_out,); np.dot: a vector-matrix product costs less
            h = self._act_forward(z, out=z)
        W, b = self._layers[-1]
        return self.head.forward(linear_forward(h, W, b, self._one[-1], np.dot))

    def backward(self, dout: np.ndarray, cache: list[np.ndarray], out: np.ndarray | None = None,
                 reuse: bool = False) -> tuple[list[np.ndarray], np.ndarray]:    # dout: (B, n_out) -> grads like params
        """Gradients of a loss with respect to every parameter, given ``dout = dL/d(output)``.

        Args:
            dout: ``(B, A)`` upstream gradient dL/dQ (a distributional head: ``(B, A, N)``, dL/d outputs).
            cache: the cache from the ``forward`` call that produced the output.
            out: optional flat array of length ``n_params`` (dtype of the net) to write into.
            reuse: write the gradients flowing between layers into arrays kept for batches of B rows
                (as ``forward``'s ``reuse``) instead of new ones.
        Returns:
            ``(grads, flat_grad)``: ``grads`` are views shaped like ``params`` into ``flat_grad``.
            The gradients are overwritten on every call, never accumulated.
        """
        grads, flat_grad = self.gradient_views(out)
        dz = self.head.backward(np.asarray(dout, dtype=self.dtype))   # (B, sizes[-1]): through the head
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

    # -- weights as plain data: layout, init, copy, Polyak, get/set and norms are FlatParams' (flat.py) --

    def _check_compatible(self, other):
        if (self.sizes, self.dtype, self.head_name, self.head.params) != (
                other.sizes, other.dtype, getattr(other, "head_name", None),
                getattr(getattr(other, "head", None), "params", None)):
            raise ValueError(f"network mismatch: {self!r} vs {other!r}")

    def __repr__(self):
        head = "" if self.head_name == "linear" else f", head={self.head_name!r}"
        return (f"MLP(sizes={self.sizes[:-1] + (self.n_actions,)}, activation={self.activation!r}{head}, "
                f"dtype={self.dtype.name})")
