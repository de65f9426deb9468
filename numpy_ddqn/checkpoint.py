"""Checkpoints as ``.npz`` files (no pickle), written atomically, and what is read back from them.

Layout: every array of the state sits under a path-like key (``agent/online``,
``agent/optimizer/m``, ``agent/replay/obs``); everything else (config, counters, RNG states) is one
JSON document under ``meta.json`` in which each array is replaced by ``{"__array__": key}``.

Reading: ``load_checkpoint`` (the state; ``DDQNAgent.read_checkpoint`` is it), ``config_from_state`` (its ``Config``), ``agent_from_state`` /
``agent_from_checkpoint`` (the agent, checked against the env's spaces; ``DDQNAgent.from_state`` and
``DDQNAgent.from_checkpoint`` are these), ``agent_policy`` (an agent's greedy policy, for export). This module
needs only NumPy, the config and the standalone ``policy.py``: the agent's class is passed in, never imported.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import Config
from .errors import CheckpointError, ConfigError
from .policy import Policy, write_atomic

if TYPE_CHECKING:                                 # for the annotations only: the class is passed in
    from .rl.agent import DDQNAgent

FORMAT_VERSION = 1


def _split(tree, prefix, arrays):
    """Replace ndarray leaves by references, collecting the arrays (JSON-safe remainder)."""
    if isinstance(tree, np.ndarray):
        arrays[prefix] = tree
        return {"__array__": prefix}
    if isinstance(tree, dict):
        return {k: _split(v, f"{prefix}/{k}", arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_split(v, f"{prefix}/{i}", arrays) for i, v in enumerate(tree)]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _join(tree, arrays):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: _join(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join(v, arrays) for v in tree]
    return tree


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` (nested dicts of arrays, numbers, strings) to ``path`` atomically.

    The file is written next to its destination under a temporary name, flushed to disk, then
    renamed over ``path``: a crash mid-write leaves the previous checkpoint intact.
    """
    path = Path(path)
    arrays = {}
    meta = _split({"format_version": FORMAT_VERSION, **state}, "", arrays)
    buf = io.BytesIO()
    np.savez(buf, **{"meta.json": np.frombuffer(json.dumps(meta).encode(), np.uint8)},
             **{k.lstrip("/"): v for k, v in arrays.items()})
    return write_atomic(path, buf.getbuffer())


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint back into the nested state; ``CheckpointError`` if it is not a sound one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "meta.json" not in data.files:
                raise CheckpointError(f"{path} is not a numpy_ddqn checkpoint (no meta.json entry)")
            meta = json.loads(data["meta.json"].tobytes().decode())
            arrays = {"/" + k: data[k] for k in data.files if k != "meta.json"}
    except CheckpointError:
        raise
    except Exception as e:   # a damaged zip fails in many ways (BadZipFile, NotImplementedError, ...)
        raise CheckpointError(f"{path} is truncated or corrupt and cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("format_version"), int):
        raise CheckpointError(f"{path} is not a numpy_ddqn checkpoint (no format version)")
    if meta["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {meta['format_version']}; this numpy_ddqn reads "
                              f"up to {FORMAT_VERSION}: upgrade numpy_ddqn to load it")
    try:
        return _join(meta, arrays)
    except KeyError as e:
        raise CheckpointError(f"{path} is corrupt: array {e} is missing") from None


def config_from_state(state: dict, source: object = "checkpoint") -> Config:
    """The ``Config`` a checkpoint state was trained with; ``CheckpointError`` if missing or invalid."""
    try:
        return Config.from_dict(state["config"])
    except ConfigError as e:
        raise CheckpointError(f"{source} holds an invalid config: {e}") from None
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{source} is not a complete numpy_ddqn checkpoint ({type(e).__name__}: {e})") from None


def agent_from_state(agent_class: type[DDQNAgent], state: dict, obs_dim: int | tuple[int, ...] | None = None,
                     n_actions: int | None = None, source: object = "checkpoint",
                     config: Config | None = None) -> DDQNAgent:
    """The agent (an ``agent_class``, ``DDQNAgent``) a checkpoint state holds, checked against the env's spaces
    when given; ``config`` replaces the saved one (a resumed run's, with its allowed changes)."""
    config = config or config_from_state(state, source)
    try:
        saved_obs, saved_actions = int(state["obs_dim"]), int(state["n_actions"])
        agent_state = state["agent"]
        saved_shape = tuple(int(n) for n in state.get("obs_shape", (saved_obs,)))   # images: (H, W, C)
        saved_obs_dtype = state.get("obs_dtype")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{source} is not a complete numpy_ddqn checkpoint ({type(e).__name__}: {e})") from None
    if saved_obs_dtype not in (None, "uint8", "bool"):
        raise CheckpointError(f"{source} has an unknown observation storage {saved_obs_dtype!r}")
    shape = None if obs_dim is None else tuple(int(n) for n in np.atleast_1d(obs_dim))
    if (shape is not None and shape != saved_shape) or (n_actions is not None and n_actions != saved_actions):
        saved_what = saved_obs if len(saved_shape) == 1 else saved_shape
        raise CheckpointError(f"{source} was trained on {config.env_id} with {saved_what} observations and "
                              f"{saved_actions} actions; this env has {obs_dim} and {n_actions}")
    agent = agent_class(saved_shape if len(saved_shape) > 1 else saved_obs, saved_actions, config, saved_obs_dtype)
    try:
        agent.load_state_dict(agent_state)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise CheckpointError(f"{source} does not fit the network {agent.online.sizes}: {e}") from None
    return agent


def agent_from_checkpoint(agent_class: type[DDQNAgent], path: str | Path, obs_dim: int | tuple[int, ...] | None = None,
                          n_actions: int | None = None) -> DDQNAgent:
    """The agent saved in a checkpoint file (``last.npz``, ``best.npz``), ready to act or learn on."""
    return agent_from_state(agent_class, load_checkpoint(path), obs_dim, n_actions, source=path)


def agent_policy(agent: DDQNAgent) -> Policy:
    """An agent's greedy policy (its online network) as a NumPy-only ``policy.Policy``, for export."""
    online = agent.online
    weights, layers = online.export_weights()      # noisy layers: their means; an MLP's LayerNorms: a layer list
    return Policy(weights, agent.config.activation, agent.config.env_id, head=online.head_name,
                  layers=layers, obs_shape=agent.obs_shape if layers else None, head_params=online.head.params)

