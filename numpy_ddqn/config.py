"""One frozen dataclass of every setting of a run, a help text per field, validated at construction.

Variants are made with ``dataclasses.replace(config, learning_rate=...)`` (or ``config.replace``),
presets for the classic-control environments with ``Config.for_env("Acrobot-v1")``, and files
with ``load_config_file(path)`` (JSON or TOML).
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .nn import ACTIVATIONS as _ACTIVATIONS
from .nn import LOSSES as _LOSSES
from .nn import OPTIMIZERS as _OPTIMIZERS
from .nn.network import parse_layers
from .presets import PRESETS, preset_name

ACTIVATIONS = tuple(_ACTIVATIONS)       # the choices come from the nn/ registries
OPTIMIZERS = tuple(_OPTIMIZERS)
LOSSES = tuple(_LOSSES)
EPSILON_SCHEDULES = ("exponential", "linear")
DTYPES = ("float32", "float64")
DISTRIBUTIONS = ("none", "categorical", "quantile", "implicit")
DISTRIBUTION_ALIASES = {"iqn": "implicit"}
"""Other names ``distribution`` accepts, and the name they stand for."""
VECTOR_MODES = ("sync", "async")


def _f(default, help, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class Config:
    """Hyperparameters and run settings. Defaults solve CartPole-v1 (see ``bench/``)."""

    # -- the run --
    env_id: str = _f("CartPole-v1", "Gymnasium env id (Box observations: vectors, or (H, W, C) images "
                                    "with layers; Discrete actions); also "
                                    "'module:EnvName-v0' (imports module, which registers the id) or "
                                    "'package.module:ClassName' (an env class, instantiated)")
    env_kwargs: str = _f("{}", "keyword arguments of the env, as a JSON object, e.g. '{\"length\": 8}'")
    env_module: str = _f("", "a module to import before making the env (one that registers env ids)")
    seed: int = _f(0, "one seed for everything: weights, exploration, replay sampling, env resets")
    total_steps: int = _f(100_000, "training budget in environment steps (transitions, summed over num_envs)")
    num_envs: int = _f(1, "envs stepped together as one gymnasium.vector env (1 = a plain env)")
    vector: str = _f("sync", "how num_envs > 1 envs run: sync (one process) or async (a process each)",
                     choices=VECTOR_MODES)
    # -- the network --
    hidden_sizes: tuple = _f((64, 64), "hidden layer widths, e.g. 64,64")
    layers: str = _f("", "the network as a list of layers instead of hidden_sizes, e.g. conv16x3,relu,flatten,"
                         "dense128,relu (conv{F}x{K}[s{S}][same], dense{N}, flatten, relu, tanh, identity; the "
                         "Q head is added); empty = an MLP of hidden_sizes and activation")
    activation: str = _f("tanh", "hidden activation", choices=ACTIVATIONS)
    dtype: str = _f("float32", "floating point type of the networks", choices=DTYPES)
    # -- the optimizer --
    optimizer: str = _f("adam", "optimizer", choices=OPTIMIZERS)
    learning_rate: float = _f(2.5e-3, "step size of the optimizer")
    learning_rate_end: float = _f(-1.0, "if >= 0, the learning rate decays linearly to this over total_steps")
    momentum: float = _f(0.0, "SGD momentum (0 = plain SGD)")
    nesterov: bool = _f(False, "use Nesterov momentum with SGD")
    adam_beta1: float = _f(0.9, "Adam's first-moment decay")
    adam_beta2: float = _f(0.999, "Adam's second-moment decay")
    adam_eps: float = _f(1e-8, "Adam's epsilon")
    max_grad_norm: float = _f(10.0, "clip the gradient's global L2 norm to this (0 = no clipping)")
    # -- the learning rule --
    loss: str = _f("huber", "TD loss: huber (delta = 1, clipped TD error) or mse", choices=LOSSES)
    double: bool = _f(True, "Double DQN target (online net selects, target net evaluates); off = vanilla DQN")
    gamma: float = _f(0.99, "discount factor")
    batch_size: int = _f(64, "transitions per gradient update")
    buffer_size: int = _f(50_000, "replay memory capacity in transitions")
    learning_starts: int = _f(1_000, "stored transitions before the first update")
    train_freq: int = _f(1, "env steps between learning phases (1: a gradient update every env step)")
    gradient_steps: int = _f(2, "gradient updates per learning phase (2 with train_freq 1: two updates every env step)")
    target_update_interval: int = _f(100, "env steps between target-network updates")
    tau: float = _f(1.0, "target update: 1 = hard copy, < 1 = Polyak averaging with this weight")
    # -- learning more per env step (Rainbow's pieces) --
    n_step: int = _f(5, "steps summed in the return before bootstrapping (1 = one-step TD)")
    prioritized: bool = _f(False, "prioritized experience replay (proportional, Schaul et al. 2016)")
    per_alpha: float = _f(0.6, "prioritized replay: priority = (|TD error| + per_eps)^alpha (0 = uniform)")
    per_beta: float = _f(0.4, "prioritized replay: importance-weight exponent at the start, annealed to 1")
    per_eps: float = _f(1e-6, "prioritized replay: added to |TD error| so that no transition has priority 0")
    dueling: bool = _f(False, "dueling head: Q = V + A - mean_a A (Wang et al. 2016)")
    # -- distributional heads (Q = the mean of a learned return distribution) --
    distribution: str = _f("none", "return distribution: none (learn Q), categorical (C51: n_atoms probabilities on "
                                   "[v_min, v_max], cross-entropy loss), quantile (QR-DQN: n_quantiles values, "
                                   "quantile Huber loss) or implicit (IQN, also 'iqn': quantiles at sampled taus "
                                   "through a cosine embedding, quantile Huber loss)", choices=DISTRIBUTIONS,
                                   aliases=DISTRIBUTION_ALIASES)
    n_atoms: int = _f(51, "categorical: atoms of the support")
    v_min: float = _f(-10.0, "categorical: the support's lowest return")
    v_max: float = _f(10.0, "categorical: the support's highest return (returns beyond are clipped onto the ends)")
    n_quantiles: int = _f(32, "quantile: quantiles per action, at the midpoints (2i - 1) / 2N")
    kappa: float = _f(1.0, "quantile, implicit: the quantile Huber loss's threshold (0 = plain quantile regression)")
    n_taus: int = _f(8, "implicit: taus ~ U(0, 1) sampled per transition for the online net at s (the paper's N, "
                        "64 there; 8 keeps a learning step cheap: bench/FAMILY.md)")
    n_target_taus: int = _f(8, "implicit: taus ~ U(0, 1) sampled per transition for the target net at s' (N')")
    n_policy_taus: int = _f(32, "implicit: the fixed taus (2k - 1) / 2K, k = 1..K, whose mean is Q for acting, "
                                "evaluation, Double selection and the exported policy (K; deterministic)")
    n_cos: int = _f(64, "implicit: cosine features of the quantile embedding phi(tau)")
    # -- the network's layers --
    layer_norm: bool = _f(False, "LayerNorm after each hidden linear layer of hidden_sizes, before its activation "
                                 "(Gallici et al. 2024); with layers, write layernorm in the list instead")
    noisy: bool = _f(False, "factorised-Gaussian noisy linear layers (Fortunato et al. 2018), every linear layer "
                            "of the network (with layers: every dense one; convolutions stay plain), the output "
                            "layer too: new noise for every acting step and "
                            "independent draws for the online and target nets at each update; greedy evaluation "
                            "and exports use the mean weights; epsilon-greedy is off unless noisy_epsilon")
    noisy_sigma0: float = _f(0.5, "noisy layers: initial noise scale, sigma = noisy_sigma0 / sqrt(n_in)")
    noisy_epsilon: bool = _f(False, "noisy layers: keep epsilon-greedy exploration on as well (off: epsilon = 0)")
    # -- Munchausen DQN (Vieillard et al. 2020) --
    munchausen: bool = _f(False, "Munchausen DQN target: r + m_alpha clip(m_tau log pi(a|s), m_l0, 0) + a soft "
                                 "(entropy-regularised) bootstrap, pi = softmax(Q_target / m_tau); replaces double")
    m_alpha: float = _f(0.9, "Munchausen: scale of the log-policy bonus (0 = soft DQN)")
    m_tau: float = _f(0.03, "Munchausen: entropy temperature of pi = softmax(Q_target / m_tau)")
    m_l0: float = _f(-1.0, "Munchausen: lower clip of m_tau log pi(a|s) in the bonus (<= 0)")
    # -- action masks --
    action_masks: bool = _f(False, "only legal actions are taken and bootstrapped from: masks from the env's "
                                   "info['action_mask'] or its action_masks() method (or the model's action_mask_fn)")
    # -- exploration --
    epsilon_schedule: str = _f("linear", "epsilon decay shape", choices=EPSILON_SCHEDULES)
    epsilon_start: float = _f(1.0, "initial exploration rate")
    epsilon_end: float = _f(0.05, "final exploration rate")
    exploration_steps: int = _f(4_000, "linear: steps to go from epsilon_start to epsilon_end")
    epsilon_decay: float = _f(5e-4, "exponential: eps = end + (start - end) * exp(-decay * step)")
    # -- evaluation, stopping, files --
    eval_interval: int = _f(1_000, "env steps between greedy evaluations (0 = never)")
    eval_episodes: int = _f(10, "episodes per evaluation (seeds 10000, 10001, ...)")
    confirm_episodes: int = _f(100, "episodes that confirm a solve (seeds 20000, 20001, ...)")
    eval_max_steps: int = _f(10_000, "an evaluation episode is cut after this many steps (the env's own time "
                                     "limit applies first; a cut is logged and shown); 0 = never cut")
    stop_when_solved: bool = _f(True, "stop training once the confirmed evaluation reaches the env's threshold")
    save_replay: bool = _f(True, "include the replay memory in checkpoints (needed for an exact resume)")
    progress_interval: float = _f(2.0, "seconds between progress lines (0 = silent)")
    log_interval: int = _f(1_000, "env steps between update-diagnostics lines in log.jsonl (means over the interval)")
    tensorboard: str = _f("", "folder for TensorBoard event files, SB3's tags (needs the tensorboard extra); "
                              "empty = none")
    threads: int = _f(1, "BLAS threads while training (0 = NumPy's default); at these matrix sizes extra "
                         "threads only spin, so 1 is fastest unless the network is large")

    def __post_init__(self):
        for name, value in coerce_fields({n: getattr(self, n) for n in FIELDS}).items():
            object.__setattr__(self, name, value)   # types first, then ranges
        _validate(self)

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def env_kwargs_dict(self) -> dict:
        """``env_kwargs`` parsed: the keyword arguments the env is made with."""
        return json.loads(self.env_kwargs)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict of every field."""
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, data: dict, base: Config | None = None) -> Config:
        """Build from a dict (a config file, a checkpoint); unknown keys and wrong types are errors."""
        return (base or cls()).replace(**coerce_fields(data))

    @classmethod
    def for_env(cls, env_id: str, **overrides: Any) -> Config:
        """The preset for ``env_id`` (see ``preset_name``), with overrides applied (validated once)."""
        preset = PRESETS.get(preset_name(env_id), {})
        return cls(**{**preset, **coerce_fields(overrides), "env_id": env_id})


FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def _bad(name, value, allowed):
    return ConfigError(f"config field '{name}' = {value!r} is invalid: {allowed}")


def _validate(c):
    positive_ints = ("total_steps", "num_envs", "n_step", "batch_size", "buffer_size", "train_freq", "gradient_steps",
                     "target_update_interval", "eval_episodes", "confirm_episodes", "log_interval", "n_quantiles",
                     "n_taus", "n_target_taus", "n_policy_taus", "n_cos")
    for name in positive_ints:
        if getattr(c, name) < 1:
            raise _bad(name, getattr(c, name), "must be an integer >= 1")
    for name in ("learning_starts", "exploration_steps", "eval_interval", "seed", "threads", "eval_max_steps"):
        if getattr(c, name) < 0:
            raise _bad(name, getattr(c, name), "must be an integer >= 0")
    for name, value in FIELDS.items():
        choices = value.metadata.get("choices")
        if choices and getattr(c, name) not in choices:
            raise _bad(name, getattr(c, name), f"must be one of {', '.join(choices)}")
    if not c.hidden_sizes or any(h < 1 for h in c.hidden_sizes):
        raise _bad("hidden_sizes", c.hidden_sizes, "must list one or more widths >= 1")
    if c.layers:
        try:
            parse_layers(c.layers)
        except ValueError as e:
            raise _bad("layers", c.layers, str(e)) from None
    in_01 = lambda v: 0 <= v <= 1
    below_1 = lambda v: 0 <= v < 1
    checks = [("learning_rate", lambda v: v > 0, "must be > 0"),
              ("gamma", in_01, "must be in [0, 1]"),
              ("epsilon_start", in_01, "must be in [0, 1]"),
              ("epsilon_end", in_01, "must be in [0, 1]"),
              ("momentum", below_1, "must be in [0, 1)"),
              ("adam_beta1", below_1, "must be in [0, 1)"),
              ("adam_beta2", below_1, "must be in [0, 1)"),
              ("adam_eps", lambda v: v > 0, "must be > 0"),
              ("tau", lambda v: 0 < v <= 1, "must be in (0, 1]"),
              ("max_grad_norm", lambda v: v >= 0, "must be >= 0 (0 = off)"),
              ("per_alpha", lambda v: v >= 0, "must be >= 0"),
              ("per_beta", in_01, "must be in [0, 1]"),
              ("per_eps", lambda v: v > 0, "must be > 0"),
              ("noisy_sigma0", lambda v: v >= 0, "must be >= 0"),
              ("epsilon_decay", lambda v: v >= 0, "must be >= 0"),
              ("progress_interval", lambda v: v >= 0, "must be >= 0 seconds"),
              ("kappa", lambda v: v >= 0, "must be >= 0 (0 = plain quantile regression)"),
              ("v_min", lambda v: True, "must be finite"),
              ("v_max", lambda v: v > c.v_min, f"must be > v_min ({c.v_min})"),
              ("m_alpha", lambda v: v >= 0, "must be >= 0"),
              ("m_tau", lambda v: v > 0, "must be > 0"),
              ("m_l0", lambda v: v <= 0, "must be <= 0")]
    for name, ok, msg in checks:
        v = getattr(c, name)
        if not (math.isfinite(v) and ok(v)):
            raise _bad(name, v, msg)
    if not (c.learning_rate_end < 0 or (math.isfinite(c.learning_rate_end) and c.learning_rate_end > 0)):
        raise _bad("learning_rate_end", c.learning_rate_end, "must be > 0, or negative to keep the rate constant")
    if c.n_atoms < 2:
        raise _bad("n_atoms", c.n_atoms, "must be an integer >= 2 (a categorical support has two ends)")
    if c.munchausen and c.distribution != "none":
        raise _bad("munchausen", c.munchausen, f"is a target for Q-values, not for distribution={c.distribution}: "
                                               f"use one or the other (munchausen=false, flag --no-munchausen, "
                                               f"turns it off where a preset, e.g. LunarLander-v3's, sets it)")
    if c.distribution == "implicit" and c.layers:
        raise _bad("layers", c.layers, "is not supported with distribution=implicit (IQN is built on hidden_sizes "
                                       "networks here): use hidden_sizes")
    if c.distribution == "implicit" and c.noisy:
        raise _bad("noisy", c.noisy, "is not supported with distribution=implicit (IQN explores epsilon-greedily "
                                     "here): use one or the other")
    if c.distribution != "none" and c.loss != "huber":
        raise _bad("loss", c.loss, f"is not read with distribution={c.distribution} (its loss is the "
                                   f"{'cross-entropy' if c.distribution == 'categorical' else 'quantile Huber loss'}):"
                                   f" keep loss=huber")
    if c.layer_norm and c.layers:
        raise _bad("layer_norm", c.layer_norm, "applies to hidden_sizes networks; with layers, write layernorm "
                                               "in the list, e.g. dense128,layernorm,relu")
    if c.nesterov and (c.optimizer != "sgd" or c.momentum == 0):
        raise _bad("nesterov", c.nesterov, "needs optimizer=sgd and momentum > 0")
    if c.batch_size > c.buffer_size:
        raise _bad("batch_size", c.batch_size, f"must not exceed buffer_size ({c.buffer_size})")
    if c.learning_starts > c.buffer_size:
        raise _bad("learning_starts", c.learning_starts, f"must not exceed buffer_size ({c.buffer_size})")
    if not isinstance(c.env_id, str) or not c.env_id:
        raise _bad("env_id", c.env_id, "must be a non-empty environment id")
    try:
        kwargs = json.loads(c.env_kwargs)
    except json.JSONDecodeError as e:
        raise _bad("env_kwargs", c.env_kwargs, f"must be a JSON object ({e})") from None
    except RecursionError:
        raise ConfigError(f"config field 'env_kwargs' ({len(c.env_kwargs):,} characters) is invalid: nested too "
                          f"deeply to be read") from None
    if not isinstance(kwargs, dict):
        raise _bad("env_kwargs", c.env_kwargs, "must be a JSON object like {\"length\": 8}")


def _coerce(name, value):
    """``value`` as the field's type, or ``ConfigError``. Integral numbers fill float fields; bools
    fill only bool fields; lists fill ``hidden_sizes``."""
    kind = type(FIELDS[name].default)
    is_bool = isinstance(value, (bool, np.bool_))
    if kind is bool and is_bool:
        return bool(value)
    if kind is int and isinstance(value, numbers.Integral) and not is_bool:
        return int(value)
    if kind is float and isinstance(value, numbers.Real) and not is_bool:
        return float(value)
    if name == "env_kwargs" and isinstance(value, dict):       # a table in a TOML / JSON file
        try:
            return json.dumps(value, sort_keys=True)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"config field 'env_kwargs' must hold JSON values, got {value!r} ({e})") from None
        except RecursionError:
            raise ConfigError("config field 'env_kwargs' is invalid: nested too deeply to be read") from None
    if kind is str and isinstance(value, str):
        return FIELDS[name].metadata.get("aliases", {}).get(value, value)   # "iqn" -> "implicit"
    if name == "layers" and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return ",".join(value)                                 # a TOML / JSON list of layers
    if kind is tuple and isinstance(value, (list, tuple)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in value):
        return tuple(int(v) for v in value)
    what = "a list of ints" if kind is tuple else kind.__name__
    raise ConfigError(f"config field '{name}' must be {what}, got {value!r}")


def coerce_fields(data: dict) -> dict:
    """Check a mapping of field values (from a file, a checkpoint, flags): known names, right types.

    Returns the values converted to the fields' types; raises ``ConfigError`` naming the field.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of field names to values, got {type(data).__name__}")
    out = {}
    for name, value in data.items():
        if name not in FIELDS:
            raise ConfigError(unknown_field(name))
        out[name] = _coerce(name, value)
    return out


ALIASES = {"env": "env_id", "steps": "total_steps"}
"""Config-file keys that may stand for a field: the command line's ``--env`` and ``--steps``."""

SB3_NAMES = {
    "verbose": "progress_interval (seconds between progress lines; 0 = silent)",
    "policy_kwargs": "hidden_sizes (net_arch=[64, 64] is hidden_sizes=(64, 64)), activation, layers, dueling",
    "net_arch": "hidden_sizes (e.g. hidden_sizes=(64, 64))",
    "exploration_fraction": "exploration_steps (a number of steps: fraction x total steps)",
    "exploration_initial_eps": "epsilon_start",
    "exploration_final_eps": "epsilon_end",
    "tensorboard_log": "tensorboard",
    "device": "nothing: numpy_ddqn runs on the CPU with NumPy (threads sets its BLAS threads)",
    "policy": "nothing: the network is set by hidden_sizes / layers (the model takes the env first)",
    "replay_buffer_class": "prioritized (True for prioritized replay)",
    "optimize_memory_usage": "nothing: the replay is sized by buffer_size, and its memory is in the start line",
}
"""Stable-Baselines3 argument names -> this project's equivalent, for the "unknown field" message."""


def unknown_field(name: str) -> str:
    """The message for an unknown config field: SB3's equivalent, or the closest names (difflib)."""
    import difflib
    if name in SB3_NAMES:
        return f"unknown config field {name!r} (a Stable-Baselines3 name); here it is {SB3_NAMES[name]}"
    close = difflib.get_close_matches(name, list(FIELDS) + list(ALIASES), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return (f"unknown config field {name!r}; {hint}every field is listed by 'numpy-ddqn train --help' "
            f"(in files also {', '.join(f'{a} = {n}' for a, n in ALIASES.items())})")


def read_toml_or_json(path: str | Path, what: str):
    """The data of a TOML (``.toml``) or else JSON file; ``ConfigError`` in one line naming ``what`` it is
    (``"config file"``, ``"sweep spec"``) if it cannot be read or parsed."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if path.suffix == ".toml":
        import tomllib
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{what} {path} is not valid TOML: {e}") from None
        except RecursionError:
            raise ConfigError(f"{what} {path} is nested too deeply to be read") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{what} {path} is not valid JSON: {e}") from None
    except RecursionError:
        raise ConfigError(f"{what} {path} is nested too deeply to be read") from None


def read_config_file(path: str | Path) -> dict:
    """The field values of a JSON (``.json``) or TOML (``.toml``) file, checked and converted.

    Keys are field names; ``env`` and ``steps`` (the flags' names) are accepted for ``env_id`` and
    ``total_steps``.
    """
    data = read_toml_or_json(path, "config file")
    if isinstance(data, dict):
        for alias, name in ALIASES.items():
            if alias in data:
                if name in data:
                    raise ConfigError(f"config file {path} sets both '{alias}' and '{name}' (the same field)")
                data = {(name if k == alias else k): v for k, v in data.items()}
    return coerce_fields(data)


def load_config_file(path: str | Path, base: Config | None = None) -> Config:
    """A ``Config`` from a config file's values over ``base``, or over the preset of the env it names."""
    fields = read_config_file(path)
    if base is None:
        return Config.for_env(fields.pop("env_id", Config.env_id), **fields)
    return base.replace(**fields)
