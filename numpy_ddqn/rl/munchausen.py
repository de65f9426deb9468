"""The Munchausen-DQN target (Vieillard, Pietquin & Geist 2020, "Munchausen Reinforcement Learning", eq. 2):

    y = r + alpha clip(tau log pi(a|s), l0, 0) + gamma^m (1 - terminated) sum_a' pi(a'|s') (q'(s', a') - tau log pi(a'|s'))
    pi = softmax(q' / tau), q' = the target network's Q (at s for the bonus, at s' for the soft bootstrap)

The agent adds its own scaled log-policy to the reward (the "Munchausen bonus": it rewards the actions its
policy already prefers, an implicit KL regularisation) and bootstraps from the entropy-regularised
(soft) value of s'. Paper defaults: alpha = 0.9, tau = 0.03, l0 = -1.

The clip applies to tau log pi, not to log pi: the paper's [tau ln pi(a|s)]_{l0}^{0}, and PFRL's mdqn.py
clamps the same product. (Issue 26 writes alpha tau clip(log pi, l0, 0), which with l0 = -1 would cap
the bonus at alpha tau = 0.027 instead of alpha = 0.9.)

n-step transitions: ``reward`` is the discounted sum R_t of the m rewards and ``discount`` is gamma^m; the
bonus is added once, for the first action a_t at s_t (the only state and action the transition keeps),
the usual choice of M-IQN code with n-step returns; the intermediate steps' bonuses are not added
(their log pi would need the states s_{t+1..t+m-1}, which the transition no longer has).

Both terms reduce to one log-sum-exp. With V(s) = tau log sum_a exp(q(s, a) / tau), the soft maximum:
tau log pi(a|s) = q(s, a) - V(s), and because q' - tau log pi(a'|s') = V(s') for every a', the soft bootstrap
sum_a' pi(a'|s') (q'(s', a') - tau log pi(a'|s')) = V(s') exactly. V is computed as max q + tau log sum
exp((q - max q) / tau), every exponent <= 0: no overflow for Q of 1e4 at tau = 1e-6, and no 0 * log 0 for
masked actions (they are left out of the sum). As tau -> 0, V(s') -> max_a' q'(s', a') and tau log pi(a|s)
-> q(s, a) - max q(s, .): with alpha = 0 the target becomes DQN's.
"""
from __future__ import annotations

import numpy as np

from ..nn.layers import arange
from .checks import check_actions, check_rank, check_shape, check_transitions
from .masks import masked_logsumexp


def munchausen_targets(reward, terminated, discount, actions, q_target, q_next_target, alpha=0.9, tau=0.03,
                       l0=-1.0, mask=None, mask_next=None):   # (B,) x 4, (B, A), (B, A) -> y: (B,)
    """y = r + alpha clip(tau log pi(a|s), l0, 0) + gamma^m (1 - terminated) sum_a' pi(a'|s') (q'(s',a') - tau log pi(a'|s')).

    ``q_target`` and ``q_next_target`` are the target network's Q at s and s'. ``mask`` / ``mask_next``
    (B, A) bool restrict pi to the legal actions at s and s' (None: every action legal).
    """
    check_rank("q_next_target", q_next_target, 2, "(B, A)")
    B, A = q_next_target.shape
    check_shape("q_target", q_target, (B, A))
    check_transitions(B, reward, terminated, discount)
    check_actions(actions, B)
    if not (tau > 0 and l0 <= 0):
        raise ValueError(f"Munchausen needs tau > 0 and l0 <= 0, got tau={tau}, l0={l0}")
    # V(s) and V(s') in one log-sum-exp over s and s' stacked (half the NumPy calls of two)
    both_masks = None if mask is None and mask_next is None else np.concatenate(
        [np.ones((B, A), bool) if m is None else m for m in (mask, mask_next)])        # (2B, A)
    v = masked_logsumexp(np.concatenate((q_target, q_next_target)), both_masks, tau)    # (2B,)
    # the bonus: tau log pi(a_t|s_t) = q(s_t, a_t) - V(s_t), clipped to [l0, 0]
    tau_log_pi = q_target[arange(B), actions] - v[:B]                                   # (B,)
    bonus = np.minimum(np.maximum(tau_log_pi, l0), 0.0)                                 # (B,); 2x faster than np.clip
    bonus *= alpha
    # the soft bootstrap: sum_a' pi (q' - tau log pi) = V(s'), over the legal actions at s'
    return reward + bonus + discount * (1.0 - terminated) * v[B:]
