"""IQN's network (Dabney, Ostrovski, Silver & Munos 2018, "Implicit Quantile Networks for Distributional RL").

    psi(s)         the MLP trunk: every hidden layer, h = act([LN](h @ W + b))                       (B, H)
    phi(tau)       ReLU(sum_{j=1..n_cos} cos(pi j tau) w_j + b)   (``cosine.py``)                     (B, N, H)
    Z_tau(s, a)    head(f(psi(s) * phi(tau)))_a, f the last linear layer on the B * N rows           (B, A, N)
    Q(s, a)        mean_k Z_{tau_k}(s, a) over the K fixed taus tau_k = (2k - 1) / 2K

The last linear layer and the head (``heads.HEADS``: "linear", or "dueling": V_tau + A_tau - mean_a A_tau on every
tau) read each (state, tau) pair as one row, so one network gives a quantile function of any number of taus.
Training samples taus ~ U(0, 1) (``sample_taus``); acting, evaluation, Double selection and the exported policy use
the K fixed midpoints, so they are deterministic. Parameters: ``W0, b0, ..., W_L, b_L`` (the hidden layers, then
the output layer), then ``cos_W (n_cos, H), cos_b (H,)`` and, with ``layer_norm``, each hidden layer's gain and bias.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing

from .cosine import (cosine_embedding_backward, cosine_embedding_forward, hadamard_backward, hadamard_forward,
                     init_cosine_embedding)
from .flat import FlatParams
from .heads import Head, get_head
from .layernorm import layernorm_backward_packed, layernorm_forward_packed
from .layers import ACTIVATIONS, linear_backward, linear_forward


def tau_rows_forward(rows, out):                     # rows: Head, out: (B, N, n_out) -> Z: (B, A, N)
    """Z_tau(s, a) = rows.forward(out_{s, tau})_a on every (state, tau) row, the taus last (the quantile rules' layout)."""
    B, N, n_out = out.shape
    return rows.forward(out.reshape(B * N, n_out)).reshape(B, N, -1).transpose(0, 2, 1)


def tau_rows_backward(rows, dz):                     # rows: Head, dZ: (B, A, N) -> dout: (B, N, n_out)
    """The transpose's and the row head's backward: dout_{s, tau} = rows.backward(dZ_{s, :, tau})."""
    B, A, N = dz.shape
    return rows.backward(dz.transpose(0, 2, 1).reshape(B * N, A)).reshape(B, N, -1)


def implicit_head(rows: Head) -> Head:
    """IQN's head from a row head (``HEADS["linear"]`` or ``["dueling"]``): ``outputs`` maps the last linear layer's
    ``(B, N, n_out)`` to ``Z (B, A, N)``, ``mean`` is Q = mean over the taus, ``backward`` takes dL/dZ."""
    mean = lambda z: z.mean(axis=-1)
    outputs = lambda out: tau_rows_forward(rows, out)
    return Head(rows.n_outputs, lambda out: mean(outputs(out)), lambda dz: tau_rows_backward(rows, dz),
                rows.min_actions, outputs, mean)


class ImplicitCache(NamedTuple):
    """What ``ImplicitQuantileMLP.backward`` needs from its forward."""
    hidden: list        # [x, h_1, ..., h_L]: each hidden layer's input, then psi = h_L (B, H)
    norms: list         # each hidden LayerNorm's packed cache (B, H_i + 1), or none
    phi: np.ndarray     # (B or 1, N, H): the taus' embedding (1 row: the fixed taus, shared by the batch)
    cosine: tuple       # the cosine embedding's cache
    mixed: np.ndarray   # (B, N, H): psi * phi, the output layer's input


class ImplicitQuantileMLP(FlatParams):
    """An implicit quantile network on an MLP trunk (see the module docstring for the equations).

    Args:
        sizes: ``(n_in, H_1, ..., H_L, n_actions)``, at least one hidden layer (psi is its output).
        activation: the hidden activation, as ``MLP``'s.
        dtype: ``float32`` for training, ``float64`` for gradient checks.
        rng: ``numpy.random.Generator`` for the initial weights (``default_rng(0)`` if omitted).
        head: the row head, ``"linear"`` or ``"dueling"`` (per tau).
        layer_norm: a LayerNorm after every hidden linear layer, before its activation, as ``MLP``'s.
        n_cos: cosine features of phi(tau).
        n_taus: taus sampled per transition for the online net at s (``learning_forwards``), N.
        n_target_taus: taus sampled per transition for the target net at s', N'.
        n_policy_taus: K, the fixed taus ``(2k - 1) / 2K`` whose mean is Q.

    Same interface as ``MLP`` (``flat``, ``params``, ``forward`` -> ``(q, cache)``, ``forward_one``, ``backward``,
    ``copy_from``, ...); ``forward`` also takes ``taus`` (B, N): without them it uses the K fixed taus.
    """

    noisy = False

    def __init__(self, sizes: tuple[int, ...] | list[int], activation: str = "tanh",
                 dtype: np.typing.DTypeLike = np.float32, rng: np.random.Generator | None = None,
                 head: str = "linear", layer_norm: bool = False, n_cos: int = 64, n_taus: int = 8,
                 n_target_taus: int = 8, n_policy_taus: int = 32) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 3 or min(sizes) < 1:
            raise ValueError(f"an implicit quantile network needs an input, one or more hidden widths and an "
                             f"output, all >= 1; got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if min(n_cos, n_taus, n_target_taus, n_policy_taus) < 1:
            raise ValueError(f"n_cos, n_taus, n_target_taus and n_policy_taus must be >= 1, got "
                             f"{(n_cos, n_taus, n_target_taus, n_policy_taus)}")
        rows = get_head(head)
        if rows.outputs is not None:
            raise ValueError(f"the row head of an implicit quantile network is linear or dueling, got {head!r}")
        self.head_name, self.head, self.n_actions = head, implicit_head(rows), sizes[-1]
        if self.n_actions < rows.min_actions:
            raise ValueError(f"a {head} head needs at least {rows.min_actions} actions, got sizes {sizes}")
        self.sizes = sizes = (*sizes[:-1], rows.n_outputs(self.n_actions))
        self.activation, self.layer_norm = activation, bool(layer_norm)
        self._act_forward, self._act_backward = ACTIVATIONS[activation]
        self.n_cos, self.n_taus, self.n_target_taus, self.n_policy_taus = (int(n_cos), int(n_taus),
                                                                           int(n_target_taus), int(n_policy_taus))
        H = sizes[-2]
        extra = [("cos_W", (self.n_cos, H)), ("cos_b", (H,))]
        extra += [(f"ln_{k}{i}", (n,)) for i, n in enumerate(sizes[1:-1]) for k in ("gain", "bias")] if layer_norm else []
        self.lay_out([s for n_in, n_out in zip(sizes[:-1], sizes[1:]) for s in ((n_in, n_out), (n_out,))], dtype, extra)
        self.he = [activation == "relu"] * (self.n_layers - 1) + [False]   # the output layer is linear: Glorot
        layers = [(self.params[2 * i], self.params[2 * i + 1]) for i in range(self.n_layers)]
        self._hidden, self._out = layers[:-1], layers[-1]
        extras = self.params[2 * self.n_layers:]
        self._cos = {"W": extras[0], "b": extras[1]}
        self._norms = [{"gain": g, "bias": b} for g, b in zip(extras[2::2], extras[3::2])]
        # (1, K): tau_k = (2k - 1) / 2K, QR-DQN's midpoints (``rl/quantile.py: quantile_midpoints``; nn does not import rl)
        self.fixed_taus = ((np.arange(self.n_policy_taus) + 0.5) / self.n_policy_taus).astype(self.dtype)[np.newaxis]
        self.init_weights(np.random.default_rng(0) if rng is None else rng)

    # -- forward / backward -------------------------------------------------------------

    def forward(self, x: np.ndarray, reuse: bool = False, raw: bool = False, taus: np.ndarray | None = None
                ) -> tuple[np.ndarray, ImplicitCache]:   # x: (B, n_in), taus: (B, N) -> q: (B, A) (raw: Z (B, A, N))
        """Return ``(q, cache)``: Q = mean_tau Z_tau (``raw=True``: Z (B, A, N) itself) at ``taus`` (B, N), or at the
        K fixed taus if ``taus`` is None. ``reuse`` is accepted and has no effect."""
        h = np.asarray(x, dtype=self.dtype)
        if h.ndim != 2 or h.shape[1] != self.sizes[0]:
            raise ValueError(f"expected input of shape (B, {self.sizes[0]}), got {np.shape(x)}")
        B = h.shape[0]
        hidden, norms = [h], []
        for i, (W, b) in enumerate(self._hidden):                          # psi(s): the trunk
            z = linear_forward(h, W, b)                                    # (B, H_i)
            if self.layer_norm:
                z, packed = layernorm_forward_packed(z, self._norms[i])
                norms.append(packed)
            h = self._act_forward(z, out=z)
            hidden.append(h)
        if taus is None:
            tau = self.fixed_taus                                          # (1, K): one embedding for the batch
        else:
            tau = np.asarray(taus, dtype=self.dtype)
            if tau.ndim != 2 or tau.shape[0] != B:
                raise ValueError(f"taus must have shape ({B}, N), got {np.shape(taus)}")
        phi, cosine = cosine_embedding_forward(tau, self._cos)             # (B or 1, N, H)
        mixed = hadamard_forward(h, np.broadcast_to(phi, (B, *phi.shape[1:])))[0]   # (B, N, H): psi * phi
        N = mixed.shape[1]
        out = linear_forward(mixed.reshape(B * N, -1), *self._out).reshape(B, N, -1)   # (B, N, n_out)
        return (self.head.outputs(out) if raw else self.head.forward(out)), ImplicitCache(hidden, norms, phi,
                                                                                         cosine, mixed)

    def policy_embedding(self) -> np.ndarray:     # -> (H,)
        """mean_k phi(tau_k) over the K fixed taus: the embedding Q is computed with (``q_values``)."""
        return cosine_embedding_forward(self.fixed_taus, self._cos)[0][0].mean(axis=0)

    def q_values(self, x: np.ndarray) -> np.ndarray:   # x: (B, n_in) -> q: (B, A)
        """Q(s, a) = mean_k Z_{tau_k}(s, a) = head((psi(s) * mean_k phi(tau_k)) @ W + b)_a: the last layer and the
        head (linear, or dueling) are linear maps, so the mean over the K rows is one row of the mean embedding
        (equal to ``forward(x)[0]`` up to rounding, at the cost of one row per state). No cache."""
        h = np.asarray(x, dtype=self.dtype)
        if h.ndim != 2 or h.shape[1] != self.sizes[0]:
            raise ValueError(f"expected input of shape (B, {self.sizes[0]}), got {np.shape(x)}")
        for i, (W, b) in enumerate(self._hidden):
            z = linear_forward(h, W, b)
            if self.layer_norm:
                z = layernorm_forward_packed(z, self._norms[i])[0]
            h = self._act_forward(z, out=z)
        h *= self.policy_embedding()                                       # (B, H): psi * mean_k phi(tau_k)
        return self.head.forward(linear_forward(h, *self._out)[:, np.newaxis, :])   # (B, 1, n_out) -> (B, A)

    __call__ = q_values                           # acting, evaluation: Q on the K fixed taus

    def forward_one(self, x: np.ndarray) -> np.ndarray:   # x: (n_in,) -> q: (A,)
        """The Q-values of one observation (a one-row ``q_values``)."""
        return self.q_values(np.reshape(x, (1, self.sizes[0])))[0]

    def backward(self, dout: np.ndarray, cache: ImplicitCache, out: np.ndarray | None = None,
                 reuse: bool = False) -> tuple[list[np.ndarray], np.ndarray]:   # dout: dL/dZ (B, A, N) -> grads
        """Gradients of every parameter given ``dout = dL/dZ`` (B, A, N) (a ``(B, A)`` dL/dQ spreads equally over
        the taus), as ``MLP.backward``: the output layer on the B * N rows, the product
        (dpsi = sum_tau dmixed * phi, dphi = dmixed * psi), the embedding, then the trunk."""
        grads, flat_grad = self.gradient_views(out)
        hidden, norms, phi, cosine, mixed = cache
        dz = np.asarray(dout, dtype=self.dtype)
        B, N, H = mixed.shape
        if dz.ndim == 2:                              # dL/dQ: Q = mean over the N taus
            dz = np.repeat(dz[:, :, np.newaxis] / N, N, axis=2)            # (B, A, N)
        dz = self.head.backward(dz).reshape(B * N, -1)                      # (B*N, n_out)
        L = self.n_layers - 1                                              # hidden layers
        dmixed = linear_backward(dz, mixed.reshape(B * N, H), self._out[0], grads[2 * L], grads[2 * L + 1])[0]
        dpsi, dphi = hadamard_backward(dmixed.reshape(B, N, H), (hidden[-1], np.broadcast_to(phi, mixed.shape)))
        if phi.shape[0] != B:                         # the fixed taus' embedding is shared by the B rows
            dphi = dphi.sum(axis=0, keepdims=True)
        g = cosine_embedding_backward(dphi, cosine)[1]
        grads[2 * L + 2][...], grads[2 * L + 3][...] = g["W"], g["b"]
        dh = dpsi                                                          # (B, H_L)
        for i in reversed(range(L)):
            dh = self._act_backward(dh, hidden[i + 1])
            if self.layer_norm:
                dh, g = layernorm_backward_packed(dh, norms[i], self._norms[i]["gain"])
                grads[2 * L + 4 + 2 * i][...], grads[2 * L + 5 + 2 * i][...] = g["gain"], g["bias"]
            dh = linear_backward(dh, hidden[i], self._hidden[i][0], grads[2 * i], grads[2 * i + 1],
                                 need_dx=i > 0)[0]
        return grads, flat_grad

    # -- the taus of a learning step ------------------------------------------------------

    def sample_taus(self, rows: int, n: int, rng: np.random.Generator) -> np.ndarray:   # -> (rows, n)
        """``rows x n`` taus ~ U(0, 1), one Generator call (in the network's dtype)."""
        return rng.random((rows, n), dtype=self.dtype)

    def learning_forwards(self, target: ImplicitQuantileMLP, obs: np.ndarray, next_obs: np.ndarray,
                          rng: np.random.Generator, double: bool = True):
        """The three forwards of a learning step, in this order of draws: taus (B, N) for this (online) net at s,
        independent taus (B, N') for ``target`` at s'; then, if ``double``, this net's Q at s' on the K fixed taus
        (Double selection by its mean; ``q_values``, as one column (B, A, 1), whose mean is itself). Returns
        ``(Z (B, A, N), cache, Q_next_online (B, A, 1) or None, Z_next_target (B, A, N'), taus (B, N))``."""
        B = obs.shape[0]
        taus = self.sample_taus(B, self.n_taus, rng)                       # (B, N)
        taus_next = self.sample_taus(B, self.n_target_taus, rng)           # (B, N')
        z, cache = self.forward(obs, raw=True, taus=taus)
        z_next_target = target.forward(next_obs, raw=True, taus=taus_next)[0]
        z_next_online = self.q_values(next_obs)[:, :, np.newaxis] if double else None
        return z, cache, z_next_online, z_next_target, taus

    # -- weights -----------------------------------------------------------------------------

    def init_weights(self, rng: np.random.Generator) -> None:
        """As ``FlatParams.init_weights`` for the trunk and the output layer, then the embedding as
        ``init_cosine_embedding`` (uniform, fan-in n_cos), LayerNorms as the identity (g = 1, b = 0)."""
        super().init_weights(rng)
        p = init_cosine_embedding(self.n_cos, self.sizes[-2], rng, self.dtype)
        self._cos["W"][...], self._cos["b"][...] = p["W"], p["b"]
        for norm in self._norms:
            norm["gain"][...], norm["bias"][...] = 1.0, 0.0

    def export_weights(self) -> tuple[list[np.ndarray], str]:
        """``(weights, layers)`` of the greedy policy: the layer list ``dense64,tanh,...,iqn{K}`` (``policy.py``
        reads ``iqn{K}``: the state features times phi of the K fixed taus, one row per tau; Q = the mean of the
        head over them) and copies of its weights in that order: each hidden layer's ``W, b`` (and LayerNorm gain,
        bias), ``cos_W, cos_b``, then the output layer's ``W, b``."""
        weights, layers = [], []
        for i, (W, b) in enumerate(self._hidden):
            weights += [W.copy(), b.copy()]
            layers.append(f"dense{W.shape[1]}")
            if self.layer_norm:
                weights += [self._norms[i]["gain"].copy(), self._norms[i]["bias"].copy()]
                layers.append("layernorm")
            layers.append(self.activation)
        weights += [self._cos["W"].copy(), self._cos["b"].copy(), self._out[0].copy(), self._out[1].copy()]
        return weights, ",".join([*layers, f"iqn{self.n_policy_taus}"])

    def _check_compatible(self, other):
        mine = (self.sizes, self.dtype, self.head_name, self.layer_norm, self.n_cos, self.n_policy_taus)
        if mine != (getattr(other, "sizes", None), other.dtype, getattr(other, "head_name", None),
                    getattr(other, "layer_norm", None), getattr(other, "n_cos", None),
                    getattr(other, "n_policy_taus", None)):
            raise ValueError(f"network mismatch: {self!r} vs {other!r}")

    def __repr__(self):
        head = "" if self.head_name == "linear" else f", head={self.head_name!r}"
        head += ", layer_norm=True" if self.layer_norm else ""
        return (f"ImplicitQuantileMLP(sizes={self.sizes[:-1] + (self.n_actions,)}, activation={self.activation!r}"
                f"{head}, n_cos={self.n_cos}, n_taus={self.n_taus}, n_target_taus={self.n_target_taus}, "
                f"n_policy_taus={self.n_policy_taus}, dtype={self.dtype.name})")
