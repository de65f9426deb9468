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
from .checks import check_rank, check_transitions
from .categorical import categorical_cross_entropy, categorical_double_q_targets
from .quantile import quantile_double_q_targets, quantile_huber_loss
from .masks import masked_argmax, masked_max
from .munchausen import munchausen_targets
from .forwards import sampled_tau_forwards, stacked_forwards


def check_batch(reward, terminated, q, gamma):
    """Raise ``ValueError`` unless ``q`` is a (B, A) array, ``reward``, ``terminated`` are (B,) arrays and ``gamma``
    a scalar or (B,): a (B, 1) reward would otherwise broadcast into a (B, B) target without a word (``checks.py``;
    attribute compares only: this runs at every update)."""
    check_rank("Q-values", q, 2, "(B, A)")
    check_transitions(q.shape[0], reward, terminated, gamma)


def dqn_targets(reward, terminated, q_next_target, gamma, mask_next=None):   # (B,), (B,), (B, A) -> (B,)
    """y = r + gamma * (1 - terminated) * max_{a legal} Q_target(s', a)   (Mnih et al., 2015).

    ``mask_next`` (B, A) bool, True where the action is legal at s' (None: every action is)."""
    check_batch(reward, terminated, q_next_target, gamma)
    q_next = q_next_target.max(axis=1) if mask_next is None else masked_max(q_next_target, mask_next)   # (B,)
    return reward + gamma * (1.0 - terminated) * q_next


def double_dqn_targets(reward, terminated, q_next_online, q_next_target, gamma, mask_next=None):  # -> (B,)
    """y = r + gamma * (1 - terminated) * Q_target(s', argmax_{a legal} Q_online(s', a))   (van Hasselt et al., 2015).

    The online network selects the next action (among the legal ones at s' if ``mask_next`` (B, A) bool is
    given), the target network evaluates it.
    """
    check_batch(reward, terminated, q_next_target, gamma)
    if q_next_online.shape != q_next_target.shape:
        raise ValueError(f"q_next_online {q_next_online.shape} and q_next_target {q_next_target.shape} "
                         f"must have the same shape (B, A)")
    a_star = q_next_online.argmax(axis=1) if mask_next is None else masked_argmax(q_next_online, mask_next)  # (B,)
    q_next = q_next_target[arange(a_star.shape[0]), a_star]      # (B,) valued by the target net
    return reward + gamma * (1.0 - terminated) * q_next


def dqn_learning(q, action, reward, terminated, gamma, q_next_online, q_next_target, loss="huber", weights=None,
                 mask_next=None):
    """L = mean_i w_i l(Q(s_i, a_i) - y_i) with y the DQN target (``q_next_online`` is not read).

    Shapes: q, q_next_*: (B, A); action, reward, terminated, weights: (B,); ``mask_next`` (B, A) bool, the legal
    actions at s' (None: all). Returns ``(loss, dL/dq, td_error)``.
    """
    return td_loss(q, action, dqn_targets(reward, terminated, q_next_target, gamma, mask_next), loss, weights)


def double_dqn_learning(q, action, reward, terminated, gamma, q_next_online, q_next_target, loss="huber",
                        weights=None, mask_next=None):
    """L = mean_i w_i l(Q(s_i, a_i) - y_i) with y the Double-DQN target; as ``dqn_learning`` otherwise."""
    return td_loss(q, action, double_dqn_targets(reward, terminated, q_next_online, q_next_target, gamma, mask_next),
                   loss, weights)


def munchausen_learning(q, action, reward, terminated, gamma, q_next_online, q_next_target, loss="huber",
                        weights=None, mask_next=None, q_target=None, mask=None, alpha=0.9, tau=0.03, l0=-1.0):
    """L = mean_i w_i l(Q(s_i, a_i) - y_i) with y the Munchausen target (``rl/munchausen.py``):
    y = r + alpha clip(tau log pi(a|s), l0, 0) + gamma^m (1 - terminated) sum_a' pi(a'|s') (q'(s',a') - tau log pi(a'|s')).

    ``q_target`` (B, A) is the target network at s (the bonus's policy), ``q_next_target`` at s'; ``mask`` and
    ``mask_next`` (B, A) bool restrict pi to the legal actions at s and s'. ``alpha``, ``tau``, ``l0`` are bound
    from the config by the builder (``registry.rule_params``). n-step: the bonus is the first action's.
    """
    if q_target is None:
        raise ValueError("the Munchausen rule needs q_target, the target network's Q at s (Rule.target_obs)")
    y = munchausen_targets(reward, terminated, gamma, action, q_target, q_next_target, alpha, tau, l0, mask,
                           mask_next)
    return td_loss(q, action, y, loss, weights)


# -- distributional rules: they read the head's (B, A, N) outputs and return dL/d outputs --------------------------

def categorical_learning(logits, action, reward, terminated, gamma, logits_next_online, logits_next_target,
                         loss="huber", weights=None, mask_next=None, z=None):
    """C51 (Bellemare et al. 2017), Double selection as in Rainbow: L = mean_i w_i CE(Phi T p_target(s'_i, a*_i),
    p(s_i, a_i)), a* = argmax_a sum_j p_online,j(s', a) z_j.

    Shapes: logits*: (B, A, N); z: (N,) the support; ``mask_next`` (B, A) bool, the legal actions at s' (None: all).
    ``loss`` is not read (the loss is the cross-entropy).
    Returns ``(loss, dL/dlogits (B, A, N), per-sample loss (B,))``: the per-sample loss is the priority (Rainbow).
    """
    target = categorical_double_q_targets(reward, terminated, gamma, logits_next_online, logits_next_target, z,
                                          mask_next)                                             # (B, N)
    return categorical_cross_entropy(logits, action, target, weights)


def quantile_learning(quantiles, action, reward, terminated, gamma, quantiles_next_online, quantiles_next_target,
                      loss="huber", weights=None, mask_next=None, taus=None, kappa=1.0):
    """QR-DQN (Dabney et al. 2018a), Double selection by the online net's mean: L = mean_i w_i sum_k mean_j
    rho^kappa_{tau_k}(T theta_ij - theta_k(s_i, a_i)), a* = argmax_a mean_j theta_online,j(s', a).

    Shapes: quantiles*: (B, A, N); taus: (N,) the midpoints; ``mask_next`` as ``categorical_learning``. ``loss`` is not read (the loss is the quantile Huber).
    Returns ``(loss, dL/dquantiles (B, A, N), per-sample loss (B,))``.
    """
    target = quantile_double_q_targets(reward, terminated, gamma, quantiles_next_online, quantiles_next_target,
                                       mask_next)
    return quantile_huber_loss(quantiles, action, target, taus, kappa, weights)


def selected_by_target(learn):
    """``learn`` with the target network choosing a* as well (C51's and QR-DQN's own target, no Double): the online
    net's next outputs are not read (the agent passes ``None``)."""
    def learn_by_target(out, action, reward, terminated, gamma, out_next_online, out_next_target, *args, **kwargs):
        return learn(out, action, reward, terminated, gamma, out_next_target, out_next_target, *args, **kwargs)
    return learn_by_target


class Rule(NamedTuple):
    """A registry entry: whether the rule reads ``Q_online(s')`` (then s and s' go through the online network in one
    stacked forward), its function ``(q, action, reward, terminated, gamma, q_next_online, q_next_target, loss,
    weights, mask_next=None) -> (loss, dL/dq, td_error)``, whether it also reads ``Q_target(s)`` (then s and s'
    go through the target network in one stacked forward, passed as ``q_target=``; Munchausen's bonus), and
    whether it reads the head's raw outputs.

    Action masks reach every rule the same way: the keyword ``mask_next`` (B, A) bool, the legal actions at s'
    (a ``target_obs`` rule also gets ``mask``, at s); without masks they are not passed.

    ``raw=True``: the rule reads the head's raw ``outputs`` (B, A, N) (a distributional head) in place of q, and
    returns dL/d outputs, which the agent backpropagates through the head as it is; its ``learn`` then also takes
    the keyword parameters ``rl/registry.py: rule_params`` gives (the support z; the taus and kappa). With
    ``online_next`` the agent passes Q_online(s') as the head's mean, (B, A), which is all Double selection reads
    (it computes it with Q_online(s), which its metrics report, over s and s' stacked).

    ``forwards`` computes those outputs (``rl/forwards.py``): ``stacked_forwards`` for all but IQN, whose
    ``sampled_tau_forwards`` lets the network draw the taus of each update (taus ~ U(0, 1) for the online net at s,
    independent ones for the target at s', the K fixed taus for the online net at s') and passes the online taus
    (B, N) as ``taus=``.
    """
    online_next: bool
    learn: Callable
    raw: bool = False
    target_obs: bool = False
    forwards: Callable = stacked_forwards


RULES = {
    "dqn": Rule(False, dqn_learning),
    "double": Rule(True, double_dqn_learning),
    "categorical": Rule(False, selected_by_target(categorical_learning), raw=True),
    "double_categorical": Rule(True, categorical_learning, raw=True),
    "quantile": Rule(False, selected_by_target(quantile_learning), raw=True),
    "double_quantile": Rule(True, quantile_learning, raw=True),
    "implicit": Rule(False, selected_by_target(quantile_learning), raw=True, forwards=sampled_tau_forwards),
    "double_implicit": Rule(True, quantile_learning, raw=True, forwards=sampled_tau_forwards),
    "munchausen": Rule(False, munchausen_learning, target_obs=True),
}
"""Learning rules by name (``Config``: ``munchausen=True`` selects "munchausen", else ``double=True`` "double", else
"dqn"; with ``distribution`` = categorical / quantile / implicit, "[double_]categorical" / "[double_]quantile" /
"[double_]implicit"; see ``rl/registry.py``). IQN's rules are QR-DQN's loss on sampled taus: the quantile Huber
loss over the pairs of N online taus (per sample) and N' target taus, a* by the mean over the K fixed taus
(Double) or over the target's N' sampled ones."""
