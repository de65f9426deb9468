"""The forward passes of a learning step: the networks' outputs a learning rule reads. Each rule names its way
(``rl/targets.py: Rule.forwards``); the agent calls it and knows no rule's needs.

Every rule reads the online net's outputs at s (with the cache its backward needs) and the target net's at s'; a
Double rule also the online net's at s' (to select a*), Munchausen's also the target net's at s (its bonus).
``stacked_forwards`` sends s and s' through a network in one stacked forward wherever it needs both;
``sampled_tau_forwards`` is IQN's, whose network draws the quantile levels tau of each pass.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Forwards(NamedTuple):
    """What a learning rule reads from the networks on a batch of B transitions (A actions, N outputs each)."""
    out: np.ndarray                 # (B, A): Q_online(s); a raw (distributional) rule: the head's outputs (B, A, N)
    cache: object                   # what ``online.backward`` needs, for the s rows only
    q: np.ndarray                   # (B, A): Q_online(s), what the update's metrics report (raw: the mean of ``out``)
    next_online: np.ndarray | None  # (B, A): Q_online(s') for Double selection (raw: the mean; IQN: (B, A, 1), the
                                    # mean over its K fixed taus as one column); None if the rule does not read it
    next_target: np.ndarray         # (B, A): Q_target(s'); raw: the head's outputs (B, A, N')
    extra: dict                     # the rule's other keyword arguments: ``q_target`` (B, A), ``taus`` (B, N)


def stacked_forwards(online, target, batch, rule, rng, reuse) -> Forwards:
    """The forwards of every rule but IQN's: s and s' stacked through the online net if the rule reads
    Q_online(s'), and through the target net if it reads Q_target(s) (``rule.target_obs``); ``rng`` is not read."""
    B, extra = batch.action.shape[0], {}
    if rule.online_next:
        # one forward of the online net over s and s' stacked: (2B, obs_dim) -> (2B, A) (raw: (2B, A, N))
        out_both, cache = online.forward(np.concatenate((batch.obs, batch.next_obs)), reuse, rule.raw)
        out, next_online = out_both[:B], out_both[B:]
        cache = [x[:B] for x in cache]                # the s' half gets no gradient
        q = out
        if rule.raw:                                  # the means of s and s' at once, (2B, A): Q(s) for the
            q_both = online.head.mean(out_both)       # metrics, Q(s') all that Double selection reads
            q, next_online = q_both[:B], q_both[B:]
    else:
        (out, cache), next_online = online.forward(batch.obs, reuse, rule.raw), None
        q = online.head.mean(out) if rule.raw else out
    if rule.target_obs:
        # one forward of the target net over s and s' stacked: (2B, obs_dim) -> (2B, A); Q_target(s) for the rule
        q_target_both = target.forward(np.concatenate((batch.obs, batch.next_obs)), reuse)[0]
        extra["q_target"], next_target = q_target_both[:B], q_target_both[B:]
    else:
        next_target = target.forward(batch.next_obs, reuse, rule.raw)[0]   # (B, A) (raw: (B, A, N))
    return Forwards(out, cache, q, next_online, next_target, extra)


def sampled_tau_forwards(online, target, batch, rule, rng, reuse) -> Forwards:
    """IQN's forwards (``nn/implicit.py: ImplicitQuantileMLP.learning_forwards``): taus ~ U(0, 1) drawn from ``rng``
    for the online net at s (B, N) and independent ones for the target net at s' (B, N'); for a Double rule, the
    online net's Q at s' on its K fixed taus. The online taus go to the rule as ``taus``, the loss's levels;
    ``reuse`` is not read (the network keeps no work arrays)."""
    out, cache, next_online, next_target, taus = online.learning_forwards(target, batch.obs, batch.next_obs, rng,
                                                                          rule.online_next)
    return Forwards(out, cache, online.head.mean(out), next_online, next_target, {"taus": taus})
