"""Where an env's legal actions come from, read and checked at every reset and step (``Config.action_masks``).

Three sources, in this order: a callable the user passes (the model API's ``action_mask_fn(env) -> mask``), the
env's method ``action_masks()`` (sb3-contrib's convention), or ``info["action_mask"]`` (Gymnasium's: ``Taxi-v3``
puts one there at every reset and step). A mask is (A,) bool, True = legal ((N, A) for a vector env of N envs).
A vector env reads ``info["action_mask"]`` first (Gymnasium stacks it over the sub-envs, and after an autoreset
a row is the new episode's), the sub-envs' ``action_masks()`` (``env.call``: a round trip to every worker of an
async vector env) only without it.

A state with no legal action is the env's error (``EnvError``, one line with the env step), except the final state
of a terminated episode: nothing is chosen there and nothing bootstraps from it, so its mask (which some envs
leave all False at game over) is taken as all legal.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import EnvError

MaskFn = Callable[[Any], Any]
"""``fn(env) -> mask``: the legal actions of the env's current state ((A,), or (N, A) for a vector env)."""


def env_method(env: Any, name: str) -> Callable | None:
    """The env's method ``name`` (looked up through Gymnasium wrappers), or ``None``."""
    try:
        method = env.get_wrapper_attr(name) if hasattr(env, "get_wrapper_attr") else getattr(env, name)
    except AttributeError:
        return None
    return method if callable(method) else None


def mask_source(env: Any, info: dict, env_id: str, fn: MaskFn | None = None, vector: bool = False
                ) -> Callable[[Any, dict], Any]:
    """How to read the legal actions of ``env`` (``info`` is its first reset's): ``source(env, info) -> mask``.

    Raises ``EnvError`` in one line if the env provides none of the three sources."""
    if fn is not None:
        return lambda env, info: fn(env)
    if vector:
        if isinstance(info, dict) and "action_mask" in info:
            return lambda env, info: info["action_mask"]
        try:
            env.call("action_masks")
            return lambda env, info: np.stack(env.call("action_masks"))
        except Exception:
            pass
    else:
        method = env_method(env, "action_masks")
        if method is not None:
            return lambda env, info: method()
        if isinstance(info, dict) and "action_mask" in info:
            return lambda env, info: info["action_mask"]
    raise EnvError(f"action_masks is on but {env_id} provides no action mask: neither info['action_mask'] nor an "
                   f"action_masks() method (the model API also takes action_mask_fn=)")


def check_env_mask(mask: Any, n_actions: int, env_id: str, step: int, terminated: Any = False) -> np.ndarray:
    """``mask`` as a bool array of shape (A,) or (N, A); ``EnvError`` in one line if it is misshapen or a state that
    is not a terminated episode's last has no legal action (a terminated one's is taken as all legal)."""
    m = np.asarray(mask)
    if m.shape[-1:] != (n_actions,) or m.ndim not in (1, 2) or m.dtype.kind not in "biu":
        raise EnvError(f"{env_id} returned an action mask of shape {m.shape} and dtype {m.dtype} at env step {step}; "
                       f"expected {n_actions} booleans (True = legal) per state")
    m = m.astype(bool)
    empty = ~m.any(axis=-1)                              # () or (N,)
    if empty.any():
        ended = np.asarray(terminated, bool)
        if (empty & ~ended).any():
            raise EnvError(f"{env_id} has no legal action at env step {step}: its action mask is all False in a "
                           f"state that is not terminal")
        m = np.where(empty[..., np.newaxis], True, m)    # a terminated episode's last state: never acted in
    return m


def env_mask(env: Any, info: dict, env_id: str, n_actions: int, fn: MaskFn | None = None, step: int = 0,
             terminated: bool = False) -> np.ndarray:
    """The legal actions of a (single) env's current state, (A,) bool, from its source, checked (evaluation)."""
    return check_env_mask(mask_source(env, info, env_id, fn)(env, info), n_actions, env_id, step, terminated)


def mask_reader(env_id: str, n_actions: int, fn: MaskFn | None = None) -> Callable[..., np.ndarray]:
    """``mask_of(env, info, terminated=False) -> (A,) bool`` for ``evaluate.play`` (one per evaluation)."""
    return lambda env, info, terminated=False: env_mask(env, info, env_id, n_actions, fn, 0, terminated)
