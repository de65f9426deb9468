"""TD targets as pure functions of plain arrays (rlax's names: q_t = Q(s'), discount_t = gamma).

``terminated`` (1.0 where s' is terminal) removes the bootstrap term. A time-limit truncation is
*not* terminal: the agent stores ``terminated`` only, so truncated transitions still bootstrap.
"""
from __future__ import annotations

import numpy as np


def dqn_targets(reward, terminated, q_next_target, gamma):   # (B,), (B,), (B, A) -> (B,)
    """y = r + gamma * (1 - terminated) * max_a Q_target(s', a)   (Mnih et al., 2015)."""
    q_next = q_next_target.max(axis=1)                           # (B,)
    return reward + gamma * (1.0 - terminated) * q_next


def double_dqn_targets(reward, terminated, q_next_online, q_next_target, gamma):  # -> (B,)
    """y = r + gamma * (1 - terminated) * Q_target(s', argmax_a Q_online(s', a))   (van Hasselt et al., 2015).

    The online network selects the next action, the target network evaluates it.
    """
    a_star = q_next_online.argmax(axis=1)                        # (B,) selected by the online net
    q_next = q_next_target[np.arange(a_star.shape[0]), a_star]   # (B,) valued by the target net
    return reward + gamma * (1.0 - terminated) * q_next
