"""Parity of an exported artifact with the NumPy policy, on observations from the env and the replay.

Every difference is judged against a float32 rounding bound computed per observation and action,
the textbook bound for dot products (Higham, Accuracy and Stability of Numerical Algorithms, 3.1):
a dense or conv layer with fan-in n computed in float32 errs by at most gamma_n (|W|^T |h| + |b|),
gamma_n = n u / (1 - n u), u = 2^-24; activations (tanh, relu, identity) are 1-Lipschitz and add at
most 8 u |h|. Writing m for the forward pass of |obs| through |W|, |b| and no activations (it bounds
every |h|), the Q-values of one float32 implementation err by at most

    e(obs, a) = (L (gamma_n + 8u) + (A + 3) u) m(obs, a)       L layers, n the largest fan-in + 1

(the dueling head's m is m_V + m_A + mean m_A), so two implementations differ by at most 2 e. A
|dQ| beyond 2 e is an unexplained difference. A differing greedy action is explained (a near tie)
when the reference's Q-values of the two actions are closer than their bounds together: rounding
alone can order them either way. Anything else fails the check.

A LayerNorm divides by its row's standard deviation s, so an error entering it grows by up to max|g| / s: no
bound in |W| alone holds. For policies with a LayerNorm, ``layernorm_rounding_bound`` walks the float64 forward
pass instead, carrying E, a bound on the 2-norm of the error vector per observation: a dense layer turns it into
||W||_2 E + gamma_n ||(|W|^T |h| + |b|)||_2 (a convolution uses the Frobenius norm of its kernel times the
number of windows each input value falls in), an activation adds 8 u ||h||_2, a LayerNorm gives
2 max|g| (E + (H + 2) u sqrt(H) max|h|) / s + (H + 10) u ||(|g| |x_hat| + |b|)||_2 (first order in E, doubled),
and the head's Q-values err by at most E (3 E + (A + 3) u max|h| with a dueling head).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..policy import ACTIVATIONS, LAYER_NORM_EPS, Policy, conv2d
from .graph import fold_implicit, head_layout, steps

U32 = 2.0 ** -24
"""float32's unit roundoff."""

WIDE = 1e4
"""Box bounds beyond +-WIDE (CartPole's velocities sit at float32's max) are drawn as Gymnasium draws unbounded
dimensions, from a standard normal: uniform draws there would be ~1e38 and overflow any network."""

CHUNK = 8192
"""Observations per batch through the reference and the artifact."""


def magnitude_policy(policy: Policy) -> Policy:
    """The policy with |W|, |b|, identity activations and a linear head: ``q_values(|obs|)`` is m above (an IQN
    policy: of the plain network it equals, ``graph.fold_implicit``)."""
    policy = fold_implicit(policy)
    weights = [np.abs(a) for a in policy.weights()]
    layers = None
    if policy.layer_list:
        layers = ",".join("identity" if t in ("tanh", "relu") else t for t in policy.layer_list.split(","))
    return Policy(weights, "identity", policy.env_id, "linear", layers, policy.obs_shape)


def rounding_bound(policy: Policy, magnitude: Policy, obs: np.ndarray) -> np.ndarray:   # (B, *obs_shape) -> (B, A)
    """2 e(obs, a): how far two float32 implementations of ``policy`` may differ on each Q-value."""
    plan = steps(policy)
    if any(s.kind == "layernorm" for s in plan):
        return layernorm_rounding_bound(policy, obs)
    layers = [s for s in plan if s.kind in ("dense", "conv")]
    fan_in = max(int(np.prod(s.W.shape[:-1])) for s in layers) + 1
    gamma = fan_in * U32 / (1 - fan_in * U32)
    m = magnitude.q_values(np.abs(obs).astype(np.float64))                         # (B, A) or (B, 1 + A)
    layout = head_layout(policy)
    if layout.kind != "q":                        # (B, (D + A) N) -> per-atom magnitudes (B, A, N)
        m = m.reshape(m.shape[0], -1, layout.n)
    if layout.dueling:
        m = m[:, :1] + m[:, 1:] + m[:, 1:].mean(axis=1, keepdims=True)
    e = (len(layers) * (gamma + 8 * U32) + (policy.n_actions + 3) * U32) * m        # one implementation's error
    if layout.kind == "quantile":                 # the mean of N values adds (N + 1) u of their magnitude
        return 2 * (e + (layout.n + 1) * U32 * m).mean(axis=2)
    if layout.kind == "categorical":
        return 2 * categorical_bound(e, m, layout.z, layout.n)
    return 2 * e


def categorical_bound(e, m, z, n):                # e, m: (B, A, N) logit errors and magnitudes -> (B, A)
    """One float32 implementation's error on Q = sum_i softmax_i(l) z_i with logits off by at most e_i, |l_i| <= m_i.

    Logits off by D (the largest e_i, plus the rounding of l_i - max l: 2 u max m, and exp's own: 4 u) scale every
    p_i by a factor in [e^-2D, e^2D], so Q moves by at most R (e^2D - 1), R = (v_max - v_min) / 2 (sum_i (p'_i -
    p_i) = 0 lets z be measured from the support's centre); the two sums of N terms and the division add
    (2 N + 2) u max |z|.
    """
    D = e.max(axis=2) + 2 * U32 * m.max(axis=2) + 4 * U32                          # (B, A)
    R = (float(z[-1]) - float(z[0])) / 2
    return R * np.expm1(2 * D) + (2 * n + 2) * U32 * float(np.abs(z).max())


def layernorm_rounding_bound(policy: Policy, obs: np.ndarray) -> np.ndarray:   # (B, *obs_shape) -> (B, A)
    """2 E(obs) for every action: the rounding bound of a policy with LayerNorms (see the module docstring)."""
    h = np.asarray(obs, np.float64).reshape(len(obs), *(policy.obs_shape or (policy.obs_dim,)))
    E = np.zeros(len(h))                                                  # (B,), the error vector's 2-norm
    top = lambda a: np.abs(a).reshape(len(a), -1).max(axis=1)             # (B, ...) -> (B,)
    norm = lambda a: np.sqrt((a * a).reshape(len(a), -1).sum(axis=1))     # (B, ...) -> (B,)
    for step in steps(policy):
        if step.kind in ("dense", "conv"):
            W, b = step.W.astype(np.float64), step.b.astype(np.float64)
            n = int(np.prod(W.shape[:-1])) + 1
            gamma = n * U32 / (1 - n * U32)
            if step.kind == "dense":
                h = h.reshape(len(h), -1)
                magnitude, h = np.abs(h) @ np.abs(W) + np.abs(b), h @ W + b
                gain = np.linalg.norm(W, 2)                               # ||W||_2, the largest singular value
            else:
                padding = "valid" if not any(step.pads) else "same"
                magnitude = conv2d(np.abs(h), np.abs(W), np.abs(b), step.stride, padding)
                h = conv2d(h, W, b, step.stride, padding)
                overlap = -(-W.shape[0] // step.stride) * -(-W.shape[1] // step.stride)   # windows per input value
                gain = np.linalg.norm(W) * np.sqrt(overlap)
            E = gain * E + gamma * norm(magnitude)
        elif step.kind == "flatten":
            h = h.reshape(len(h), -1)
        elif step.kind == "layernorm":
            g, b, H = step.W.astype(np.float64), step.b.astype(np.float64), h.shape[1]
            xc = h - h.mean(axis=1, keepdims=True)
            s = np.sqrt((xc * xc).mean(axis=1) + LAYER_NORM_EPS)           # (B,)
            x_hat = xc / s[:, None]
            E = (2 * np.abs(g).max() * (E + (H + 2) * U32 * np.sqrt(H) * top(h)) / s
                 + (H + 10) * U32 * norm(np.abs(g) * np.abs(x_hat) + np.abs(b)))
            h = x_hat * g + b
        else:                                                             # tanh, relu, identity: 1-Lipschitz
            h = ACTIVATIONS[step.kind](h)
            E = E + 8 * U32 * norm(h)
    if policy.head == "dueling":
        E = 3 * E + (policy.n_actions + 3) * U32 * top(h)
    return np.repeat(2 * E[:, None], policy.n_actions, axis=1)


def draw_from_space(space, n: int, rng: np.random.Generator) -> np.ndarray:   # -> (n, *space.shape) float32
    """``n`` observations of a Gymnasium ``Box``: uniform within its bounds, standard normal where they are
    wider than ``WIDE``; integers and booleans over their whole range."""
    shape, dtype = tuple(space.shape), np.dtype(space.dtype)
    low, high = np.broadcast_to(space.low, shape), np.broadcast_to(space.high, shape)
    if dtype == np.bool_ or np.issubdtype(dtype, np.integer):
        return rng.integers(low.astype(np.int64), high.astype(np.int64) + 1, size=(n, *shape)).astype(np.float32)
    wide = ~(np.isfinite(low) & np.isfinite(high) & (np.abs(low) <= WIDE) & (np.abs(high) <= WIDE))
    lo, hi = np.where(wide, 0.0, low), np.where(wide, 1.0, high)
    return np.where(wide, rng.standard_normal((n, *shape)), lo + (hi - lo) * rng.random((n, *shape))).astype(np.float32)


@dataclass
class ParityReport:
    """What ``check_parity`` found; ``ok`` is False on any unexplained difference."""
    artifact: str
    n: int = 0
    sources: dict = field(default_factory=dict)         # where the observations came from -> how many
    max_dq: float = 0.0                                  # max |Q_artifact - Q_numpy|
    max_dq_over_bound: float = 0.0                       # max |dQ| / (2 e): <= 1 means within rounding
    differing_actions: int = 0
    near_ties: list = field(default_factory=list)        # the explained differing actions (first 20 kept)
    unexplained: list = field(default_factory=list)      # what fails the check (first 20 kept)
    n_unexplained: int = 0

    @property
    def ok(self) -> bool:
        """True when every difference is within float32 rounding."""
        return self.n_unexplained == 0

    def __str__(self):
        lines = [f"parity of {self.artifact} with the NumPy policy on {self.n:,} observations ("
                 + ", ".join(f"{v:,} {k}" for k, v in self.sources.items()) + "):",
                 f"  max |dQ| = {self.max_dq:.3g} ({self.max_dq_over_bound:.3g} of the float32 rounding bound); "
                 f"differing greedy actions: {self.differing_actions:,}, unexplained differences: {self.n_unexplained:,}"]
        for tie in self.near_ties[:5]:
            lines.append(f"  near tie at observation {tie['index']:,}: actions {tie['numpy']} (NumPy) and "
                         f"{tie['artifact']} ({self.artifact.split(' ')[0]}) have Q {tie['q_numpy']:.9g} and "
                         f"{tie['q_other']:.9g}, {tie['gap']:.3g} apart, within float32 rounding ({tie['bound']:.3g})")
        if len(self.near_ties) > 5:
            lines.append(f"  ... {self.differing_actions - 5:,} more near ties")
        for bad in self.unexplained[:5]:
            lines.append(f"  UNEXPLAINED at observation {bad['index']:,}: {bad['what']}")
        lines.append("  parity: OK" if self.ok else "  parity: FAILED")
        return "\n".join(lines)


def check_parity(policy: Policy, run: Callable, batches, artifact: str) -> ParityReport:
    """Compare ``run(obs) -> (q, actions)`` of an artifact with ``policy`` on every ``(source, obs)`` batch."""
    report, magnitude, start = ParityReport(artifact), magnitude_policy(policy), 0
    for source, obs in batches:                                  # obs: (B, *obs_shape) float32
        q_ref = policy.q_values(obs)                             # (B, A)
        a_ref = q_ref.argmax(axis=1)
        q_art, a_art = run(obs)
        q_art, a_art = np.asarray(q_art, np.float64), np.asarray(a_art).astype(np.int64)
        bound = rounding_bound(policy, magnitude, obs)           # (B, A)
        dq = np.abs(q_art - q_ref)
        report.max_dq = max(report.max_dq, float(dq.max()))
        report.max_dq_over_bound = max(report.max_dq_over_bound, float((dq / bound).max()))
        rows = np.arange(len(obs))
        for i in np.flatnonzero(~np.all(dq <= bound, axis=1)):
            a = int(np.argmax(dq[i] - bound[i]))
            _flag(report, start + i, f"|dQ| = {dq[i, a]:.3g} for action {a} exceeds the float32 rounding bound "
                                     f"{bound[i, a]:.3g}")
        diff = np.flatnonzero(a_ref != a_art)
        report.differing_actions += len(diff)
        gap = q_ref[rows, a_ref] - q_ref[rows, np.clip(a_art, 0, policy.n_actions - 1)]
        tie_bound = bound[rows, a_ref] + bound[rows, np.clip(a_art, 0, policy.n_actions - 1)]
        for i in diff:
            if not 0 <= a_art[i] < policy.n_actions or gap[i] > tie_bound[i]:
                _flag(report, start + i, f"greedy action {a_art[i]} instead of {a_ref[i]}, whose Q is larger by "
                                         f"{gap[i]:.3g}, beyond float32 rounding ({tie_bound[i]:.3g})")
            elif len(report.near_ties) < 20:
                report.near_ties.append(dict(index=start + int(i), numpy=int(a_ref[i]), artifact=int(a_art[i]),
                                             q_numpy=float(q_ref[i, a_ref[i]]), q_other=float(q_ref[i, a_art[i]]),
                                             gap=float(gap[i]), bound=float(tie_bound[i])))
        report.sources[source] = report.sources.get(source, 0) + len(obs)
        report.n += len(obs)
        start += len(obs)
    return report


def _flag(report, index, what):
    report.n_unexplained += 1
    if len(report.unexplained) < 20:
        report.unexplained.append(dict(index=int(index), what=what))


def observation_batches(policy: Policy, n: int, rng: np.random.Generator, space=None, replay_obs=None,
                        chunk: int = CHUNK):
    """Yield ``(source, obs)`` batches, ``n`` observations in all: half from ``replay_obs`` (rows drawn with
    replacement) when given, the rest from the env's observation ``space`` (``draw_from_space``), or standard
    normal draws when the env is not available."""
    shape = tuple(policy.obs_shape) if policy.layer_list else (policy.obs_dim,)
    n_replay = n // 2 if replay_obs is not None and len(replay_obs) else 0
    for source, total in (("from the replay", n_replay), ("from the observation space" if space is not None
                                                           else "standard normal (env not available)", n - n_replay)):
        for done in range(0, total, chunk):
            b = min(chunk, total - done)
            if source == "from the replay":
                obs = np.asarray(replay_obs[rng.integers(len(replay_obs), size=b)], np.float32)
            elif space is not None:
                obs = draw_from_space(space, b, rng)
            else:
                obs = rng.standard_normal((b, *shape)).astype(np.float32)
            yield source, obs.reshape(b, *shape)
