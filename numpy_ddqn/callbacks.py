"""Training callbacks: what ``learn(callback=...)`` and ``train(callback=...)`` accept, checked before training.

A callback is called after every env step (the step at which the env is solved included); returning
``False`` stops training. Accepted, so that Stable-Baselines3 habits work:

- a callable ``f(info)`` taking a ``StepInfo``;
- an object with ``on_step(info)``;
- an SB3-style object with ``_on_step()`` (or ``on_step()``) taking no argument: before each call it is
  given ``num_timesteps``, ``n_calls``, ``locals = {"info": StepInfo}`` and, through the model API,
  ``model``;
- a list (or tuple) of any of these, called in order; any one returning ``False`` stops.

Anything else is refused in one line (``ConfigError``) before the first step.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from .errors import ConfigError


def _takes_no_argument(method) -> bool:
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):          # a builtin without a signature: call it with the info
        return False
    return not any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) and
                   p.default is p.empty for p in params)


def _sb3_style(obj, method, model) -> Callable[[Any], Any]:
    """Call ``method()`` with SB3's attributes set on ``obj`` first."""
    obj.n_calls = getattr(obj, "n_calls", 0)
    if model is not None:
        obj.model = model

    def call(info):
        obj.n_calls += 1
        obj.num_timesteps = info.step
        obj.locals = {"info": info}
        return method()
    return call


def _one(callback, model) -> Callable[[Any], Any]:
    sb3 = getattr(callback, "_on_step", None)
    on_step = getattr(callback, "on_step", None)
    if callable(on_step) and _takes_no_argument(on_step):
        return _sb3_style(callback, on_step, model)
    if callable(on_step):
        return on_step
    if callable(sb3) and _takes_no_argument(sb3):
        return _sb3_style(callback, sb3, model)
    if callable(callback) and not isinstance(callback, type):
        return callback
    raise ConfigError(f"callback must be a function f(info), an object with on_step(info) or SB3's _on_step(), "
                      f"or a list of them; got {type(callback).__name__}: {str(callback)[:60]!r}")


def as_callback(callback: Any, model: Any = None) -> Callable[[Any], Any] | None:
    """One function ``f(info) -> False to stop`` for any accepted callback (``None`` stays ``None``)."""
    if callback is None:
        return None
    if isinstance(callback, (list, tuple)):
        calls = [_one(c, model) for c in callback]

        def all_of(info):
            results = [c(info) for c in calls]          # every callback sees every step
            return False if any(r is False for r in results) else None
        return all_of
    return _one(callback, model)
