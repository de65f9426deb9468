"""A trained Q-network's greedy policy, in one file that needs nothing but NumPy.

Copy this file alone into another project, next to a ``policy.npz`` written by
``numpy-ddqn export RUN/last.npz policy.npz``, and act::

    from policy import Policy
    policy = Policy.load("policy.npz")
    action = policy.act(obs)                 # obs: (obs_dim,) -> int
    actions = policy.act(batch)              # batch: (B, obs_dim) -> (B,) int64
    q = policy.q_values(obs)                 # (n_actions,), or (B, n_actions) for a batch

``policy.npz`` holds only what acting needs: the layer widths, the activation, the online network's
weights ``W0, b0, W1, b1, ...`` (``W_i: (n_in, n_out)``), and the env id for reference. The forward
pass is the training network's own (``h = act(h @ W + b)``, linear output, in the weights' dtype), so
the actions are the trained agent's greedy actions exactly. The file records the weights' SHA-256
(``weights_sha256``); ``load`` refuses a file whose weights do not match it.

A network of layers (``Config.layers``, e.g. ``conv16x3,relu,flatten,dense128,relu`` on MinAtar's
``(10, 10, 4)`` frames) is exported with its layer list and observation shape; conv weights are
``(kh, kw, C_in, C_out)``, images NHWC, and ``obs`` is one ``(H, W, C)`` frame or a ``(B, H, W, C)`` batch.
A ``layernorm`` in the list (an MLP trained with ``layer_norm``, exported as ``dense64,layernorm,tanh,...``) takes
a gain and a bias as its pair of weights (``layer_norm``, eps 1e-5); its means are NumPy's, so its Q-values agree
with the training network's to rounding, not bit for bit. A noisy network is exported as its mean weights.
An implicit quantile network (IQN, ``distribution="implicit"``) ends its list in ``iqn{K}`` (its pair of weights is
``cos_W, cos_b``): Q is the mean of Z_tau over the K fixed taus ``(2k - 1) / 2K``, so the policy is deterministic;
the output layer and the head are linear maps, so that mean is the head of one row, the state features times the
mean embedding ``mean_k phi(tau_k)``, ``phi(tau) = ReLU(cos(pi j tau) @ cos_W + cos_b)``, j = 1..n_cos.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FORMAT = "numpy_ddqn.policy/1"
"""The ``format`` entry of a policy file; a reader refuses any other."""

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "identity": lambda z: z}
"""Hidden activations by name: ``z -> h``."""


def write_atomic(path: str | os.PathLike, data) -> str | os.PathLike:
    """Write ``data`` (bytes, or a buffer) to ``path`` atomically; returns ``path``.

    The bytes go to a temporary file beside ``path``, are flushed to disk, then renamed over ``path``
    (``os.replace``): a full disk or a crash mid-write leaves the previous file intact (or none), never a
    truncated one, and the temporary file is removed. Checkpoints and every exported file are written so.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def as_observation(obs, dtype) -> np.ndarray:
    """``obs`` as an array of ``dtype``; ``ValueError`` in one line for what a network cannot act on
    (NaN, inf, complex numbers, objects, strings), instead of acting on it (NaN Q-values, action 0)."""
    x = np.asarray(obs)
    kind = x.dtype.kind
    if kind not in "biuf":
        raise ValueError(f"observations must be real numbers, got an array of dtype {x.dtype}")
    if x.dtype != dtype:
        x = x.astype(dtype)
    # integers are finite. Floats: one observation vector is tested by Python itself (4x cheaper than a NumPy
    # call at this size); anything larger by a sum, the cheap guard (NaN and inf propagate), then the test
    if kind == "f" and not (all(map(math.isfinite, x.tolist())) if x.ndim == 1 and x.size <= 64 else
                            math.isfinite(np.add.reduce(x, axis=None)) or np.isfinite(x).all()):
        raise ValueError(f"observations must be finite, got {obs!r}" if x.size <= 64 else
                         f"observations must be finite, got {np.count_nonzero(~np.isfinite(x))} NaN or inf values")
    return x


def linear_head(out):                           # out: (B, A) -> q: (B, A)
    """Q = out: the last linear layer gives the Q-values."""
    return out


def dueling_head(out):                          # out: (B, 1 + A), read as (V, A) -> q: (B, A)
    """Q = V + A - mean_a A   (Wang et al. 2016)."""
    v, a = out[:, :1], out[:, 1:]
    return v + (a - a.mean(axis=1, keepdims=True))


def atom_rows(out, n, dueling):                 # out: (B, A N) or (B, (1 + A) N) -> (B, A, N)
    """One row of N atoms / quantiles per action; dueling: V + A - mean_a A on every atom (Rainbow)."""
    rows = out.reshape(out.shape[0], -1, n)
    if dueling:
        v, a = rows[:, :1], rows[:, 1:]
        return v + (a - a.mean(axis=1, keepdims=True))
    return rows


def categorical_head(out, n_atoms=51, v_min=-10.0, v_max=10.0, dueling=False):   # -> q: (B, A)
    """Q = sum_i softmax_i(logits) z_i on the support z_i = v_min + i (v_max - v_min) / (N - 1)   (C51)."""
    logits = atom_rows(out, n_atoms, dueling)
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return (e @ np.linspace(v_min, v_max, n_atoms).astype(out.dtype)) / e.sum(axis=2)


def quantile_head(out, n_quantiles=32, dueling=False):   # -> q: (B, A)
    """Q = mean_i theta_i over the quantiles   (QR-DQN)."""
    return atom_rows(out, n_quantiles, dueling).mean(axis=2)


HEADS: dict[str, Callable[..., np.ndarray]] = {
    "linear": linear_head, "dueling": dueling_head,
    "categorical": categorical_head, "categorical_dueling": lambda out, **p: categorical_head(out, **p, dueling=True),
    "quantile": quantile_head, "quantile_dueling": lambda out, **p: quantile_head(out, **p, dueling=True)}
"""Q heads by name (as the training networks' ``numpy_ddqn.nn.heads.HEADS``): ``(out, **head_params) -> q``; the
distributional heads take their parameters (``n_atoms``, ``v_min``, ``v_max``; ``n_quantiles``)."""


def conv2d(x, W, b, stride=1, padding="valid"):     # x: (B, H, W, C) NHWC, W: (kh, kw, C, F) -> (B, Ho, Wo, F)
    """out[n, i, j, f] = b[f] + sum_{p, q, c} xpad[n, i*s + p, j*s + q, c] W[p, q, c, f] (im2col + one product)."""
    kh, kw, c_in, c_out = W.shape
    if padding == "same":                        # out = ceil(in / s), the extra padding after (TensorFlow's)
        pads = [max((-(-n // stride) - 1) * stride + k - n, 0) for n, k in ((x.shape[1], kh), (x.shape[2], kw))]
        x = np.pad(x, ((0, 0), (pads[0] // 2, pads[0] - pads[0] // 2), (pads[1] // 2, pads[1] - pads[1] // 2), (0, 0)))
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]   # (B, Ho, Wo, C, kh, kw)
    B, h_out, w_out = windows.shape[:3]
    cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(B * h_out * w_out, kh * kw * c_in)
    return (cols @ W.reshape(kh * kw * c_in, c_out) + b).reshape(B, h_out, w_out, c_out)


LAYER_NORM_EPS = 1e-5
"""The LayerNorm's epsilon, as training's (``numpy_ddqn.nn.layernorm``) and every exporter's."""


def layer_norm(x, gain, bias, eps=LAYER_NORM_EPS):  # x: (B, H) -> (B, H)
    """y = gain * (x - mean x) / sqrt(var x + eps) + bias over each row's H features (biased variance)."""
    xc = x - x.mean(axis=1, keepdims=True)
    return xc / np.sqrt((xc * xc).mean(axis=1, keepdims=True) + eps) * gain + bias


def implicit_embedding(n_taus, W, b):          # W: (n_cos, H), b: (H,) -> phi: (K, H)
    """phi(tau_k) = ReLU(sum_{j=1..n_cos} cos(pi j tau_k) W_j + b) at the fixed taus tau_k = (2k - 1) / 2K   (IQN)."""
    taus = ((np.arange(n_taus) + 0.5) / n_taus).astype(W.dtype)
    features = np.cos(taus[:, np.newaxis] * (np.pi * np.arange(1, W.shape[0] + 1)).astype(W.dtype))   # (K, n_cos)
    return np.maximum(features @ W + b, 0.0)


def weights_sha256(weights) -> str:
    """SHA-256 of ``[W0, b0, W1, b1, ...]``: each array's dtype, shape and C-order bytes, in order."""
    digest = hashlib.sha256()
    for a in weights:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def parse_layers(text):
    """``"conv16x3,relu,flatten,dense128,relu"`` -> ``[("conv", stride, padding), ("relu",), ...]``."""
    layers = []
    for token in text.split(","):
        conv, dense = re.fullmatch(r"conv(\d+)x(\d+)(?:s(\d+))?(same|valid)?", token), re.fullmatch(r"dense(\d+)", token)
        if conv:
            layers.append(("conv", int(conv.group(3) or 1), conv.group(4) or "valid"))
        elif dense:
            layers.append(("dense",))
        elif re.fullmatch(r"iqn\d+", token):
            layers.append(("iqn", int(token[3:])))
        elif token in ACTIVATIONS or token in ("flatten", "layernorm"):
            layers.append((token,))
        else:
            raise ValueError(f"unknown layer {token!r}")
    return layers


class Policy:
    """The greedy policy ``argmax_a Q(obs, a)`` of an exported Q-network.

    Args:
        weights: ``[W0, b0, W1, b1, ...]``, ``W_i: (n_in, n_out)``, ``b_i: (n_out,)``, one dtype.
        activation: the hidden layers' activation, a key of ``ACTIVATIONS``.
        env_id: the env it was trained on (information only).
        head: ``"linear"`` (the last layer gives Q) or ``"dueling"`` (it gives V and the advantages A,
            and Q = V + A - mean A); a distributional head (``"categorical"``, ``"quantile"``, ``_dueling`` added):
            Q is the mean of the distribution.
        step: the source checkpoint's env step; obs_dtype: the env's observation dtype (information only).
        head_params: a distributional head's parameters (``n_atoms``, ``v_min``, ``v_max``; ``n_quantiles``).
    """

    def __init__(self, weights: list, activation: str = "tanh", env_id: str | None = None,
                 head: str = "linear", layers: str | None = None, obs_shape: tuple | None = None,
                 step: int | None = None, obs_dtype: str | None = None, head_params: dict | None = None) -> None:
        self.step, self.obs_dtype, self.head_params = step, obs_dtype, dict(head_params or {})
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; expected one of {sorted(HEADS)}")
        if len(weights) < 2 or len(weights) % 2:
            raise ValueError(f"expected [W0, b0, W1, b1, ...], got {len(weights)} arrays")
        self.layers = [(np.asarray(weights[i]), np.asarray(weights[i + 1])) for i in range(0, len(weights), 2)]
        self.layer_list, self.obs_shape = layers, None if obs_shape is None else tuple(int(n) for n in obs_shape)
        if layers:                                # a network of layers: checked by one forward of a zero frame
            if self.obs_shape is None:
                raise ValueError("a policy of layers needs the observation shape (obs_shape)")
            self._ops = parse_layers(layers)
            self.dtype, self.activation, self.env_id, self.head = self.layers[0][0].dtype, activation, env_id, head
            self.obs_dim = int(np.prod(self.obs_shape))
            try:
                q = self._forward(np.zeros((1, *self.obs_shape), self.dtype))
            except (ValueError, IndexError, TypeError) as e:
                raise ValueError(f"weights {[W.shape for W, _ in self.layers]} do not fit layers {layers!r} on "
                                 f"observations {self.obs_shape}: {e}") from None
            self.n_actions = q.shape[1]           # after the dueling aggregation: A columns
            return
        for i, (W, b) in enumerate(self.layers):
            n_in = W.shape[0] if W.ndim == 2 else None
            previous = self.layers[i - 1][0].shape[1] if i else n_in
            if W.ndim != 2 or b.shape != (W.shape[1],) or n_in != previous:
                raise ValueError(f"layer {i}: W {W.shape} and b {b.shape} do not chain into a network")
        self.dtype = self.layers[0][0].dtype
        self.activation, self.env_id, self.head = activation, env_id, head
        self.obs_dim = self.layers[0][0].shape[0]
        try:
            self.n_actions = HEADS[head](np.zeros((1, self.layers[-1][0].shape[1]), self.dtype), **self.head_params).shape[1]
        except (TypeError, ValueError) as e:      # parameters the head does not take, outputs it cannot split
            raise ValueError(f"head {head!r} with parameters {self.head_params} does not fit the last layer's "
                             f"{self.layers[-1][0].shape[1]} outputs: {e}") from None
        self._act = ACTIVATIONS[activation]

    def _forward(self, h):                        # (B, *obs_shape) -> (B, A): the layer list, then the head
        weights = iter(self.layers)
        for op in self._ops:
            if op[0] == "conv":
                W, b = next(weights)
                h = conv2d(h, W, b, op[1], op[2])
            elif op[0] in ("dense", "flatten"):
                h = h.reshape(h.shape[0], -1)     # NHWC order; implied before a dense layer
                if op[0] == "dense":
                    W, b = next(weights)
                    h = h @ W + b
            elif op[0] == "layernorm":
                gain, bias = next(weights)
                h = layer_norm(h, gain, bias)
            elif op[0] == "iqn":                 # psi(s) * mean_k phi(tau_k): Q = mean_k Z_tau_k (the head is linear)
                W, b = next(weights)
                h = h * implicit_embedding(op[1], W, b).mean(axis=0)
            else:
                h = ACTIVATIONS[op[0]](h)
        W, b = next(weights)
        q = h.reshape(h.shape[0], -1) @ W + b     # the linear head
        if next(weights, None) is not None:
            raise ValueError("more weights than layers")
        return HEADS[self.head](q, **self.head_params)

    def q_values(self, obs: np.ndarray) -> np.ndarray:                      # (obs_dim,) -> (A,) or (B, obs_dim) -> (B, A)
        """Q-values of one observation or a batch (``ValueError`` for NaN, inf or non-numbers)."""
        x = as_observation(obs, self.dtype)
        if self.layer_list:                       # a frame (H, W, C) or a batch (B, H, W, C)
            single = x.shape == self.obs_shape
            if not single and x.shape[1:] != self.obs_shape:
                raise ValueError(f"expected an observation of shape {self.obs_shape} or a batch "
                                 f"(B, {', '.join(map(str, self.obs_shape))}), got {x.shape}")
            q = self._forward(x.reshape(-1, *self.obs_shape))
            return q[0] if single else q
        single = x.ndim == 1
        if x.shape[-1:] != (self.obs_dim,) or x.ndim not in (1, 2):
            raise ValueError(f"expected an observation of shape ({self.obs_dim},) or a batch (B, {self.obs_dim}), "
                             f"got {x.shape}")
        h = x.reshape(1, self.obs_dim) if single else x
        for W, b in self.layers[:-1]:
            z = h @ W
            z += b
            h = self._act(z)
        W, b = self.layers[-1]
        q = h @ W                                 # the linear output layer
        q += b
        q = HEADS[self.head](q, **self.head_params)
        return q[0] if single else q

    def act(self, obs: np.ndarray, mask: np.ndarray | None = None) -> int | np.ndarray:
        """The greedy action: an ``int`` for one observation, an ``(B,)`` int64 array for a batch.

        ``mask`` ((A,) or (B, A), True / 1 = legal; an env's ``info["action_mask"]``) restricts the argmax to the
        legal actions; ``ValueError`` if it is misshapen or a state has none."""
        q = self.q_values(obs)
        if mask is not None:
            mask = np.asarray(mask).astype(bool)
            if mask.shape != q.shape:
                raise ValueError(f"mask must have the Q-values' shape {q.shape} (True = legal), got {mask.shape}")
            if not mask.any(axis=-1).all():
                raise ValueError("mask has a state with no legal action")
            q = np.where(mask, q, -np.inf)        # an illegal action is never the argmax
        return int(q.argmax()) if q.ndim == 1 else q.argmax(axis=1)

    __call__ = act

    def save(self, path: str | os.PathLike) -> str | os.PathLike:
        """Write the policy file (``.npz``, no pickle)."""
        meta = {"format": FORMAT, "activation": self.activation, "env_id": self.env_id, "head": self.head,
                "sizes": [self.obs_dim] + [W.shape[-1] for W, _ in self.layers]}
        if self.layer_list:
            meta.update(layers=self.layer_list, obs_shape=list(self.obs_shape))
        meta.update({k: v for k, v in (("step", self.step), ("obs_dtype", self.obs_dtype)) if v is not None})
        if self.head_params:
            meta["head_params"] = self.head_params
        meta["weights_sha256"] = weights_sha256(self.weights())
        arrays = {f"{k}{i}": a for i, (W, b) in enumerate(self.layers) for k, a in (("W", W), ("b", b))}
        buf = io.BytesIO()
        np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
        return write_atomic(path, buf.getbuffer())           # a full disk leaves the previous file, not half of one

    @classmethod
    def load(cls, path: str | os.PathLike) -> Policy:
        """Read a policy file written by ``save`` (or ``numpy-ddqn export``); never unpickles.

        The meta is checked against the arrays (their count, shapes and dtypes) before anything is built:
        a tampered or mismatched file is a one-line ``ValueError``.
        """
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise ValueError(f"{path} cannot be read as a policy file: {e}") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"{path} is not a numpy_ddqn policy file (a single array, not an .npz)")
        with data:
            try:
                arrays = {k: data[k] for k in data.files}
            except Exception as e:              # an object array (pickle refused), a damaged zip member
                raise ValueError(f"{path} is not a sound policy file: {e}") from None
        meta = read_meta(arrays, path)
        weights = check_weights(arrays, meta, path)
        if "weights_sha256" in meta and weights_sha256(weights) != meta["weights_sha256"]:   # older files have none
            raise ValueError(f"{path}: the weights do not match the file's SHA-256 {str(meta['weights_sha256'])[:12]}...: "
                             f"the file was altered or damaged; export it again")
        return cls(weights, meta["activation"], meta.get("env_id"), meta.get("head", "linear"), meta.get("layers"),
                   meta.get("obs_shape"), meta.get("step"), meta.get("obs_dtype"), meta.get("head_params"))

    def weights(self) -> list:
        """``[W0, b0, W1, b1, ...]`` as the file stores them."""
        return [a for W, b in self.layers for a in (W, b)]

    def sha256(self) -> str:
        """The weights' SHA-256 (``weights_sha256``): what every exported file records."""
        return weights_sha256(self.weights())

    def __repr__(self):
        if self.layer_list:
            return f"Policy(layers={self.layer_list!r}, obs_shape={self.obs_shape}, env_id={self.env_id!r})"
        sizes = [self.obs_dim] + [W.shape[1] for W, _ in self.layers]
        return f"Policy(sizes={sizes}, activation={self.activation!r}, env_id={self.env_id!r})"


def read_meta(arrays: dict, path) -> dict:
    """The ``meta`` entry of a policy file's arrays, checked field by field (``ValueError`` in one line)."""
    entry = arrays.get("meta")
    if entry is None:
        raise ValueError(f"{path} is not a numpy_ddqn policy file (no meta entry)")
    try:
        meta = json.loads(entry.tobytes().decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: its meta entry is not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: its meta entry is a {type(meta).__name__}, not a JSON object")
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} has format {meta.get('format')!r}; this file reads {FORMAT!r}")
    sizes = meta.get("sizes")
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(type(n) is int and n > 0 for n in sizes)):
        raise ValueError(f"{path}: meta 'sizes' must be a list of at least two positive layer widths, got {sizes!r}")
    if not isinstance(meta.get("activation"), str):
        raise ValueError(f"{path}: meta 'activation' must be a name, got {meta.get('activation')!r}")
    if meta.get("layers") is not None:
        shape = meta.get("obs_shape")
        if not isinstance(meta["layers"], str):
            raise ValueError(f"{path}: meta 'layers' must be a string like 'conv16x3,relu,flatten', got "
                             f"{meta['layers']!r}")
        if not (isinstance(shape, list) and shape and all(type(n) is int and n > 0 for n in shape)):
            raise ValueError(f"{path}: meta 'obs_shape' must be a list of positive sizes, got {shape!r}")
    params = meta.get("head_params", {})
    if not (isinstance(params, dict) and all(type(v) in (int, float) for v in params.values())):
        raise ValueError(f"{path}: meta 'head_params' must map names to numbers, got {params!r}")
    return meta


def check_weights(arrays: dict, meta: dict, path) -> list:
    """``[W0, b0, W1, b1, ...]`` of a policy file, checked against its meta: one ``W``/``b`` pair per layer
    of ``sizes`` and no other, ``W_i``'s last axis and ``b_i`` of width ``sizes[i + 1]`` (an MLP's ``W_i``
    exactly ``(sizes[i], sizes[i + 1])``), one floating dtype. ``ValueError`` in one line otherwise."""
    sizes, n = meta["sizes"], len(meta["sizes"]) - 1
    names = [f"{k}{i}" for i in range(n) for k in ("W", "b")]
    missing = [k for k in names if k not in arrays]
    extra = sorted(k for k in arrays if k != "meta" and k not in names)
    if missing or extra:
        raise ValueError(f"{path}: meta 'sizes' {sizes} names {n} layers, but the file "
                         + (f"has no {', '.join(missing)}" if missing else f"also holds {', '.join(extra)}"))
    weights = [arrays[k] for k in names]
    dtypes = {a.dtype for a in weights}
    if len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
        raise ValueError(f"{path}: weights must share one floating dtype, got {sorted(map(str, dtypes))}")
    layers, norms = meta.get("layers"), set()     # norms: the pairs that are a LayerNorm's gain and bias
    if layers is not None:
        try:
            ops = parse_layers(layers)
        except ValueError as e:
            raise ValueError(f"{path}: meta 'layers' {layers!r}: {e}") from None
        kinds = [op[0] for op in ops if op[0] in ("conv", "dense", "layernorm", "iqn")]   # the ops with a weight pair
        norms = {i for i, kind in enumerate(kinds) if kind == "layernorm"}
        needed = len(kinds) + 1                                           # + the linear head
        if needed != n:
            raise ValueError(f"{path}: layers {layers!r} need {needed} weight pairs, the file has {n}")
        if sizes[0] != int(np.prod(meta["obs_shape"])):
            raise ValueError(f"{path}: meta 'sizes' starts at {sizes[0]}, but obs_shape {meta['obs_shape']} "
                             f"holds {int(np.prod(meta['obs_shape']))} values")
    for i in range(n):
        W, b = weights[2 * i], weights[2 * i + 1]
        shape_ok = W.ndim >= 2 and W.shape[-1] == sizes[i + 1] and (layers is not None or W.shape == (sizes[i], sizes[i + 1]))
        if i in norms:                                # a gain of the width it normalises
            shape_ok = W.shape == (sizes[i + 1],) and sizes[i + 1] == sizes[i]
        if not shape_ok or b.shape != (sizes[i + 1],):
            raise ValueError(f"{path}: W{i} {W.shape} and b{i} {b.shape} do not match meta 'sizes' {sizes}")
    return weights
