"""The builder: from a ``Config`` and the env's spaces to the agent's parts (``build_parts``: networks, optimizer,
replay, n-step writer, learning rule, schedules).

Each part comes from its registry (``registry.py`` says which entry a config selects), checked before anything
is allocated: a config that cannot work here (layers that do not fit the observations, more memory than the
machine has, a head that needs more actions) fails in one line naming the field.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import numpy as np

from ..config import Config
from ..errors import ConfigError
from ..nn import MLP, OPTIMIZERS, Network
from ..nn.heads import get_head
from ..nn.implicit import ImplicitQuantileMLP
from ..nn.network import count_params
from ..nn.optim import SGD, Adam
from .memory import MemoryPlan, check_memory, plan_memory
from .nstep import NStepWriter, OneStepWriter, make_writer
from .registry import REPLAYS, head_name, head_params, implicit_params, replay_name, rule_name, rule_params
from .replay import ReplayBuffer
from .schedules import LinearSchedule, epsilon_schedule, learning_rate_schedule
from .targets import RULES, Rule


def make_optimizer(config: Config) -> SGD | Adam:
    """The optimizer a ``Config`` asks for, from the ``nn.OPTIMIZERS`` registry."""
    kwargs = {"sgd": dict(momentum=config.momentum, nesterov=config.nesterov),
              "adam": dict(beta1=config.adam_beta1, beta2=config.adam_beta2, eps=config.adam_eps)}
    return OPTIMIZERS[config.optimizer](config.learning_rate, **kwargs[config.optimizer])


def check_agent(config: Config, obs_shape: tuple[int, ...], n_actions: int, obs_dtype: str | None = None
                ) -> MemoryPlan:
    """The memory plan of an agent of ``config`` on these spaces; ``ConfigError`` in one line if it cannot be built."""
    head, entry = head_name(config), get_head(head_name(config), **head_params(config))
    if config.layers:                             # shapes through the layers, checked before anything is built
        try:
            count_params(config.layers, obs_shape, entry.n_outputs(n_actions), config.noisy)
        except ValueError as e:
            raise ConfigError(f"config field 'layers' = {config.layers!r} is invalid for observations of "
                              f"shape {obs_shape}: {e}") from None
    elif len(obs_shape) > 1:
        raise ConfigError(f"observations of shape {obs_shape} need a network of layers: set layers, "
                          f"e.g. conv16x3,relu,flatten,dense128,relu")
    plan = plan_memory(config, obs_shape, n_actions, obs_dtype)
    check_memory(plan)                            # before allocating: a one-line error, not a MemoryError
    if n_actions < entry.min_actions:
        raise ConfigError(f"config field 'dueling' = {config.dueling} is invalid: a {head} head needs "
                          f">= {entry.min_actions} actions, this env has {n_actions}")
    return plan


def build_network(config: Config, obs_shape: tuple[int, ...], n_actions: int,
                  rng: np.random.Generator) -> MLP | Network | ImplicitQuantileMLP:
    """A Q-network: a ``Network`` of ``config.layers`` (convolutions for images), else an ``MLP`` of
    ``config.hidden_sizes`` (with LayerNorms and noisy layers if the config asks), with the config's head; with
    ``distribution="implicit"`` an ``ImplicitQuantileMLP`` of ``hidden_sizes``; initial weights drawn from ``rng``."""
    head, params = head_name(config), head_params(config)
    implicit = implicit_params(config)
    if implicit:                                  # IQN: an MLP trunk, the cosine embedding, per-tau rows
        sizes = (int(np.prod(obs_shape)), *config.hidden_sizes, n_actions)
        return ImplicitQuantileMLP(sizes, config.activation, config.dtype, rng, head, config.layer_norm, **implicit)
    if config.layers:
        return Network(obs_shape, config.layers, n_actions, head, config.dtype, rng, params, config.noisy,
                       config.noisy_sigma0)
    sizes = (int(np.prod(obs_shape)), *config.hidden_sizes, n_actions)
    return MLP(sizes, config.activation, config.dtype, rng, head, params, config.layer_norm, config.noisy,
               config.noisy_sigma0)


def build_rule(config: Config) -> Rule:
    """The learning rule of the config (``RULES``), its settings bound (``registry.rule_params``: the support, the
    taus and kappa of a distributional rule; Munchausen's alpha, tau and l0)."""
    rule, params = RULES[rule_name(config)], rule_params(config)
    return rule._replace(learn=partial(rule.learn, **params)) if params else rule


def build_replay(config: Config, obs_shape: tuple[int, ...], obs_dtype: str | None = None) -> ReplayBuffer:
    """The replay memory of the config's type (``REPLAYS``); frames keep their shape, vectors are flat."""
    obs = obs_shape if len(obs_shape) > 1 else int(np.prod(obs_shape))
    return REPLAYS[replay_name(config)].from_config(config, obs, obs_dtype)


def build_writer(config: Config, replay: ReplayBuffer) -> OneStepWriter | NStepWriter:
    """What turns env steps into stored transitions: one-step, or ``config.n_step``-step returns."""
    return make_writer(replay, config.n_step, config.gamma)


class Parts(NamedTuple):
    """What ``build_parts`` makes: everything an agent holds besides its counters and random streams."""
    memory: MemoryPlan                    # the bytes it holds, computed before allocating
    online: MLP | Network                 # Q_online
    target: MLP | Network                 # Q_target, equal to Q_online at the start
    optimizer: SGD | Adam
    replay: ReplayBuffer                  # of the config's replay type
    writer: OneStepWriter | NStepWriter   # env steps -> stored transitions
    rule: Rule                            # targets and loss
    epsilon_schedule: Callable            # step -> epsilon
    learning_rate_schedule: Callable      # step -> learning rate
    beta_schedule: Callable               # step -> prioritized replay's beta, annealed to 1


def build_parts(config: Config, obs_shape: tuple[int, ...], n_actions: int, obs_dtype: str | None,
                init_rng: np.random.Generator) -> Parts:
    """An agent's parts, each from its registry; ``ConfigError`` in one line, before allocating, if they cannot
    be built. Both networks draw their initial weights from ``init_rng`` (online first), then the target copies
    the online one."""
    memory = check_agent(config, obs_shape, n_actions, obs_dtype)
    online = build_network(config, obs_shape, n_actions, init_rng)
    target = build_network(config, obs_shape, n_actions, init_rng)
    target.copy_from(online)
    replay = build_replay(config, obs_shape, obs_dtype)
    if config.action_masks:                       # the legal actions at s and s', stored as bits
        replay.enable_masks(n_actions)
    return Parts(memory, online, target, make_optimizer(config), replay, build_writer(config, replay),
                 build_rule(config), epsilon_schedule(config), learning_rate_schedule(config),
                 LinearSchedule(config.per_beta, 1.0, config.total_steps))
