"""Which entry of each of the DQN family's registries a ``Config`` selects, and the replay registry.

One registry per axis, each entry with its equation in its docstring and its own tests:

    axis            registry                   selected by                     entries
    head            nn/heads.py: HEADS         Config.dueling, distribution    linear, dueling, categorical[_dueling],
                                                                               quantile[_dueling]
    learning rule   rl/targets.py: RULES       Config.munchausen, .double,     dqn, double, munchausen,
                                               distribution                    [double_]categorical, [double_]quantile,
                                                                               [double_]implicit
    network         rl/build.py                Config.layers, distribution    MLP, Network (layers),
                                                                               ImplicitQuantileMLP (implicit)
    replay          rl/registry.py: REPLAYS    Config.prioritized              uniform, prioritized
    n-step writer   rl/nstep.py: make_writer   Config.n_step                   one-step, n-step

The functions below are the only code that reads those config fields: the networks, the memory plan, the
builder and the agent see an entry, never a flag. A new member is a new entry, one more case here (or a new
config field read here), and its tests.
"""
from __future__ import annotations

import numpy as np

from .categorical import categorical_support
from .prioritized import PrioritizedReplayBuffer
from .quantile import quantile_midpoints
from .replay import ReplayBuffer

REPLAYS = {"uniform": ReplayBuffer, "prioritized": PrioritizedReplayBuffer}
"""Replay types by name; each has ``ReplayBuffer``'s interface (``from_config``, ``add``, ``sample(batch_size, rng,
beta=None) -> Batch``, ``update_priorities``, ``extra_bytes``, ``state_dict``)."""


def head_name(config) -> str:
    """The ``nn.heads.HEADS`` key of the Q head: "dueling" (``Q = V + A - mean A``) or "linear"; with a
    ``distribution``, "categorical" / "quantile", "_dueling" added for the per-atom dueling head; IQN (implicit):
    "dueling" / "linear", applied to each (state, tau) row (``implicit_params``)."""
    distribution = config.distribution
    if distribution not in ("none", "implicit"):  # IQN's head is the linear / dueling one on each tau's row
        return f"{distribution}_dueling" if config.dueling else distribution
    return "dueling" if config.dueling else "linear"


def head_params(config) -> dict:
    """The parameters of the head (``nn.heads.get_head(name, **params)``): C51's atoms and support, QR-DQN's
    number of quantiles, none otherwise."""
    distribution = config.distribution
    if distribution == "categorical":
        return dict(n_atoms=config.n_atoms, v_min=config.v_min, v_max=config.v_max)
    if distribution == "quantile":
        return dict(n_quantiles=config.n_quantiles)
    return {}


def rule_name(config) -> str:
    """The ``targets.RULES`` key of the learning rule: "munchausen" (Munchausen DQN), "double" (Double DQN) or "dqn";
    with a ``distribution``, "double_categorical" / "categorical", "double_quantile" / "quantile" or
    "double_implicit" / "implicit"."""
    distribution = config.distribution
    if distribution != "none":
        return f"double_{distribution}" if config.double else distribution
    if config.munchausen:
        return "munchausen"
    return "double" if config.double else "dqn"


def implicit_params(config) -> dict:
    """IQN's network settings (``nn.implicit.ImplicitQuantileMLP``'s keywords: n_cos and the numbers of taus N, N',
    K), or ``{}``: the config builds an ``MLP`` or a ``Network``."""
    if config.distribution != "implicit":
        return {}
    return dict(n_cos=config.n_cos, n_taus=config.n_taus, n_target_taus=config.n_target_taus,
                n_policy_taus=config.n_policy_taus)


def rule_params(config) -> dict:
    """The config's settings of its learning rule, as keywords its ``learn`` function is bound with, in the networks'
    dtype: the support z (C51); the midpoints tau and kappa (QR-DQN); kappa (IQN); ``alpha``, ``tau``, ``l0`` (Munchausen); none
    for "dqn" and "double"."""
    distribution, dtype = config.distribution, np.dtype(config.dtype)
    if distribution == "categorical":
        return dict(z=categorical_support(config.v_min, config.v_max, config.n_atoms, dtype))
    if distribution == "quantile":
        return dict(taus=quantile_midpoints(config.n_quantiles, dtype), kappa=config.kappa)
    if distribution == "implicit":                # the taus are sampled per update (the agent passes them)
        return dict(kappa=config.kappa)
    if config.munchausen:
        return {"alpha": config.m_alpha, "tau": config.m_tau, "l0": config.m_l0}
    return {}


def replay_name(config) -> str:
    """The ``REPLAYS`` key of the replay type: "prioritized" or "uniform"."""
    return "prioritized" if config.prioritized else "uniform"
