"""A network described as a short list of layers: convolutions, dense layers, activations, flatten.

The description is one string of comma-separated layers (``Config.layers``), for instance the MinAtar
reference network (Young & Tian 2019):

    "conv16x3,relu,flatten,dense128,relu"      -> conv 16 filters 3x3, ReLU, flatten, 128 units, ReLU

    conv{F}x{K}[s{S}][same|valid]   2-D convolution, F filters of K x K, stride S (1), padding (valid)
    dense{N}                        fully connected layer of N units
    relu | tanh | identity          an activation
    layernorm                       LayerNorm over the features of a vector (gain and bias per feature,
                                    ``layernorm.py``), e.g. dense128,layernorm,relu (Gallici et al. 2024)
    flatten                         (B, H, W, C) -> (B, H*W*C), in NHWC order; implied before the
                                    first dense layer that follows a convolution

A linear output layer of the head's width (``heads.HEADS``: ``n_actions``, or ``1 + n_actions`` read as V and A
with a dueling head) and the head are always appended. Parameters live in one flat array (``net.flat``) with views
``W0, b0, W1, b1, ...`` in layer order (conv ``W: (kh, kw, C_in, C_out)``, dense ``W: (n_in, n_out)``), laid out
by ``FlatParams`` (``flat.py``) as ``MLP``'s, so optimizers, target syncs and checkpoints treat both alike.

``noisy=True`` makes every dense layer, the output layer included, a factorised-Gaussian noisy layer (``noisy.py``;
convolutions stay plain, as in Fortunato et al. 2018): its ``W, b`` are the means and its noise scales
``sigma_W{j}, sigma_b{j}`` follow every other parameter in ``flat``.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from .conv import conv2d_backward, conv2d_forward, conv_output_shape
from .flat import FlatParams
from .heads import get_head
from .layernorm import layernorm_backward_packed, layernorm_forward_packed
from .layers import ACTIVATIONS, linear_backward, linear_forward
from .noisy import FactorisedNoise, init_noisy_linear


class Layer(NamedTuple):
    """One parsed layer: ``kind`` is conv, dense, flatten, layernorm or an activation name."""
    kind: str
    units: int = 0            # conv: filters; dense: units
    kernel: int = 0           # conv: kernel size (square)
    stride: int = 1           # conv
    padding: str = "valid"    # conv

    def __str__(self):
        if self.kind == "conv":
            return (f"conv{self.units}x{self.kernel}" + (f"s{self.stride}" if self.stride != 1 else "")
                    + ("same" if self.padding == "same" else ""))
        return f"dense{self.units}" if self.kind == "dense" else self.kind


_CONV = re.compile(r"conv(\d+)x(\d+)(?:s(\d+))?(same|valid)?")
_DENSE = re.compile(r"dense(\d+)")


def parse_layers(text: str) -> list[Layer]:
    """``"conv16x3,relu,flatten,dense128,relu"`` -> a list of ``Layer``; ``ValueError`` naming a bad one."""
    layers = []
    for token in (t.strip() for t in str(text).split(",")):
        conv, dense = _CONV.fullmatch(token), _DENSE.fullmatch(token)
        if conv:
            f, k, s, pad = conv.groups()
            layer = Layer("conv", int(f), int(k), int(s or 1), pad or "valid")
            if min(layer.units, layer.kernel, layer.stride) < 1:
                raise ValueError(f"layer {token!r}: filters, kernel size and stride must be >= 1")
        elif dense:
            layer = Layer("dense", int(dense.group(1)))
            if layer.units < 1:
                raise ValueError(f"layer {token!r}: a dense layer needs >= 1 units")
        elif token in ACTIVATIONS or token in ("flatten", "layernorm"):
            layer = Layer(token)
        else:
            raise ValueError(f"unknown layer {token!r}; expected conv{{F}}x{{K}}[s{{S}}][same], dense{{N}}, "
                             f"flatten, layernorm or an activation ({', '.join(ACTIVATIONS)}), comma-separated, "
                             f"like conv16x3,relu,flatten,dense128,relu")
        layers.append(layer)
    if not layers or not any(layer.kind in ("conv", "dense") for layer in layers):
        raise ValueError(f"layers {text!r} hold no conv or dense layer")
    return layers


class _Op(NamedTuple):
    """A built layer: its kind, parameter index (or -1), input and output shapes (without the batch)."""
    layer: Layer
    param: int
    in_shape: tuple
    out_shape: tuple


def build_ops(layers: list[Layer], input_shape: tuple, n_out: int) -> list[_Op]:
    """Shapes through the layers, the implied flattens and the linear head; ``ValueError`` if they do not fit."""
    ops, shape, n_params = [], tuple(input_shape), 0
    for layer in [*layers, Layer("dense", n_out)]:
        if layer.kind == "conv":
            if len(shape) != 3:
                raise ValueError(f"layer {layer} needs image input (H, W, C); it gets shape {shape}")
            h_out, w_out, _ = conv_output_shape(shape[0], shape[1], layer.kernel, layer.kernel, layer.stride,
                                                layer.padding)
            ops.append(_Op(layer, n_params, shape, (h_out, w_out, layer.units)))
            n_params += 1
        elif layer.kind == "dense":
            if len(shape) != 1:                   # flatten first
                ops.append(_Op(Layer("flatten"), -1, shape, (int(np.prod(shape)),)))
                shape = ops[-1].out_shape
            ops.append(_Op(layer, n_params, shape, (layer.units,)))
            n_params += 1
        elif layer.kind == "flatten":
            ops.append(_Op(layer, -1, shape, (int(np.prod(shape)),)))
        elif layer.kind == "layernorm":
            if len(shape) != 1:
                raise ValueError(f"layer layernorm needs a vector of features; it gets shape {shape} "
                                 f"(put it after a dense layer)")
            ops.append(_Op(layer, n_params, shape, shape))
            n_params += 1
        else:
            ops.append(_Op(layer, -1, shape, shape))
        shape = ops[-1].out_shape
    return ops


def _param_shapes(op):
    if op.layer.kind == "conv":
        k = op.layer.kernel
        return [(k, k, op.in_shape[2], op.layer.units), (op.layer.units,)]
    if op.layer.kind == "layernorm":              # gain and bias, in the places of a W and b
        return [op.in_shape, op.in_shape]
    return [(op.in_shape[0], op.layer.units), (op.layer.units,)]


def count_params(layers: str | list[Layer], input_shape: tuple, n_out: int, noisy: bool = False) -> int:
    """Parameters of the network ``layers`` on ``input_shape`` with ``n_out`` outputs (nothing allocated); ``noisy``:
    with a noise scale beside every dense layer's weight and bias."""
    layers = parse_layers(layers) if isinstance(layers, str) else layers
    return sum(int(np.prod(s)) * (2 if noisy and op.layer.kind == "dense" else 1)
               for op in build_ops(layers, input_shape, n_out) if op.param >= 0 for s in _param_shapes(op))


class Network(FlatParams):
    """A Q-network from a layer list: ``input_shape -> layers -> linear output layer -> head -> n_actions Q-values``.

    Args:
        input_shape: one observation's shape, ``(H, W, C)`` for images or ``(n,)`` for vectors.
        layers: the layer description (see the module docstring) or a list of ``Layer``.
        n_actions: Q-values out.
        head: a key of ``heads.HEADS`` (``"linear"``, ``"dueling"``: ``Q = V + A - mean_a A``); ``True`` /
            ``False`` (the old ``dueling`` argument) mean ``"dueling"`` / ``"linear"``.
        dtype: ``float32`` for training, ``float64`` for gradient checks.
        rng: ``numpy.random.Generator`` for the initial weights (``default_rng(0)`` if omitted).
        noisy: every dense layer (the output layer too) noisy, noise scales initialised to ``sigma0 / sqrt(n_in)``;
            the means are used until ``sample_noise(rng)`` and again after ``use_mean()``, as ``MLP``'s.

    Same interface as ``MLP``: ``flat``, ``params``, ``views``, ``param_names``, ``forward`` returning
    ``(q, cache)``, ``forward_one``, ``backward(dq, cache, out=)``, ``copy_from``, ``polyak_from``,
    ``get_weights`` (``reuse`` is accepted and has no effect: convolutions allocate per batch). Inputs
    are cast to ``dtype`` per batch (a uint8 or bool image batch is read as 0/1 floats); a batch of
    flattened observations ``(B, prod(input_shape))`` is accepted too.
    """

    def __init__(self, input_shape: tuple, layers: str | list[Layer], n_actions: int, head: str | bool = "linear",
                 dtype=np.float32, rng: np.random.Generator | None = None, head_params: dict | None = None,
                 noisy: bool = False, sigma0: float = 0.5) -> None:
        self.input_shape = tuple(int(s) for s in input_shape)
        self.layers = parse_layers(layers) if isinstance(layers, str) else list(layers)
        if isinstance(head, bool):
            head = "dueling" if head else "linear"
        self.head_name, self.head, self.n_actions = head, get_head(head, **(head_params or {})), int(n_actions)
        if self.n_actions < self.head.min_actions:
            raise ValueError(f"a {head} head needs >= {self.head.min_actions} actions, got {n_actions}")
        self.ops = build_ops(self.layers, self.input_shape, self.head.n_outputs(self.n_actions))
        self.description = ",".join(map(str, self.layers))
        self.sizes = (self.input_shape, self.description, self.n_actions)   # what two networks must share
        self.noisy, self.sigma0 = bool(noisy), float(sigma0)
        dense = [op for op in self.ops if op.layer.kind == "dense"] if noisy else []
        extra = [(f"sigma_{k}{op.param}", shape) for op in dense for k, shape in zip("Wb", _param_shapes(op))]
        self.lay_out([s for op in self.ops if op.param >= 0 for s in _param_shapes(op)], dtype, extra)
        self._wb = self._mean_wb = [(self.params[2 * j], self.params[2 * j + 1]) for j in range(self.n_layers)]
        sigmas = self.params[2 * self.n_layers:]
        self._noisy = [(op.param, W_s, b_s) for op, W_s, b_s in zip(dense, sigmas[::2], sigmas[1::2])]   # j, sigmas
        blocks = [np.zeros((W_s.shape[0] + 1, W_s.shape[1]), self.dtype) for _, W_s, _ in self._noisy]
        self._eps = [(block[:-1], block[-1]) for block in blocks]        # (eps_W, eps_b) views of [eps_W; eps_b]
        self.noise_blocks = blocks                # [eps_W; eps_b] of each noisy layer, which a FactorisedNoise draws into
        self._noise = FactorisedNoise(blocks, self.dtype)
        self._noisy_wb = list(self._mean_wb)
        for j, W_s, b_s in self._noisy:           # a draw's weights for the noisy layers, the means for the rest
            self._noisy_wb[j] = (np.zeros_like(W_s), np.zeros_like(b_s))
        self._noise_on = False
        # He where a ReLU follows the layer (past a flatten or LayerNorm), Glorot elsewhere: the output layer, tanh,
        # identity; None: a LayerNorm's gain and bias (ones and zeros)
        self.he = [None if op.layer.kind == "layernorm" else
                   next((o.layer.kind for o in self.ops[i + 1:] if o.layer.kind not in ("flatten", "layernorm")),
                        None) == "relu"
                   for i, op in enumerate(self.ops) if op.param >= 0]
        self._first_param_op = next(i for i, op in enumerate(self.ops) if op.param >= 0)
        self._input_size = int(np.prod(self.input_shape))
        self.init_weights(np.random.default_rng(0) if rng is None else rng)

    # -- forward / backward -------------------------------------------------------------

    def forward(self, x: np.ndarray, reuse: bool = False, raw: bool = False
                ) -> tuple[np.ndarray, list[np.ndarray]]:   # x: (B, *input_shape) -> q: (B, A) (raw: (B, A, N)), cache
        """Return ``(q, cache)``; ``cache[i]`` is what op i's backward needs, every entry batch-first.
        ``raw=True`` (a distributional head): the head's ``outputs`` (B, A, N) instead of Q.

        dense: its input; conv: its im2col columns; activation: its output; flatten: its input; layernorm:
        ``[x_hat | inv_std]``, (B, H + 1).
        """
        h = np.asarray(x, dtype=self.dtype)
        if h.shape[1:] != self.input_shape:
            if h.ndim != 2 or h.shape[1] != self._input_size:
                raise ValueError(f"expected input of shape (B, {', '.join(map(str, self.input_shape))}), "
                                 f"got {np.shape(x)}")
            h = h.reshape((h.shape[0], *self.input_shape))
        cache, fresh = [], False                  # fresh: h is a layer's new output, no one else's array
        for op in self.ops:
            kind = op.layer.kind
            if kind == "conv":
                W, b = self._wb[op.param]
                h, cols = conv2d_forward(h, W, b, op.layer.stride, op.layer.padding)
                cache.append(cols)
            elif kind == "dense":
                cache.append(h)
                h = linear_forward(h, *self._wb[op.param])
            elif kind == "flatten":
                cache.append(h)
                h = h.reshape(h.shape[0], -1)     # NHWC order: (h, w, c), c fastest
            elif kind == "layernorm":
                norm = {"gain": self.params[2 * op.param], "bias": self.params[2 * op.param + 1]}
                h, packed = layernorm_forward_packed(h, norm)
                cache.append(packed)
            else:                                 # in place only on a fresh output, never on a cached array
                h = ACTIVATIONS[kind][0](h, out=h if fresh else None)
                cache.append(h)
            fresh = kind in ("conv", "dense", "layernorm")
        return (self.head.outputs(h) if raw else self.head.forward(h)), cache

    def __call__(self, x):                        # x: (B, *input_shape) -> (B, A)
        """Forward without keeping a cache (acting, evaluation, targets)."""
        return self.forward(x)[0]

    def forward_one(self, x: np.ndarray) -> np.ndarray:   # x: one observation (any shape of its values) -> q: (A,)
        """The Q-values of one observation (a one-row ``forward``)."""
        return self.forward(np.reshape(x, (1, *self.input_shape)))[0][0]

    def backward(self, dout: np.ndarray, cache: list[np.ndarray], out: np.ndarray | None = None,
                 reuse: bool = False) -> tuple[list[np.ndarray], np.ndarray]:   # dout: (B, A) -> grads like params
        """Gradients of a loss with respect to every parameter, given ``dout = dL/dQ`` (see ``MLP.backward``)."""
        grads, flat_grad = self.gradient_views(out)
        dh = self.head.backward(np.asarray(dout, dtype=self.dtype))   # (B, head outputs)
        B = dh.shape[0]
        for i in range(len(self.ops) - 1, self._first_param_op - 1, -1):
            op, c = self.ops[i], cache[i]
            kind, need_dx = op.layer.kind, i > self._first_param_op    # nothing upstream of the first has params
            if kind == "conv":
                j = op.param
                dh, _, _ = conv2d_backward(dh, c, self.params[2 * j], (B, *op.in_shape), op.layer.stride,
                                           op.layer.padding, grads[2 * j], grads[2 * j + 1], need_dx)
            elif kind == "dense":
                j = op.param
                dh, _, _ = linear_backward(dh, c, self._wb[j][0], grads[2 * j], grads[2 * j + 1], need_dx)
            elif kind == "flatten":
                dh = dh.reshape(c.shape)
            elif kind == "layernorm":
                j = op.param
                dh, _ = layernorm_backward_packed(dh, c, self.params[2 * j], grads[2 * j], grads[2 * j + 1])
            else:
                dh = ACTIVATIONS[kind][1](dh, c)
        for (j, _, _), (eps_W, eps_b), k in zip(self._noisy, self._eps, range(2 * self.n_layers, len(grads), 2)):
            if self._noise_on:                    # dsigma = dmu * eps, the draw held fixed
                np.multiply(grads[2 * j], eps_W, out=grads[k])
                np.multiply(grads[2 * j + 1], eps_b, out=grads[k + 1])
            else:                                 # the mean forward does not depend on sigma
                grads[k][...], grads[k + 1][...] = 0.0, 0.0
        return grads, flat_grad

    # -- noisy layers: a draw of the noise, or the mean weights ---------------------------

    def sample_noise(self, rng: np.random.Generator) -> None:
        """Draw new factorised noise for every dense layer from ``rng`` (one call) and compute with
        ``W = mu_W + sigma_W * eps_W``, ``b = mu_b + sigma_b * eps_b`` until ``use_mean()``."""
        if not self.noisy:
            raise ValueError("sample_noise needs a noisy network (noisy=True)")
        self._noise.draw(rng)
        self.use_noise()

    def use_noise(self) -> None:
        """Compute with the noise in ``noise_blocks`` as it is, as ``MLP.use_noise``, until ``use_mean()``."""
        if not self.noisy:
            raise ValueError("use_noise needs a noisy network (noisy=True)")
        for (j, sigma_W, sigma_b), (eps_W, eps_b) in zip(self._noisy, self._eps):
            (W, b), (mu_W, mu_b) = self._noisy_wb[j], self._mean_wb[j]
            np.multiply(sigma_W, eps_W, out=W)
            W += mu_W
            np.multiply(sigma_b, eps_b, out=b)
            b += mu_b
        self._wb, self._noise_on = self._noisy_wb, True

    def use_mean(self) -> None:
        """Compute with the mean weights ``mu`` (greedy evaluation, the exported policy)."""
        self._wb, self._noise_on = self._mean_wb, False

    def init_weights(self, rng: np.random.Generator) -> None:
        """As ``FlatParams.init_weights``; then, in a noisy network, each dense layer as the paper's
        (``init_noisy_linear``)."""
        super().init_weights(rng)
        for j, sigma_W, sigma_b in self._noisy:
            W, b = self._mean_wb[j]
            p = init_noisy_linear(W.shape[0], W.shape[1], rng, self.sigma0, self.dtype)
            W[...], b[...], sigma_W[...], sigma_b[...] = p["mu_W"], p["mu_b"], p["sigma_W"], p["sigma_b"]

    def export_weights(self) -> tuple[list[np.ndarray], str]:
        """``(weights, layers)`` of the greedy policy: copies of every ``W, b`` (a noisy layer's means) in layer order,
        and the layer list."""
        return [p.copy() for p in self.params[:2 * self.n_layers]], self.description

    # -- weights as plain data: layout, init, copy, Polyak, get/set and norms are FlatParams' (flat.py) --

    def _check_compatible(self, other):
        if (self.sizes, self.dtype, self.head_name, self.head.params, self.noisy) != (
                getattr(other, "sizes", None), other.dtype, getattr(other, "head_name", None),
                getattr(getattr(other, "head", None), "params", None), getattr(other, "noisy", False)):
            raise ValueError(f"network mismatch: {self!r} vs {other!r}")

    def __repr__(self):
        return (f"Network(input_shape={self.input_shape}, layers={self.description!r}, n_actions={self.n_actions}"
                f"{'' if self.head_name == 'linear' else f', head={self.head_name!r}'}"
                f"{f', noisy=True, sigma0={self.sigma0}' if self.noisy else ''}, dtype={self.dtype.name})")
