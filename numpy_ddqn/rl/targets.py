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


class Rule(NamedTuple):
    """A registry entry: whether the rule reads ``Q_online(s')`` (then s and s' go through the online network in one
    stacked forward), and its function ``(q, action, reward, terminated, gamma, q_next_online, q_next_target, loss,
    weights) -> (loss, dL/dq, td_error)``."""
    online_next: bool
    learn: Callable


RULES = {
    "dqn": Rule(False, dqn_learning),
    "double": Rule(True, double_dqn_learning),
}
"""Learning rules by name (``Config``: ``double=True`` selects "double", else "dqn"; see ``rl/registry.py``)."""
