"""Which entry of each of the DQN family's registries a ``Config`` selects, and the replay registry.

One registry per axis, each entry with its equation in its docstring and its own tests:

    axis            registry                   selected by                     entries
    head            nn/heads.py: HEADS         Config.dueling                  linear, dueling
    learning rule   rl/targets.py: RULES       Config.munchausen, .double      dqn, double, munchausen
    replay          rl/registry.py: REPLAYS    Config.prioritized              uniform, prioritized
    n-step writer   rl/nstep.py: make_writer   Config.n_step                   one-step, n-step

The functions below are the only code that reads those config fields: the networks, the memory plan, the
builder and the agent see an entry, never a flag. A new member is a new entry, one more case here (or a new
config field read here), and its tests.
"""
from __future__ import annotations

from .prioritized import PrioritizedReplayBuffer
from .replay import ReplayBuffer

REPLAYS = {"uniform": ReplayBuffer, "prioritized": PrioritizedReplayBuffer}
"""Replay types by name; each has ``ReplayBuffer``'s interface (``from_config``, ``add``, ``sample(batch_size, rng,
beta=None) -> Batch``, ``update_priorities``, ``extra_bytes``, ``state_dict``)."""


def head_name(config) -> str:
    """The ``nn.heads.HEADS`` key of the Q head: "dueling" (``Q = V + A - mean A``) or "linear"."""
    return "dueling" if config.dueling else "linear"


def rule_name(config) -> str:
    """The ``targets.RULES`` key of the learning rule: "munchausen" (Munchausen DQN), "double" (Double DQN) or "dqn"."""
    if getattr(config, "munchausen", False):
        return "munchausen"
    return "double" if config.double else "dqn"


def rule_params(config) -> dict:
    """The config's settings of its learning rule, as keywords its ``learn`` function is bound with (none for
    "dqn" and "double"; ``alpha``, ``tau``, ``l0`` for "munchausen")."""
    if rule_name(config) == "munchausen":
        return {"alpha": config.m_alpha, "tau": config.m_tau, "l0": config.m_l0}
    return {}


def replay_name(config) -> str:
    """The ``REPLAYS`` key of the replay type: "prioritized" or "uniform"."""
    return "prioritized" if config.prioritized else "uniform"
