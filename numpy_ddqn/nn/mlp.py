"""A fully connected network with a hand-written backward pass, and a Q head (``heads.py``) on top.

All parameters live in one flat array, ``net.flat``; ``net.params`` are views into it, in the
order ``[W0, b0, W1, b1, ...]`` with ``W_i: (n_in, n_out)`` (the layout is ``FlatParams``', ``flat.py``), then,
if asked for, each hidden layer's LayerNorm gain and bias (``layernorm.py``) and each layer's noise scales
``sigma_W, sigma_b`` (factorised noisy layers, ``noisy.py``: ``W_i, b_i`` are then their means ``mu``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing

from .flat import FlatParams
from .heads import get_head
from .layernorm import layernorm_backward, layernorm_forward, layernorm_forward_one
from .layers import ACTIVATIONS, linear_backward, linear_forward
from .noisy import FactorisedNoise, init_noisy_linear


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
        layer_norm: a LayerNorm (gain and bias per unit) after every hidden linear layer, before its activation
            (Gallici et al. 2024), ``h = act(LN(x @ W + b))``.
        noisy: every linear layer (the output layer too, whatever the head) a factorised-Gaussian noisy layer
            (Fortunato et al. 2018) with noise scales initialised to ``sigma0 / sqrt(n_in)``. The network computes
            with its mean weights until ``sample_noise(rng)``, and again after ``use_mean()``.

    Weights are Glorot-uniform for tanh/identity layers and He-normal for relu layers (the output
    layer is linear, so Glorot); biases start at zero.
    """

    def __init__(self, sizes: tuple[int, ...] | list[int], activation: str = "tanh",
                 dtype: np.typing.DTypeLike = np.float32, rng: np.random.Generator | None = None,
                 head: str = "linear", head_params: dict | None = None, layer_norm: bool = False,
                 noisy: bool = False, sigma0: float = 0.5) -> None:
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
        self.layer_norm, self.noisy, self.sigma0 = bool(layer_norm), bool(noisy), float(sigma0)
        pairs = list(zip(sizes[:-1], sizes[1:]))
        extra = [(f"ln_{k}{i}", (n,)) for i, n in enumerate(sizes[1:-1]) for k in ("gain", "bias")] if layer_norm else []
        extra += [(f"sigma_{k}{i}", shape) for i, (n_in, n_out) in enumerate(pairs)
                  for k, shape in (("W", (n_in, n_out)), ("b", (n_out,)))] if noisy else []
        self.lay_out([s for n_in, n_out in pairs for s in ((n_in, n_out), (n_out,))], dtype, extra)
        self.he = [activation == "relu"] * (self.n_layers - 1) + [False]   # the output layer is linear: Glorot
        self._mean_layers = [(self.params[2 * i], self.params[2 * i + 1]) for i in range(self.n_layers)]
        self._layers = self._mean_layers          # the (W, b) forward and backward use: the means, or a noisy draw
        extras = self.params[2 * self.n_layers:]
        n_norms = 2 * (self.n_layers - 1) if layer_norm else 0
        self._norms = [{"gain": g, "bias": b} for g, b in zip(extras[:n_norms:2], extras[1:n_norms:2])]
        self._sigmas = list(zip(extras[n_norms::2], extras[n_norms + 1::2]))          # (sigma_W, sigma_b) per layer
        # the W, b of every layer are one contiguous run of flat, [mu], and the sigmas another, [sigma], in the same
        # order: a draw's weights are mu + sigma * eps over the whole run, eps laid out the same way
        self._n_mu = self._slices[2 * self.n_layers][0] if extra else self.n_params
        self._sigma_start = self._slices[2 * self.n_layers + n_norms][0] if noisy else self.n_params
        self._eps = np.zeros(self._n_mu if noisy else 0, self.dtype)      # (n_mu,): eps_W, eps_b of each layer
        self._noisy_flat = np.zeros_like(self._eps)                      # (n_mu,): mu + sigma * eps
        pairs_of = lambda a: [(a[s0:s1].reshape(shape), a[b0:b1]) for (s0, s1, shape), (b0, b1, _) in
                              zip(self._slices[0:2 * self.n_layers:2], self._slices[1:2 * self.n_layers:2])]
        self._noisy_layers = pairs_of(self._noisy_flat) if noisy else []   # (W, b) views of a draw
        # [eps_W; eps_b] of each layer: contiguous views of eps, which a FactorisedNoise draws into
        self.noise_blocks = [self._eps[s0:b1].reshape(shape[0] + 1, shape[1]) for (s0, _, shape), (_, b1, _)
                             in zip(self._slices[0:2 * self.n_layers:2], self._slices[1:2 * self.n_layers:2])
                             ] if noisy else []
        self._noise = FactorisedNoise(self.noise_blocks, self.dtype)
        self._noise_on = False                    # whether forward / backward use the last draw
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
        relu' = [h > 0]). With LayerNorms, each one's ``x_hat`` (B, H) and ``inv_std`` (B, 1) follow, in
        layer order: every entry is batch-first, so a caller may slice the cache by rows.

        ``reuse=True`` writes every layer's output into arrays this network keeps for batches of B
        rows (made on the first such call): the training step's way, allocating nothing. The output
        and cache are then overwritten by the next ``reuse=True`` forward of B rows.

        ``raw=True`` (a distributional head): return the head's ``outputs``, the (B, A, N) distribution, not Q.
        """
        h = np.asarray(x, dtype=self.dtype)
        if h.ndim != 2 or h.shape[1] != self.sizes[0]:
            raise ValueError(f"expected input of shape (B, {self.sizes[0]}), got {np.shape(x)}")
        z_out = (self._workspace(h.shape[0]) if reuse else self._allocate).z
        cache, norm_cache = [h], []
        for i, ((W, b), z) in enumerate(zip(self._layers[:-1], z_out)):
            z = linear_forward(h, W, b, out=z)    # (B, n_out)
            if self.layer_norm:                   # LN before the activation, in place; keeps x_hat, inv_std
                z, (x_hat, inv_std, _) = layernorm_forward(z, self._norms[i], out=z)
                norm_cache += (x_hat, inv_std)    # (B, n_out), (B, 1)
            h = self._act_forward(z, out=z)       # activation in place
            cache.append(h)
        W, b = self._layers[-1]
        out = linear_forward(h, W, b, out=z_out[-1])                             # linear output layer
        return (self.head.outputs(out) if raw else self.head.forward(out)), cache + norm_cache   # the head

    def __call__(self, x):                        # x: (B, n_in) -> (B, A)
        """Forward without keeping a cache (acting, evaluation, targets)."""
        return self.forward(x)[0]

    def forward_one(self, x: np.ndarray) -> np.ndarray:   # x: (n_in,) -> q: (A,)
        """The Q-values of one input vector: acting on a single observation.

        The same layers as ``forward`` through vector-matrix products (``np.dot``) into arrays kept
        between calls, and LayerNorms with scalar statistics (``layernorm_forward_one``): about half the
        cost of a one-row ``forward``, with the same values (with LayerNorms, up to rounding in float32).
        The result is overwritten by the next call.
        """
        h = np.asarray(x, dtype=self.dtype)
        if h.shape != self.sizes[:1]:
            h = h.reshape(self.sizes[0])          # (1, n_in) or any shape of n_in values
        if self._one is None:                     # each layer's output (n_out,), and a 0-d LayerNorm statistic
            self._one = [np.empty(n, self.dtype) for n in self.sizes[1:]] + [np.empty((), self.dtype)]
        if self._norms:                           # LayerNorms: each in place between its linear layer and activation
            for (W, b), z, norm in zip(self._layers[:-1], self._one, self._norms):
                z = linear_forward(h, W, b, z, np.dot)
                h = self._act_forward(layernorm_forward_one(z, norm, stat=self._one[-1]), out=z)
        else:
            for (W, b), z in zip(self._layers[:-1], self._one):
                z = linear_forward(h, W, b, z, np.dot)   # (n_out,); np.dot: a vector-matrix product costs less
                h = self._act_forward(z, out=z)
        W, b = self._layers[-1]
        return self.head.forward(linear_forward(h, W, b, self._one[-2], np.dot))

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
        L, n_norms = self.n_layers, len(self._norms)
        for i in reversed(range(L)):
            x = cache[i]                          # this layer's input = previous activation
            dx, _, _ = linear_backward(dz, x, self._layers[i][0], grads[2 * i], grads[2 * i + 1],
                                       need_dx=i > 0, dx=work.dx[i])
            if i > 0:                             # through the previous layer's activation
                dz = self._act_backward(dx, x, out=work.dz[i])
                if n_norms:                       # and its LayerNorm, in place; dgain, dbias straight into grads
                    k = L + 2 * (i - 1)           # its x_hat, inv_std in the cache; its dgain, dbias in grads
                    dz, _ = layernorm_backward(dz, (cache[k], cache[k + 1], self._norms[i - 1]["gain"]),
                                               grads[L + k], grads[L + k + 1], out=dz)
        if self.noisy:                            # dsigma = dmu * eps (the draw held fixed); 0 for the mean forward
            d_sigma = flat_grad[self._sigma_start:]
            if self._noise_on:
                np.multiply(flat_grad[:self._n_mu], self._eps, out=d_sigma)
            else:
                d_sigma[...] = 0.0
        return grads, flat_grad

    # -- noisy layers: a draw of the noise, or the mean weights ---------------------------

    def sample_noise(self, rng: np.random.Generator) -> None:
        """Draw new factorised noise for every layer from ``rng`` (``noisy.FactorisedNoise``: one call) and
        compute with ``W = mu_W + sigma_W * eps_W``, ``b = mu_b + sigma_b * eps_b`` until ``use_mean()``."""
        if not self.noisy:
            raise ValueError("sample_noise needs a noisy network (noisy=True)")
        self._noise.draw(rng)                     # eps: (n_mu,), every layer's eps_W, eps_b
        self.use_noise()

    def use_noise(self) -> None:
        """Compute with ``W = mu_W + sigma_W * eps_W``, ``b = mu_b + sigma_b * eps_b`` for the noise in
        ``noise_blocks`` as it is (drawn by ``sample_noise``, or by a ``FactorisedNoise`` over several networks'
        blocks: the agent's one draw for its online and target networks) until ``use_mean()``."""
        if not self.noisy:
            raise ValueError("use_noise needs a noisy network (noisy=True)")
        np.multiply(self.flat[self._sigma_start:], self._eps, out=self._noisy_flat)   # (n_mu,) for every layer at once
        self._noisy_flat += self.flat[:self._n_mu]
        self._layers, self._noise_on = self._noisy_layers, True

    def use_mean(self) -> None:
        """Compute with the mean weights ``mu`` (greedy evaluation, the exported policy)."""
        self._layers, self._noise_on = self._mean_layers, False

    def init_weights(self, rng: np.random.Generator) -> None:
        """As ``FlatParams.init_weights``; a noisy net's layers as the paper's (``init_noisy_linear``), LayerNorms
        as the identity (g = 1, b = 0)."""
        if not self.noisy:
            super().init_weights(rng)
        for (W, b), (sigma_W, sigma_b) in zip(self._mean_layers, self._sigmas):
            p = init_noisy_linear(W.shape[0], W.shape[1], rng, self.sigma0, self.dtype)
            W[...], b[...], sigma_W[...], sigma_b[...] = p["mu_W"], p["mu_b"], p["sigma_W"], p["sigma_b"]
        for norm in self._norms:
            norm["gain"][...], norm["bias"][...] = 1.0, 0.0

    def export_weights(self) -> tuple[list[np.ndarray], str | None]:
        """``(weights, layers)`` of the greedy policy: copies of the mean ``[W0, b0, ...]`` (noise scales left out),
        and ``None``; with LayerNorms, the layer list ``dense64,layernorm,tanh,...`` and its weights in that order."""
        weights = [p.copy() for pair in self._mean_layers for p in pair]
        if not self.layer_norm:
            return weights, None
        ordered = [a for i, norm in enumerate(self._norms) for a in (*weights[2 * i:2 * i + 2], norm["gain"].copy(),
                                                                     norm["bias"].copy())]
        layers = ",".join(f"dense{n},layernorm,{self.activation}" for n in self.sizes[1:-1])
        return ordered + weights[-2:], layers

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
        if (self.sizes, self.dtype, self.head_name, self.head.params, self.layer_norm, self.noisy) != (
                other.sizes, other.dtype, getattr(other, "head_name", None),
                getattr(getattr(other, "head", None), "params", None), getattr(other, "layer_norm", False),
                getattr(other, "noisy", False)):
            raise ValueError(f"network mismatch: {self!r} vs {other!r}")

    def __repr__(self):
        head = "" if self.head_name == "linear" else f", head={self.head_name!r}"
        head += ", layer_norm=True" if self.layer_norm else ""
        head += f", noisy=True, sigma0={self.sigma0}" if self.noisy else ""
        return (f"MLP(sizes={self.sizes[:-1] + (self.n_actions,)}, activation={self.activation!r}{head}, "
                f"dtype={self.dtype.name})")
