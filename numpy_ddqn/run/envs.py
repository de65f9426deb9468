"""Making and checking Gymnasium environments: the only module that imports gymnasium (lazily).

An env is named by a registered id (``CartPole-v1``), by Gymnasium's ``module:EnvName-v0`` form, which
imports ``module`` (where the env registers itself) before making ``EnvName-v0``, or by an entry point
``package.module:ClassName``, a ``gymnasium.Env`` subclass that is imported and instantiated.
"""
from __future__ import annotations

import contextlib
import os
import sys

from ..errors import EnvError, MissingDependency, require


EXTRA_OF_DEPENDENCY = {"box2d": "box2d", "pygame": "render", "minatar": "minatar"}
"""A package Gymnasium says is missing (lower case, as in its message) -> this project's extra that has it."""

MINATAR_PREFIX = "MinAtar/"
"""Env ids of MinAtar (``MinAtar/Breakout-v1``): registered on first use by MinAtar's own ``register_envs``."""


def register_minatar(env_id):
    """Register MinAtar's Gymnasium ids before ``env_id`` (a ``MinAtar/...`` id) is made.

    Gymnasium 1.x no longer loads plugins by entry point, so MinAtar's ``minatar.gym.register_envs`` is
    called here, once; without the package: ``MissingDependency`` naming the ``[minatar]`` extra.
    """
    gym = require("gymnasium", "gym")
    if not str(env_id).startswith(MINATAR_PREFIX) or env_id in gym.registry:
        return
    try:
        from minatar.gym import register_envs
    except ImportError:
        raise MissingDependency(f"cannot make environment '{env_id}': it needs the 'minatar' package: "
                                f"pip install 'numpy_ddqn[minatar]'") from None
    if env_id not in gym.registry:
        register_envs()


def make_env(env_id, render_mode=None, **kwargs):
    """``gymnasium.make(env_id, **kwargs)`` with a clear error for an unknown id or a missing package.

    ``env_id`` may also be an ``EnvSpec`` (``env.spec``), which keeps the kwargs it was made with.
    ``render_mode`` is passed only when given, so an env whose constructor has no such argument works.
    """
    gym = require("gymnasium", "gym")
    name = getattr(env_id, "id", env_id)
    register_minatar(name)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as e:
        extra = next((x for x in EXTRA_OF_DEPENDENCY if x in str(e).lower()), None)
        hint = f"pip install 'numpy_ddqn[{EXTRA_OF_DEPENDENCY[extra]}]'" if extra else str(e)
        raise MissingDependency(f"cannot make environment '{name}': it needs a package that is not "
                                f"installed: {hint}") from None
    except gym.error.Error as e:                 # NameNotFound, VersionNotFound, ...
        raise EnvError(f"cannot make environment '{name}': {e}") from None
    except ModuleNotFoundError as e:             # the module of 'module:EnvName-v0'
        module = str(name).rsplit(":", 1)[0]
        raise EnvError(f"cannot make environment '{name}': no module named {e.name or module!r} "
                       f"(a 'module:EnvName-v0' id imports the module, which must be importable)") from None


def env_from_config(config, render_mode=None):
    """The env a ``Config`` names: ``env_module`` imported first, ``env_kwargs`` passed to it.

    One-line ``EnvError``s name what failed: a module not found, a class not found, an object that
    is not a ``gymnasium.Env``, keyword arguments the env does not take.
    """
    import importlib
    gym = require("gymnasium", "gym")
    if config.env_module:
        check_module_name(config.env_module, f"--env-module {config.env_module!r}")
        try:
            importlib.import_module(config.env_module)
        except ImportError as e:
            raise EnvError(f"--env-module {config.env_module!r} cannot be imported: {e}") from None
    kwargs = config.env_kwargs_dict
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env_id = config.env_id
    module_name, _, attr = env_id.rpartition(":")
    target = None
    if module_name:
        check_module_name(module_name, f"cannot make environment '{env_id}':")
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise EnvError(f"cannot make environment '{env_id}': module {module_name!r} cannot be imported "
                           f"({e})") from None
        target = getattr(module, attr, None)
        if target is None and not _looks_like_id(attr):
            raise EnvError(f"cannot make environment '{env_id}': module {module_name!r} has no {attr!r} "
                           f"(and no env id {attr!r} is registered)")
    if target is not None:
        if isinstance(target, type) and not issubclass(target, gym.Env) or not callable(target):
            raise EnvError(f"cannot make environment '{env_id}': {attr} is not a gymnasium.Env subclass")
        try:
            env = target(**kwargs)                # a class, or a function that makes the env
        except TypeError as e:
            raise EnvError(f"cannot make environment '{env_id}' with env_kwargs {config.env_kwargs}: {e}") from None
        if not isinstance(env, gym.Env):
            raise EnvError(f"cannot make environment '{env_id}': {attr}() returned a {type(env).__name__}, "
                           f"not a gymnasium.Env")
        return env
    try:
        return make_env(attr if module_name else env_id, **kwargs)
    except TypeError as e:
        raise EnvError(f"cannot make environment '{env_id}' with env_kwargs {config.env_kwargs}: {e}") from None


def check_module_name(name, what):
    """Refuse a module name that is not dotted Python identifiers (``../x``, ``/etc/passwd``): an
    ``EnvError`` beginning with ``what``."""
    if not all(part.isidentifier() for part in name.split(".")):
        raise EnvError(f"{what} module {name!r} is not a Python module name (dotted identifiers, like "
                       f"my_package.envs)")


SYNC_ENV_BYTES = 64_000
"""Planned memory of one env of a sync vector env (a registered env and its wrappers: CartPole's measured
5 KB with tracemalloc; MinAtar's and Box2D's are larger), beside its observation buffers."""

ASYNC_ENV_BYTES = 16_000_000
"""Planned memory of one env of an async vector env: a forked worker process (CartPole's measured 4 MB
private, 12 MB proportional set size)."""


def check_vector_size(config, available=None, max_processes=None):
    """Refuse ``num_envs`` the machine cannot hold, in one ``ConfigError``, before any env is made: their
    planned memory (``SYNC_ENV_BYTES`` / ``ASYNC_ENV_BYTES`` each) beyond the available memory, or (async)
    more worker processes than the process limit allows (``RLIMIT_NPROC``, and three file descriptors
    each under ``RLIMIT_NOFILE``)."""
    from ..errors import ConfigError
    from ..rl.memory import available_memory, human
    n = config.num_envs
    if n <= 1:
        return
    per_env = ASYNC_ENV_BYTES if config.vector == "async" else SYNC_ENV_BYTES
    available = available_memory() if available is None else available
    if available is not None and n * per_env > available:
        raise ConfigError(f"num_envs = {n:,} ({config.vector}) needs about {human(n * per_env)} for its envs "
                          f"({human(per_env)} each), but only {human(available)} is available; lower num_envs")
    if config.vector == "async":
        max_processes = process_limit() if max_processes is None else max_processes
        if max_processes is not None and n > max_processes:
            raise ConfigError(f"num_envs = {n:,} with --vector async starts one process per env, but this "
                              f"machine allows {max_processes:,} more; lower num_envs (or use --vector sync)")


def process_limit():
    """How many more processes this one may start (``RLIMIT_NPROC`` less the running ones, and a third of
    ``RLIMIT_NOFILE``: pipes), or ``None`` where it cannot be told."""
    try:
        import resource
    except ImportError:                          # not on Windows
        return None
    limits = []
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    if nproc != resource.RLIM_INFINITY:
        running = len([p for p in os.listdir("/proc") if p.isdigit()]) if os.path.isdir("/proc") else 0
        limits.append(max(nproc - running, 0))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile != resource.RLIM_INFINITY:
        limits.append(nofile // 3)
    return min(limits) if limits else None


def vector_env_from_config(config):
    """``config.num_envs`` copies of the config's env as one ``gymnasium.vector`` env (``config.vector``:
    sync or async), with next-step autoreset: the step after an episode ends resets that env.

    Async workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process group): the training
    process decides when to stop, and saves. Envs whose instances differ in their spaces are refused in
    one ``EnvError``.
    """
    import functools
    gym = require("gymnasium", "gym")
    make_one = [functools.partial(env_from_config, config) for _ in range(config.num_envs)]
    if config.vector == "sync":
        make = functools.partial(gym.vector.SyncVectorEnv, make_one)
    else:
        make = functools.partial(quiet_async_vector_env(gym), make_one)
    try:
        with workers_ignore_sigint(config.vector == "async"):
            envs = make()
    except RuntimeError as e:                    # gymnasium: "Some environments have an observation space different..."
        if "space" not in str(e):
            raise
        raise EnvError(f"the {config.num_envs} instances of {config.env_id} have different spaces, so they "
                       f"cannot be stepped as one vector env ({e}); use --num-envs 1, or make every instance "
                       f"alike") from None
    check_next_step_autoreset(envs)
    return envs


@contextlib.contextmanager
def workers_ignore_sigint(active=True):
    """While active (main thread), SIGINT is ignored, so that processes started meanwhile inherit that."""
    import signal
    import threading
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def quiet_async_vector_env(gym):
    """``gymnasium.vector.AsyncVectorEnv`` whose worker errors are raised without gymnasium's logged
    worker traceback (~15 lines of warnings): the error stays one line, the trace goes into the
    exception's notes (shown with ``--debug``)."""
    import warnings

    class QuietAsyncVectorEnv(gym.vector.AsyncVectorEnv):
        def _raise_if_errors(self, successes):
            if all(successes):
                return
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    super()._raise_if_errors(successes)
                except Exception as e:
                    e.add_note("\n".join(str(w.message) for w in caught))
                    raise
    return QuietAsyncVectorEnv


def check_next_step_autoreset(envs):
    """Refuse a vector env whose autoreset mode is not next-step: the loop's bookkeeping relies on it."""
    mode = envs.metadata.get("autoreset_mode")
    if mode is not None and getattr(mode, "value", mode) != "NextStep":
        raise EnvError(f"vector env with autoreset mode {getattr(mode, 'value', mode)}; the training loop needs "
                       f"next-step autoreset (gymnasium's default)")


VECTOR_KWARGS = ("num_envs", "vectorization_mode", "vector_kwargs", "wrappers")
"""Keys ``gymnasium.make_vec`` adds to a vector env's spec kwargs: not arguments of the env itself."""


def env_copies(env, n):
    """``n`` new instances of ``env``'s registered env, made from its spec (same kwargs): evaluation copies.

    A vector env's spec is its single env's without the vector arguments (``num_envs``, ...); a vector env
    of env makers without a spec (``SyncVectorEnv([...])``) is copied by its first maker; any other env
    without a registered spec is refused in one line.
    """
    import dataclasses
    spec = getattr(env, "spec", None)
    if spec is None and is_vector(env) and getattr(env, "env_fns", None):
        return [env.env_fns[0]() for _ in range(n)]       # a SyncVectorEnv / AsyncVectorEnv of env makers
    if spec is None:
        raise EnvError("this env has no registered spec to make an evaluation copy from: "
                       "pass eval_env=..., or set eval_interval=0")
    if is_vector(env):
        drop = VECTOR_KWARGS + (("max_episode_steps",) if spec.kwargs.get("vectorization_mode") ==
                                "vector_entry_point" else ())
        spec = dataclasses.replace(spec, kwargs={k: v for k, v in spec.kwargs.items() if k not in drop})
    return [make_env(spec) for _ in range(n)]


def is_vector(env):
    """True for a ``gymnasium.vector`` env (it has ``num_envs`` and single-env spaces)."""
    return hasattr(env, "num_envs") and hasattr(env, "single_observation_space")


def _looks_like_id(name):
    """``EnvName-v0`` (a registered id's shape) rather than a class or function name."""
    return "-v" in name


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

    Supported: a flat (1-D) ``Box`` observation space (``obs_dim`` its length, an int) or an image ``Box``
    ``(H, W, C)`` (``obs_dim`` that shape, a tuple: the network needs conv ``layers``), and a ``Discrete``
    action space.
    """
    spaces = require("gymnasium.spaces", "gym")
    name = getattr(getattr(env, "spec", None), "id", None) or type(env).__name__
    if not (hasattr(env, "observation_space") and hasattr(env, "action_space") and hasattr(env, "step")):
        raise EnvError(f"expected a Gymnasium env (with observation_space, action_space, reset, step) or an env "
                       f"id like 'CartPole-v1', got a {type(env).__name__}: {str(env)[:60]!r}")
    obs_space, act_space = env.observation_space, env.action_space
    if is_vector(env):                            # a vector env: the spaces of one of its envs
        obs_space, act_space = env.single_observation_space, env.single_action_space
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
    if len(obs_space.shape) == 3:                 # an image, channels last (NHWC)
        return tuple(int(n) for n in obs_space.shape), int(act_space.n)
    if len(obs_space.shape) != 1:
        raise EnvError(f"{name}: observation space has shape {obs_space.shape}; a flat (1-D) Box or an image "
                       f"(H, W, C) is needed (flatten others with gymnasium.wrappers.FlattenObservation)")
    return int(obs_space.shape[0]), int(act_space.n)


def observation_warnings(env):
    """One-line warnings about observations that will train, but probably not as meant: a channels-first
    image, and integer values far beyond a byte that are trained unscaled."""
    import numpy as np
    space = env.single_observation_space if is_vector(env) else env.observation_space
    name = getattr(getattr(env, "spec", None), "id", None) or type(env).__name__
    shape, dtype, found = tuple(space.shape), np.dtype(space.dtype), []
    if len(shape) == 3 and shape[0] <= 4 < shape[2] and shape[0] < shape[1]:   # a channel count first, not last
        c, h, w = shape
        found.append(f"{name}'s observations {shape} look channels-first (C, H, W) but are read as (H, W, C) = "
                     f"({c}, {h}, {w}); if so, make them channels-last with gymnasium.wrappers.TransformObservation"
                     f"(env, lambda o: np.moveaxis(o, 0, -1), a Box of shape ({h}, {w}, {c}))")
    if dtype.kind in "iu" and dtype.itemsize > 1:
        high = np.max(space.high) if np.size(space.high) else 0
        if high > 255:
            found.append(f"{name}'s observations are {dtype} with values up to {int(high):,}, and are trained "
                         f"unscaled; scale them to about [0, 1] (gymnasium.wrappers.TransformObservation) "
                         f"for a stable network")
    return found


def observation_storage(env):
    """How the replay should store this env's observations: ``"bool"`` (bits) for a boolean Box, ``"uint8"``
    (bytes) for a uint8 image Box, ``None`` (the network's float dtype) for anything else."""
    space = env.single_observation_space if is_vector(env) else env.observation_space
    dtype = getattr(space, "dtype", None)
    if dtype == bool:
        return "bool"
    if dtype == "uint8" and len(space.shape) == 3:
        return "uint8"
    return None


def env_rng(env):
    """The environment's own random generator (``env.unwrapped.np_random``), or ``None`` (vector envs:
    their envs' generators live in them, in other processes for async)."""
    if is_vector(env):
        return None
    return getattr(getattr(env, "unwrapped", env), "np_random", None)
