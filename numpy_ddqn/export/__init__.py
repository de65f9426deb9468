"""Exporting a trained policy to run anywhere: ``npz`` (``policy.py``, NumPy only), ``c`` (one C99 file),
``onnx`` (ONNX, through the ``onnx`` extra); each checked against the NumPy policy by ``--check N``.

Every exporter is built from the exported ``Policy`` (``numpy_ddqn/policy.py``: weights and what the
forward pass needs), never from the training agent::

    from numpy_ddqn.export import export
    result = export("runs/x/last.npz", "policy.c", format="c", check=100_000)
    print(result)            # path, size, weights SHA-256, latency per action, parity report
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, ConfigError, MissingDependency, NumpyDDQNError
from ..policy import Policy, write_atomic
from .c import CPolicy, c_source, find_compiler, write_c
from .graph import describe
from .parity import ParityReport, check_parity, draw_from_space, observation_batches, rounding_bound

FORMATS = {"npz": ".npz", "c": ".c", "onnx": ".onnx"}
"""Export format -> the file suffix it is written under."""

__all__ = ["FORMATS", "CPolicy", "ExportResult", "ParityError", "ParityReport", "c_source", "check_parity",
           "draw_from_space", "export", "export_policy", "find_compiler", "load_source", "open_artifact",
           "rounding_bound", "write_atomic", "write_c"]


class ParityError(NumpyDDQNError):
    """The exported artifact differs from the NumPy policy beyond float32 rounding."""


def format_for(out: str | os.PathLike, format: str | None) -> str:
    """The format to write: ``format`` if given (checked against the suffix), else from ``out``'s suffix, else npz."""
    suffix = Path(out).suffix.lower()
    by_suffix = {s: f for f, s in FORMATS.items()}.get(suffix)
    if format is None:
        return by_suffix or "npz"
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; expected one of {', '.join(FORMATS)}")
    if by_suffix is not None and by_suffix != format:
        raise ConfigError(f"{out} ends in {suffix}, the suffix of --format {by_suffix}, but --format {format} "
                          f"writes a {FORMATS[format]} file; name it {Path(out).with_suffix(FORMATS[format]).name}")
    return format


def load_source(source) -> tuple[Policy, object, np.ndarray | None]:
    """``(policy, observation space or None, replay observations or None)`` of a checkpoint, a policy
    file, or a ``Policy``; the env is made only to read its observation space (``None`` if it cannot be)."""
    if isinstance(source, Policy):
        return source, _space(source.env_id, None), None
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint or policy file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            is_policy = "meta" in data.files
    except Exception:                             # not a readable .npz: load_checkpoint says what is wrong
        is_policy = False
    if is_policy:
        try:
            policy = Policy.load(path)
        except (ValueError, KeyError) as e:
            raise CheckpointError(str(e)) from None
        return policy, _space(policy.env_id, None), None
    from ..checkpoint import agent_from_state, agent_policy, config_from_state, load_checkpoint
    from ..rl.agent import DDQNAgent
    state = load_checkpoint(path)
    config = config_from_state(state, path)
    policy = agent_policy(agent_from_state(DDQNAgent, state, source=path, config=config))
    space = _space(config.env_id, config)
    policy.step = int(state["agent"]["steps"])
    policy.obs_dtype = None if space is None else str(np.dtype(space.dtype))
    replay = state["agent"].get("replay", {}).get("obs")
    return policy, space, (replay if replay is not None and len(replay) else None)


def _space(env_id, config):
    """The env's observation space, or ``None`` if the env cannot be made here (missing package, custom env)."""
    if not env_id:
        return None
    try:
        from ..run.envs import env_from_config, make_env
        env = env_from_config(config) if config is not None else make_env(env_id)
        space = env.observation_space
        env.close()
        return space if hasattr(space, "low") else None
    except Exception:                             # the env is optional for exporting: parity falls back to normal draws
        return None


def export_policy(policy: Policy, out: str | os.PathLike, format: str = "npz") -> Path:
    """Write ``policy`` to ``out`` in ``format`` (each writer is atomic); returns the path."""
    format = format_for(out, format)
    if format == "c":
        return write_c(policy, out)
    if format == "onnx":
        from .onnx_model import write_onnx
        return write_onnx(policy, out)
    return Path(policy.save(out))              # Policy.save writes atomically (policy.write_atomic)


def open_artifact(path: str | os.PathLike, format: str):
    """The exported file, loaded to run: ``(run, seconds_per_action, close)``; ``run(obs) -> (q, actions)``
    on a batch, ``seconds_per_action(obs)`` times one greedy action at a time over a batch of observations."""
    if format == "c":
        c = CPolicy(path)
        return (lambda obs: (c.q_values(obs), c.act(obs))), (lambda obs: c.seconds_per_action(obs, 20)), c.close
    if format == "onnx":
        from .onnx_model import OnnxPolicy
        o = OnnxPolicy(path)
        return o.run, (lambda obs: _time_each(lambda x: o.run(x[None]), obs)), (lambda: None)
    p = Policy.load(path)
    return (lambda obs: (p.q_values(obs), p.act(obs))), (lambda obs: _time_each(p.act, obs)), (lambda: None)


def _time_each(act, obs, rounds=5):
    """Median over ``rounds`` of the mean seconds of ``act(o)`` for each observation ``o`` of ``obs``."""
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for o in obs:
            act(o)
        times.append((time.perf_counter() - t) / len(obs))
    return float(np.median(times))


@dataclass
class ExportResult:
    """What ``export`` wrote and measured."""
    path: Path
    format: str
    size: int                                 # bytes
    sha256: str                               # of the weights, recorded in the file
    network: str
    seconds_per_action: float | None          # None: not measured (reason in latency_note)
    latency_note: str = ""
    parity: ParityReport | None = None

    def __str__(self):
        latency = (f"{self.seconds_per_action * 1e6:.3g} us per greedy action ({self.latency_note})"
                   if self.seconds_per_action is not None else f"latency not measured: {self.latency_note}")
        lines = [f"{self.path}: {self.format}, {self.size:,} bytes, {self.network}; weights SHA-256 "
                 f"{self.sha256[:16]}...; {latency}"]
        return "\n".join(lines + ([str(self.parity)] if self.parity is not None else []))


LATENCY_NOTE = {"npz": "policy.py, one observation per call", "c": "compiled -O2, timed inside C",
                "onnx": "onnxruntime, one thread, one observation per run"}


def export(source, out: str | os.PathLike, format: str | None = None, check: int = 0, seed: int = 0,
           latency: bool = True) -> ExportResult:
    """Export a checkpoint, a policy file or a ``Policy`` to ``out``; measure its latency per action; with
    ``check > 0`` compare it with the NumPy policy on ``check`` observations (``ParityError`` on any
    unexplained difference, after the report is built: ``e.report``)."""
    format = format_for(out, format)
    if isinstance(check, bool) or not isinstance(check, (int, np.integer)) or check < 0:
        raise ConfigError(f"check must be an int >= 0 (observations to compare), got {check!r}")
    policy, space, replay = load_source(source)
    path = export_policy(policy, out, format)
    result = ExportResult(Path(path), format, Path(path).stat().st_size, policy.sha256(), describe(policy), None)
    if not (latency or check):
        return result
    rng = np.random.default_rng(seed)
    try:
        run, per_action, close = open_artifact(path, format)
    except MissingDependency as e:
        if check:
            raise
        result.latency_note = str(e)
        return result
    try:
        if latency:
            obs = next(observation_batches(policy, 1024, rng, space, None, chunk=1024))[1]
            result.seconds_per_action, result.latency_note = per_action(obs), LATENCY_NOTE[format]
        if check:
            result.parity = check_parity(policy, run, observation_batches(policy, int(check), rng, space, replay),
                                         f"{format} file {Path(path).name}")
    finally:
        close()
    if result.parity is not None and not result.parity.ok:
        error = ParityError(f"{path} differs from the NumPy policy beyond float32 rounding on "
                            f"{result.parity.n_unexplained:,} of {result.parity.n:,} observations")
        error.result = result
        raise error
    return result
