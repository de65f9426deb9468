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
"""
from __future__ import annotations

import json
import os
from typing import Callable

import numpy as np

FORMAT = "numpy_ddqn.policy/1"
"""The ``format`` entry of a policy file; a reader refuses any other."""

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "identity": lambda z: z}
"""Hidden activations by name: ``z -> h``."""


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
                 head: str = "linear") -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        if head not in ("linear", "dueling"):
            raise ValueError(f"unknown head {head!r}; expected 'linear' or 'dueling'")
        if len(weights) < 2 or len(weights) % 2:
            raise ValueError(f"expected [W0, b0, W1, b1, ...], got {len(weights)} arrays")
        self.layers = [(np.asarray(weights[i]), np.asarray(weights[i + 1])) for i in range(0, len(weights), 2)]
        for i, (W, b) in enumerate(self.layers):
            n_in = W.shape[0] if W.ndim == 2 else None
            previous = self.layers[i - 1][0].shape[1] if i else n_in
            if W.ndim != 2 or b.shape != (W.shape[1],) or n_in != previous:
                raise ValueError(f"layer {i}: W {W.shape} and b {b.shape} do not chain into a network")
        self.dtype = self.layers[0][0].dtype
        self.activation, self.env_id, self.head = activation, env_id, head
        self.obs_dim = self.layers[0][0].shape[0]
        self.n_actions = self.layers[-1][0].shape[1] - (head == "dueling")
        self._act = ACTIVATIONS[activation]

    def q_values(self, obs: np.ndarray) -> np.ndarray:                      # (obs_dim,) -> (A,) or (B, obs_dim) -> (B, A)
        """Q-values of one observation or a batch."""
        x = np.asarray(obs, dtype=self.dtype)
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
        if self.head == "dueling":                # Q = V + A - mean_a A
            q = q[:, :1] + (q[:, 1:] - q[:, 1:].mean(axis=1, keepdims=True))
        return q[0] if single else q

    def act(self, obs: np.ndarray) -> int | np.ndarray:
        """The greedy action: an ``int`` for one observation, an ``(B,)`` int64 array for a batch."""
        q = self.q_values(obs)
        return int(q.argmax()) if q.ndim == 1 else q.argmax(axis=1)

    __call__ = act

    def save(self, path: str | os.PathLike) -> str | os.PathLike:
        """Write the policy file (``.npz``, no pickle)."""
        meta = {"format": FORMAT, "activation": self.activation, "env_id": self.env_id, "head": self.head,
                "sizes": [self.obs_dim] + [W.shape[1] for W, _ in self.layers]}
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
        return cls(weights, meta["activation"], meta.get("env_id"), meta.get("head", "linear"))

    def __repr__(self):
        sizes = [self.obs_dim] + [W.shape[1] for W, _ in self.layers]
        return f"Policy(sizes={sizes}, activation={self.activation!r}, env_id={self.env_id!r})"
