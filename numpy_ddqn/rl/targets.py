"""TD targets as pure functions of plain arrays (rlax's names: q_t = Q(s'), discount_t = gamma).

``terminated`` (1.0 where s' is terminal) removes the bootstrap term. A time-limit truncation is
*not* terminal: the agent stores ``terminated`` only, so truncated transitions still bootstrap.
"""
from __future__ import annotations

import numpy as np

from ..nn.layers import arange


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
