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
the actions are the trained agent's greedy actions exactly.

A network of layers (``Config.layers``, e.g. ``conv16x3,relu,flatten,dense128,relu`` on MinAtar's
``(10, 10, 4)`` frames) is exported with its layer list and observation shape; conv weights are
``(kh, kw, C_in, C_out)``, images NHWC, and ``obs`` is one ``(H, W, C)`` frame or a ``(B, H, W, C)`` batch.
"""
from __future__ import annotations

import json
import os
import re
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FORMAT = "numpy_ddqn.policy/1"
"""The ``format`` entry of a policy file; a reader refuses any other."""

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "identity": lambda z: z}
"""Hidden activations by name: ``z -> h``."""


def linear_head(out):                           # out: (B, A) -> q: (B, A)
    """Q = out: the last linear layer gives the Q-values."""
    return out


def dueling_head(out):                          # out: (B, 1 + A), read as (V, A) -> q: (B, A)
    """Q = V + A - mean_a A   (Wang et al. 2016)."""
    v, a = out[:, :1], out[:, 1:]
    return v + (a - a.mean(axis=1, keepdims=True))


HEADS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"linear": linear_head, "dueling": dueling_head}
"""Q heads by name (as the training networks' ``numpy_ddqn.nn.heads.HEADS``): ``out -> q``."""


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


def parse_layers(text):
    """``"conv16x3,relu,flatten,dense128,relu"`` -> ``[("conv", stride, padding), ("relu",), ...]``."""
    layers = []
    for token in text.split(","):
        conv, dense = re.fullmatch(r"conv(\d+)x(\d+)(?:s(\d+))?(same|valid)?", token), re.fullmatch(r"dense(\d+)", token)
        if conv:
            layers.append(("conv", int(conv.group(3) or 1), conv.group(4) or "valid"))
        elif dense:
            layers.append(("dense",))
        elif token in ACTIVATIONS or token == "flatten":
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
            and Q = V + A - mean A).
    """

    def __init__(self, weights: list, activation: str = "tanh", env_id: str | None = None,
                 head: str = "linear", layers: str | None = None, obs_shape: tuple | None = None) -> None:
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
            except (ValueError, IndexError) as e:
                raise ValueError(f"weights {[W.shape for W, _ in self.layers]} do not fit layers {layers!r} on "
                                 f"observations {self.obs_shape}: {e}") from None
            self.n_actions = q.shape[1]
            return
        for i, (W, b) in enumerate(self.layers):
            n_in = W.shape[0] if W.ndim == 2 else None
            previous = self.layers[i - 1][0].shape[1] if i else n_in
            if W.ndim != 2 or b.shape != (W.shape[1],) or n_in != previous:
                raise ValueError(f"layer {i}: W {W.shape} and b {b.shape} do not chain into a network")
        self.dtype = self.layers[0][0].dtype
        self.activation, self.env_id, self.head = activation, env_id, head
        self.obs_dim = self.layers[0][0].shape[0]
        self.n_actions = HEADS[head](np.zeros((1, self.layers[-1][0].shape[1]), self.dtype)).shape[1]
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
            else:
                h = ACTIVATIONS[op[0]](h)
        W, b = next(weights)
        q = h.reshape(h.shape[0], -1) @ W + b     # the linear head
        if next(weights, None) is not None:
            raise ValueError("more weights than layers")
        return HEADS[self.head](q)

    def q_values(self, obs: np.ndarray) -> np.ndarray:                      # (obs_dim,) -> (A,) or (B, obs_dim) -> (B, A)
        """Q-values of one observation or a batch."""
        x = np.asarray(obs, dtype=self.dtype)
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
        q = HEADS[self.head](q)
        return q[0] if single else q

    def act(self, obs: np.ndarray) -> int | np.ndarray:
        """The greedy action: an ``int`` for one observation, an ``(B,)`` int64 array for a batch."""
        q = self.q_values(obs)
        return int(q.argmax()) if q.ndim == 1 else q.argmax(axis=1)

    __call__ = act

    def save(self, path: str | os.PathLike) -> str | os.PathLike:
        """Write the policy file (``.npz``, no pickle)."""
        meta = {"format": FORMAT, "activation": self.activation, "env_id": self.env_id, "head": self.head,
                "sizes": [self.obs_dim] + [W.shape[-1] for W, _ in self.layers]}
        if self.layer_list:
            meta.update(layers=self.layer_list, obs_shape=list(self.obs_shape))
        arrays = {f"{k}{i}": a for i, (W, b) in enumerate(self.layers) for k, a in (("W", W), ("b", b))}
        with open(path, "wb") as f:
            np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Policy:
        """Read a policy file written by ``save`` (or ``numpy-ddqn export``)."""
        with np.load(path, allow_pickle=False) as data:
            if "meta" not in data.files:
                raise ValueError(f"{path} is not a numpy_ddqn policy file (no meta entry)")
            meta = json.loads(data["meta"].tobytes().decode())
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path} has format {meta.get('format')!r}; this file reads {FORMAT!r}")
            n = len(meta["sizes"]) - 1
            weights = [data[f"{k}{i}"] for i in range(n) for k in ("W", "b")]
        return cls(weights, meta["activation"], meta.get("env_id"), meta.get("head", "linear"), meta.get("layers"),
                   meta.get("obs_shape"))

    def __repr__(self):
        if self.layer_list:
            return f"Policy(layers={self.layer_list!r}, obs_shape={self.obs_shape}, env_id={self.env_id!r})"
        sizes = [self.obs_dim] + [W.shape[1] for W, _ in self.layers]
        return f"Policy(sizes={sizes}, activation={self.activation!r}, env_id={self.env_id!r})"
