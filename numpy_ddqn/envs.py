"""Making and checking Gymnasium environments: the only module that imports gymnasium (lazily)."""
from __future__ import annotations

import numpy as np

from .errors import EnvError, require


def make_env(env_id, render_mode=None):
    """``gymnasium.make(env_id)`` with a clear error for an unknown id or a missing package.

    ``env_id`` may also be an ``EnvSpec`` (``env.spec``), which keeps the kwargs it was made with.
    """
    gym = require("gymnasium", "gym")
    name = getattr(env_id, "id", env_id)
    try:
        return gym.make(env_id, render_mode=render_mode)
    except gym.error.Error as e:                 # NameNotFound, VersionNotFound, DependencyNotInstalled, ...
        raise EnvError(f"cannot make environment '{name}': {e}") from None


def check_spaces(env):
    """Return ``(obs_dim, n_actions)``, or raise ``EnvError`` naming an unsupported space.

    Supported: a flat (1-D) ``Box`` observation space and a ``Discrete`` action space.
    """
    spaces = require("gymnasium.spaces", "gym")
    name = getattr(getattr(env, "spec", None), "id", None) or type(env).__name__
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(act_space, spaces.Discrete):
        hint = (" (continuous actions: DQN needs a finite action set; discretise them with a wrapper "
                "or use an actor-critic method)") if isinstance(act_space, spaces.Box) else ""
        raise EnvError(f"{name}: action space {act_space} is not supported; DQN needs a Discrete "
                       f"action space{hint}")
    if int(act_space.start) != 0:
        raise EnvError(f"{name}: Discrete action space must start at 0, got start={act_space.start}")
    if not isinstance(obs_space, spaces.Box):
        raise EnvError(f"{name}: observation space {obs_space} is not supported; a flat Box is needed "
                       f"(wrap it with gymnasium.wrappers.FlattenObservation)")
    if len(obs_space.shape) != 1:
        raise EnvError(f"{name}: observation space has shape {obs_space.shape}; a flat (1-D) Box is needed "
                       f"(for images use a CNN-based agent, or flatten with "
                       f"gymnasium.wrappers.FlattenObservation)")
    return int(obs_space.shape[0]), int(act_space.n)


def check_finite(step, what, value, env_id):
    """Raise ``EnvError`` if an observation or reward from the env holds NaN or inf."""
    if not np.all(np.isfinite(value)):
        raise EnvError(f"{env_id} returned a non-finite {what} at env step {step}: {value!r}; "
                       f"the environment is broken or needs its inputs clipped")


def env_rng(env):
    """The environment's own random generator (``env.unwrapped.np_random``), or ``None``."""
    return getattr(getattr(env, "unwrapped", env), "np_random", None)
