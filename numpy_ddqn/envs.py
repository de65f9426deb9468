"""Making and checking Gymnasium environments: the only module that imports gymnasium (lazily).

An env id is a registered id (``CartPole-v1``) or Gymnasium's ``module:EnvName-v0`` form, which
imports ``module`` (where the env registers itself) before making ``EnvName-v0``.
"""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from .errors import EnvError, MissingDependency, require


def make_env(env_id, render_mode=None):
    """``gymnasium.make(env_id)`` with a clear error for an unknown id or a missing package.

    ``env_id`` may also be an ``EnvSpec`` (``env.spec``), which keeps the kwargs it was made with.
    ``render_mode`` is passed only when given, so an env whose constructor has no such argument works.
    """
    gym = require("gymnasium", "gym")
    name = getattr(env_id, "id", env_id)
    kwargs = {} if render_mode is None else {"render_mode": render_mode}
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as e:
        raise MissingDependency(f"cannot make environment '{name}': {e}") from None
    except gym.error.Error as e:                 # NameNotFound, VersionNotFound, ...
        raise EnvError(f"cannot make environment '{name}': {e}") from None
    except ModuleNotFoundError as e:             # the module of 'module:EnvName-v0'
        module = str(name).rsplit(":", 1)[0]
        raise EnvError(f"cannot make environment '{name}': no module named {e.name or module!r} "
                       f"(a 'module:EnvName-v0' id imports the module, which must be importable)") from None


def env_name(env_id):
    """The registered name of an env id: ``EnvName-v0`` for both ``EnvName-v0`` and ``module:EnvName-v0``."""
    return env_id.rsplit(":", 1)[-1]


def folder_name(env_id):
    """``env_id`` made safe as part of a folder name (``pkg.mod:Env-v0`` -> ``pkg.mod-Env-v0``)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in env_id)


def check_display():
    """Raise ``EnvError`` in one line when a window cannot open (Linux/BSD without DISPLAY or WAYLAND_DISPLAY)."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd")) and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise EnvError("--render needs a display, and this machine has none (DISPLAY is not set); "
                       "use 'numpy-ddqn record CHECKPOINT' for a video file instead")


@contextlib.contextmanager
def rendering(extra):
    """Turn a renderer's missing package (pygame) or failure to start into one-line errors."""
    gym = require("gymnasium", "gym")
    try:
        yield
    except MissingDependency:
        raise
    except (gym.error.DependencyNotInstalled, ImportError) as e:
        missing = getattr(e, "name", None) or "pygame"
        raise MissingDependency(f"rendering needs the '{missing}' package: "
                                f"pip install 'numpy_ddqn[{extra}]'") from None
    except Exception as e:
        if type(e).__module__.split(".")[0] != "pygame":   # pygame.error: no video device, ...
            raise
        raise EnvError(f"the renderer could not start: {e}") from None


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
