"""TD targets and the learning rules built on them, as pure functions of plain arrays. The ``RULES`` registry.

``terminated`` (1.0 where s' is terminal) removes the bootstrap term. A time-limit truncation is
*not* terminal: the agent stores ``terminated`` only, so truncated transitions still bootstrap.
``gamma`` is a scalar, or a (B,) array of per-transition discounts (n-step returns: gamma^m).

A learning rule (a ``RULES`` entry) is one function from the networks' outputs on a batch to the loss, its
gradient with respect to the online network's output ``q`` (the seam to backprop) and the TD errors (for the
priorities). A new rule (Munchausen, categorical, quantile) is one entry here and its tests.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ..nn.layers import arange
from ..nn.losses import td_loss
from .categorical import categorical_cross_entropy, categorical_double_q_targets
from .quantile import quantile_double_q_targets, quantile_huber_loss


def check_batch(reward, terminated, q):
    """Raise ``ValueError`` unless ``q`` is a (B, A) array and ``reward``, ``terminated`` are (B,) arrays: a
    (B, 1) reward would otherwise broadcast into a (B, B) target without a word. (Attribute compares only:
    this runs at every update.)"""
    shape = getattr(q, "shape", ())
    if len(shape) != 2:
        raise ValueError(f"Q-values must be an array of shape (B, A), got {np.shape(q)}")
    if getattr(reward, "shape", None) != shape[:1] or getattr(terminated, "shape", None) != shape[:1]:
        bad, v = ("reward", reward) if getattr(reward, "shape", None) != shape[:1] else ("terminated", terminated)
        raise ValueError(f"{bad} must be an array of shape (B,) = ({shape[0]},), got {np.shape(v)}")


def dqn_targets(reward, terminated, q_next_target, gamma):   # (B,), (B,), (B, A) -> (B,)
    """y = r + gamma * (1 - terminated) * max_a Q_target(s', a)   (Mnih et al., 2015)."""
    check_batch(reward, terminated, q_next_target)
    q_next = q_next_target.max(axis=1)                           # (B,)
    return reward + gamma * (1.0 - terminated) * q_next


def double_dqn_targets(reward, terminated, q_next_online, q_next_target, gamma):  # -> (B,)
    """y = r + gamma * (1 - terminated) * Q_target(s', argmax_a Q_online(s', a))   (van Hasselt et al., 2015).

    The online network selects the next action, the target network evaluates it.
    """
    check_batch(reward, terminated, q_next_target)
    if q_next_online.shape != q_next_target.shape:
        raise ValueError(f"q_next_online {q_next_online.shape} and q_next_target {q_next_target.shape} "
                         f"must have the same shape (B, A)")
    a_star = q_next_online.argmax(axis=1)                        # (B,) selected by the online net
    q_next = q_next_target[arange(a_star.shape[0]), a_star]      # (B,) valued by the target net
    return reward + gamma * (1.0 - terminated) * q_next


def dqn_learning(q, action, reward, terminated, gamma, q_next_online, q_next_target, loss="huber", weights=None):
    """L = mean_i w_i l(Q(s_i, a_i) - y_i) with y the DQN target (``q_next_online`` is not read).

    Shapes: q, q_next_*: (B, A); action, reward, terminated, weights: (B,). Returns ``(loss, dL/dq, td_error)``.
    """
    return td_loss(q, action, dqn_targets(reward, terminated, q_next_target, gamma), loss, weights)


def double_dqn_learning(q, action, reward, terminated, gamma, q_next_online, q_next_target, loss="huber",
                        weights=None):
    """L = mean_i w_i l(Q(s_i, a_i) - y_i) with y the Double-DQN target; as ``dqn_learning`` otherwise."""
    return td_loss(q, action, double_dqn_targets(reward, terminated, q_next_online, q_next_target, gamma), loss,
                   weights)


# -- distributional rules: they read the head's (B, A, N) outputs and return dL/d outputs --------------------------

def categorical_learning(logits, action, reward, terminated, gamma, logits_next_online, logits_next_target,
                         loss="huber", weights=None, z=None):
    """C51 (Bellemare et al. 2017), Double selection as in Rainbow: L = mean_i w_i CE(Phi T p_target(s'_i, a*_i),
    p(s_i, a_i)), a* = argmax_a sum_j p_online,j(s', a) z_j.

    Shapes: logits*: (B, A, N); z: (N,) the support. ``loss`` is not read (the loss is the cross-entropy).
    Returns ``(loss, dL/dlogits (B, A, N), per-sample loss (B,))``: the per-sample loss is the priority (Rainbow).
    """
    target = categorical_double_q_targets(reward, terminated, gamma, logits_next_online, logits_next_target, z)  # (B, N)
    return categorical_cross_entropy(logits, action, target, weights)


def quantile_learning(quantiles, action, reward, terminated, gamma, quantiles_next_online, quantiles_next_target,
                      loss="huber", weights=None, taus=None, kappa=1.0):
    """QR-DQN (Dabney et al. 2018a), Double selection by the online net's mean: L = mean_i w_i sum_k mean_j
    rho^kappa_{tau_k}(T theta_ij - theta_k(s_i, a_i)), a* = argmax_a mean_j theta_online,j(s', a).

    Shapes: quantiles*: (B, A, N); taus: (N,) the midpoints. ``loss`` is not read (the loss is the quantile Huber).
    Returns ``(loss, dL/dquantiles (B, A, N), per-sample loss (B,))``.
    """
    target = quantile_double_q_targets(reward, terminated, gamma, quantiles_next_online, quantiles_next_target)
    return quantile_huber_loss(quantiles, action, target, taus, kappa, weights)


def selected_by_target(learn):
    """``learn`` with the target network choosing a* as well (C51's and QR-DQN's own target, no Double): the online
    net's next outputs are not read (the agent passes ``None``)."""
    def learn_by_target(out, action, reward, terminated, gamma, out_next_online, out_next_target, *args, **kwargs):
        return learn(out, action, reward, terminated, gamma, out_next_target, out_next_target, *args, **kwargs)
    return learn_by_target


class Rule(NamedTuple):
    """A registry entry: whether the rule reads ``Q_online(s')`` (then s and s' go through the online network in one
    stacked forward), and its function ``(q, action, reward, terminated, gamma, q_next_online, q_next_target, loss,
    weights) -> (loss, dL/dq, td_error)``.

    ``raw=True``: the rule reads the head's raw ``outputs`` (B, A, N) (a distributional head) in place of q, and
    returns dL/d outputs, which the agent backpropagates through the head as it is; its ``learn`` then also takes
    the keyword parameters ``rl/registry.py: rule_params`` gives (the support z; the taus and kappa).
    """
    online_next: bool
    learn: Callable
    raw: bool = False


RULES = {
    "dqn": Rule(False, dqn_learning),
    "double": Rule(True, double_dqn_learning),
    "categorical": Rule(False, selected_by_target(categorical_learning), raw=True),
    "double_categorical": Rule(True, categorical_learning, raw=True),
    "quantile": Rule(False, selected_by_target(quantile_learning), raw=True),
    "double_quantile": Rule(True, quantile_learning, raw=True),
}
"""Learning rules by name (``Config``: ``double=True`` selects "double", else "dqn"; with ``distribution`` =
categorical / quantile, "[double_]categorical" / "[double_]quantile"; see ``rl/registry.py``)."""
