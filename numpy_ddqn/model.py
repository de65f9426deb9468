"""The model API, in Stable-Baselines3's shape: ``DDQN(env).learn(n)``, ``predict``, ``save``, ``load``.

A thin layer over ``run.loop.train`` and ``DDQNAgent``::

    from numpy_ddqn import DDQN
    model = DDQN("CartPole-v1", seed=0, learning_rate=1e-3)     # keyword arguments are Config fields
    model.learn(total_timesteps=50_000)                        # a second call trains on
    action, _ = model.predict(obs, deterministic=True)         # one observation or a batch
    model.save("cartpole.npz")
    model = DDQN.load("cartpole.npz")

SB3's names work where they mean the same thing here (``DDQN("MlpPolicy", env)``, ``verbose``,
``policy_kwargs=dict(net_arch=[...])``, ``exploration_initial_eps`` / ``exploration_final_eps`` /
``exploration_fraction``, ``tensorboard_log``, ``device="cpu"``, ``learn(tb_log_name=...)``, ``get_env``,
``set_env``, ``exploration_rate``, ``q_net``, ``replay_buffer``, ...); the others are refused in one line
that names what to write instead.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np
from numpy.typing import ArrayLike

from .callbacks import as_callback
from .checkpoint import agent_policy, save_checkpoint
from .config import Config
from .errors import ConfigError
from .rl.masks import masked_argmax, random_legal_actions
from .policy import Policy, as_observation
from .rl.agent import DDQNAgent
from .run.loop import RESUME_FIELDS, History, train
from .run.runner import SAVED_HISTORY, StepInfo, checkpoint_state

Callback = Union[Callable[[StepInfo], Any], Any]
"""A callable taking a ``StepInfo``, an object with ``on_step(info)`` or SB3's ``_on_step()``, or a list of
them (see ``numpy_ddqn.callbacks``); returning ``False`` stops."""

POLICIES = ("MlpPolicy", "CnnPolicy", "MultiInputPolicy")
"""SB3's policy names, accepted as the first argument (``DDQN("MlpPolicy", env)``)."""

PROGRESS_SECONDS = 2.0
"""Seconds between progress lines with ``progress_bar=True`` or ``verbose >= 1``."""


def sb3_arguments(config: dict) -> tuple[dict, float | None, bool]:
    """Translate SB3's constructor names into Config fields: ``(fields, exploration_fraction, silent)``.

    ``exploration_fraction`` becomes ``exploration_steps`` at ``learn`` (it needs the budget);
    ``silent`` is SB3's ``verbose=0``. Names with no equivalent raise ``ConfigError`` naming what to write.
    """
    config = dict(config)
    renames = {"exploration_initial_eps": "epsilon_start", "exploration_final_eps": "epsilon_end",
               "tensorboard_log": "tensorboard"}
    for sb3, ours in renames.items():
        if sb3 in config:
            if ours in config:
                raise ConfigError(f"both {sb3} (SB3's name) and {ours} are given: they are the same field")
            value = config.pop(sb3)
            config[ours] = "" if ours == "tensorboard" and value is None else value
    device = config.pop("device", "cpu")
    if str(device) not in ("cpu", "auto"):
        raise ConfigError(f"device={device!r}: numpy_ddqn runs on the CPU with NumPy; drop device= (threads=N "
                          f"sets the BLAS threads)")
    policy_kwargs = config.pop("policy_kwargs", None) or {}
    if not isinstance(policy_kwargs, dict) or set(policy_kwargs) - {"net_arch"}:
        raise ConfigError(f"policy_kwargs={policy_kwargs!r}: only net_arch is understood (net_arch=[64, 64] is "
                          f"hidden_sizes=(64, 64)); set activation=, layers=, dueling= directly")
    if "net_arch" in policy_kwargs:
        if "hidden_sizes" in config:
            raise ConfigError("both policy_kwargs=dict(net_arch=...) and hidden_sizes are given: they are the same")
        config["hidden_sizes"] = tuple(policy_kwargs["net_arch"])
    fraction = config.pop("exploration_fraction", None)
    if fraction is not None and (not isinstance(fraction, (int, float)) or not 0 < fraction <= 1
                                 or "exploration_steps" in config):
        raise ConfigError(f"exploration_fraction={fraction!r} must be in (0, 1], and not given with "
                          f"exploration_steps (the same setting, in steps)")
    if "seed" in config and config["seed"] is None:         # SB3's seed=None: unseeded; here a fresh seed, kept
        config["seed"] = int(np.random.SeedSequence().entropy % 2**31)   # in the config (and the start line)
    train_freq = config.get("train_freq")
    if isinstance(train_freq, (tuple, list)):                 # SB3's train_freq=(4, "step")
        if len(train_freq) != 2 or train_freq[1] != "step":
            raise ConfigError(f"train_freq={tuple(train_freq)!r}: only steps are counted here; train_freq=N "
                              f"learns every N env steps")
        config["train_freq"] = train_freq[0]
    verbose = config.pop("verbose", None)
    if verbose is not None and "progress_interval" not in config:
        config["progress_interval"] = PROGRESS_SECONDS if verbose else 0.0
    return config, fraction, verbose == 0


class DDQN:
    """A Double-DQN model on one Gymnasium env (or a ``gymnasium.vector`` env).

    Args:
        env: an env id (``"CartPole-v1"``, ``"module:EnvName-v0"``), a Gymnasium env instance or a vector
            env; SB3's ``DDQN("MlpPolicy", env)`` works too.
        out_dir: a run folder for ``config.json``, ``log.jsonl`` and checkpoints (default: none). A folder
            that already holds a run is refused (continue it with ``train(resume=...)``).
        eval_env: the evaluation env for an env instance without a registered spec (it plays its
            evaluation episodes alone; without it, copies of the env play them together).
        action_mask_fn: with ``action_masks=True``, ``fn(env) -> mask`` of the legal actions of the env's current
            state ((A,) bool, True = legal; (N, A) for a vector env); without it the env's ``action_masks()``
            method or ``info["action_mask"]`` is read. Giving it turns ``action_masks`` on.
        **config: ``Config`` fields (``seed``, ``learning_rate``, ``hidden_sizes``, ``num_envs``, ...),
            validated; the env's preset comes first. SB3's names with an equivalent are translated.
            ``learn`` stops early once the env is solved unless ``stop_when_solved=False``, and says so.
    """

    def __init__(self, env: str | Any = "CartPole-v1", out_dir: str | Path | None = None, eval_env: Any = None,
                 action_mask_fn: Any = None, **config: Any) -> None:
        policy = config.pop("policy", None)                    # SB3's DDQN(policy="MlpPolicy", env=env)
        if isinstance(env, str) and env in POLICIES:          # SB3's DDQN("MlpPolicy", env, ...)
            if out_dir is None:
                raise ConfigError(f"DDQN({env!r}): give the env too, DDQN({env!r}, env), or simply DDQN(env)")
            policy, env, out_dir = env, out_dir, None
        if policy is not None:
            self._check_policy(policy, config)
        if out_dir is not None and not isinstance(out_dir, (str, Path)):
            raise ConfigError(f"out_dir must be a folder path, got a {type(out_dir).__name__} (SB3's call shape is "
                              f"DDQN('MlpPolicy', env); here DDQN(env) is enough)")
        config, self._exploration_fraction, self._silent = sb3_arguments(config)
        self._interval = config.get("progress_interval")      # None: silent unless learn(progress_bar=True)
        self._tensorboard = config.get("tensorboard", "")      # learn(tb_log_name=...) names a subfolder of it
        if isinstance(env, str):
            self.env, env_id = None, env
        else:
            from .run.envs import check_spaces
            check_spaces(env)                                  # a one-line error for a non-env object
            self.env, env_id = env, getattr(getattr(env, "spec", None), "id", None) or config.get("env_id", "custom")
        config.pop("env_id", None)
        if action_mask_fn is not None:
            if not callable(action_mask_fn):
                raise ConfigError(f"action_mask_fn must be a function env -> mask, got {type(action_mask_fn).__name__}")
            config.setdefault("action_masks", True)
        self.action_mask_fn = action_mask_fn
        self.config = Config.for_env(env_id, **config)
        self.out_dir, self.eval_env = out_dir, eval_env
        self.agent: DDQNAgent | None = None    # built by the first learn (it needs the env's spaces)
        self.history: History | None = None    # the latest learn's History
        self._carry: dict[str, Any] = {}       # counters carried from one learn to the next

    @staticmethod
    def _check_policy(policy: str, config: dict) -> None:
        """SB3's policy names: ``MlpPolicy`` is the default network; the others need what they mean here."""
        if policy not in POLICIES:
            raise ConfigError(f"policy={policy!r}: the network is set by hidden_sizes= or layers= (SB3's "
                              f"policy names {', '.join(POLICIES)} are accepted)")
        if policy == "MultiInputPolicy":
            raise ConfigError("MultiInputPolicy: Dict observations are not supported; flatten them with "
                              "gymnasium.wrappers.FlattenObservation and use DDQN(env)")
        if policy == "CnnPolicy" and not config.get("layers"):
            raise ConfigError("CnnPolicy: give the conv network as layers=, e.g. "
                              "layers='conv16x3,relu,flatten,dense128,relu'")

    # -- learning -------------------------------------------------------------------------

    def learn(self, total_timesteps: int, callback: Callback | None = None, progress_bar: bool = False,
              log_interval: Any = None, tb_log_name: str | None = None, reset_num_timesteps: bool = False) -> DDQN:
        """Train for ``total_timesteps`` more env steps (fewer if solved first); returns ``self``.

        ``callback`` is called after every step with a ``StepInfo`` (step, episodes, the return of an
        episode that just ended, the update metrics, epsilon, the last evaluation); returning
        ``False`` stops (see ``numpy_ddqn.callbacks`` for SB3-style callback objects and lists).
        ``progress_bar`` prints the progress line every 2 seconds. Training stops early, with one
        line on stderr, once the env is solved (its evaluation reaches the reward threshold and 100
        more episodes confirm it), unless the model was made with ``stop_when_solved=False``.

        SB3's ``tb_log_name`` names the TensorBoard subfolder (``tensorboard_log`` must be set);
        ``reset_num_timesteps=True`` is refused on a trained model (a second ``learn`` goes on counting);
        ``log_interval`` is refused: the progress line here is timed (``progress_interval`` seconds).
        If the callback (or anything else) raises, the model keeps the agent trained up to that step.
        """
        if isinstance(total_timesteps, float) and total_timesteps.is_integer():
            total_timesteps = int(total_timesteps)             # SB3's learn(total_timesteps=1e4)
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, (int, np.integer)) \
                or total_timesteps < 1:
            raise ConfigError(f"total_timesteps must be a whole number >= 1, got {total_timesteps!r}")
        if log_interval is not None:
            raise ConfigError("learn(log_interval=...): the progress line here is timed; use "
                              "DDQN(..., progress_interval=SECONDS) or learn(progress_bar=True)")
        if reset_num_timesteps and self.agent is not None:
            raise ConfigError("learn(reset_num_timesteps=True): a second learn() goes on counting from "
                              f"step {self.num_timesteps:,}; make a new DDQN to start over")
        done = self.num_timesteps
        interval = PROGRESS_SECONDS if progress_bar and not self._interval else (self._interval or 0.0)
        changes: dict[str, Any] = {"total_steps": done + int(total_timesteps), "progress_interval": interval}
        if tb_log_name is not None:
            if not self._tensorboard:
                raise ConfigError("learn(tb_log_name=...) needs a TensorBoard folder: DDQN(..., tensorboard_log=DIR)")
            changes["tensorboard"] = str(Path(self._tensorboard) / tb_log_name)
        if self._exploration_fraction is not None and self.agent is None:
            changes["exploration_steps"] = int(round(self._exploration_fraction * total_timesteps))
        self.config = self.config.replace(**changes)
        env = self._make_env() if self.env is None else self.env
        if self.agent is None:                                 # built here, so a failure cannot lose it
            from .run.envs import check_spaces, observation_storage
            self.agent = DDQNAgent(*check_spaces(env), self.config, observation_storage(env))
        self.agent.config = self.config
        out_dir = None if self.out_dir is None else Path(self.out_dir)
        self.history = h = train(self.config, env=env, out_dir=out_dir, eval_env=self.eval_env, agent=self.agent,
                                 callback=as_callback(callback, self), carry=self._carry,
                                 action_mask_fn=self.action_mask_fn)
        self._carry = {k: getattr(h, k) for k in SAVED_HISTORY}
        if h.reason == "solved" and h.steps < self.config.total_steps and not self._silent:
            print(f"numpy-ddqn: {self.config.env_id} is solved at step {h.steps:,} (the evaluation confirmed on "
                  f"{self.config.confirm_episodes} episodes): learn() stopped {self.config.total_steps - h.steps:,} "
                  f"steps early; DDQN(..., stop_when_solved=False) trains on", file=sys.stderr)
        return self

    def _make_env(self):
        from .run.envs import env_from_config, vector_env_from_config
        self.env = vector_env_from_config(self.config) if self.config.num_envs > 1 else env_from_config(self.config)
        return self.env

    @property
    def num_timesteps(self) -> int:
        """Env steps trained so far."""
        return 0 if self.agent is None else self.agent.steps

    # -- SB3's attributes -------------------------------------------------------------------

    def get_env(self) -> Any:
        """The env the model trains on (``None`` until one is made or set)."""
        return self.env

    def set_env(self, env: Any) -> None:
        """Train on ``env`` from now on; its spaces must be the model's (``EnvError`` otherwise)."""
        from .errors import EnvError
        from .run.envs import check_spaces
        spaces = check_spaces(env)
        if self.agent is not None and spaces != (self.agent.obs_dim, self.agent.n_actions):
            raise EnvError(f"set_env: this env has {spaces} (observations, actions); the model was trained on "
                           f"{(self.agent.obs_dim, self.agent.n_actions)}")
        self.env = env

    @property
    def exploration_rate(self) -> float:
        """The current epsilon of epsilon-greedy exploration."""
        return self._trained().epsilon if self.agent is not None else self.config.epsilon_start

    @property
    def learning_rate(self) -> float:
        """The configured learning rate (``config.learning_rate``)."""
        return self.config.learning_rate

    @property
    def gamma(self) -> float:
        """The discount factor (``config.gamma``)."""
        return self.config.gamma

    @property
    def replay_buffer(self):
        """The agent's replay memory (``ReplayBuffer`` or ``PrioritizedReplayBuffer``)."""
        return self._trained().replay

    @property
    def q_net(self):
        """The online Q-network (``MLP``, ``DuelingMLP`` or ``Network``)."""
        return self._trained().online

    @property
    def q_net_target(self):
        """The target Q-network."""
        return self._trained().target

    @property
    def observation_space(self):
        """The env's observation space (one env's, for a vector env)."""
        env = self._make_env() if self.env is None else self.env
        return getattr(env, "single_observation_space", env.observation_space)

    @property
    def action_space(self):
        """The env's action space (one env's, for a vector env)."""
        env = self._make_env() if self.env is None else self.env
        return getattr(env, "single_action_space", env.action_space)

    # -- acting ---------------------------------------------------------------------------

    def _trained(self) -> DDQNAgent:
        if self.agent is None:
            raise ConfigError("this model has no network yet: call learn() first, or DDQN.load(path)")
        return self.agent

    def q_values(self, obs: ArrayLike) -> np.ndarray:                   # (*obs_shape) -> (A,), (B, *obs_shape) -> (B, A)
        """Q-values of the online network for one observation or a batch."""
        agent = self._trained()
        if isinstance(obs, tuple) and len(obs) == 2 and isinstance(obs[1], dict):
            raise ValueError("got a tuple (obs, info), as env.reset() returns: pass the observation alone "
                             "(obs, info = env.reset(); model.predict(obs))")
        x = as_observation(obs, agent.online.dtype)                    # NaN, inf, objects: ValueError
        shape = agent.obs_shape                                         # (obs_dim,), or (H, W, C) for images
        single = x.shape == shape
        if not single and x.shape[1:] != shape:
            raise ValueError(f"expected an observation of shape {shape} or a batch "
                             f"(B, {', '.join(map(str, shape))}), got {np.shape(obs)}")
        q = agent.online(x.reshape(-1, *shape))
        return q[0] if single else q

    def predict(self, obs: ArrayLike, state: Any = None, episode_start: Any = None,
                deterministic: bool = True, action_masks: ArrayLike | None = None) -> tuple[int | np.ndarray, Any]:
        """``(action, state)`` as SB3's ``predict``: the greedy action (an int; ``(B,)`` for a batch), or
        epsilon-greedy at the current exploration rate if ``deterministic=False``.

        The default is ``deterministic=True`` (SB3's is ``False``): the greedy policy is the one
        evaluated, chosen (``best.npz``) and exported. ``state`` is returned as given (no recurrent
        state here); ``episode_start`` is ignored. ``action_masks`` ((A,) or (B, A) bool, True = legal; sb3-contrib's
        name) restricts both the greedy and the exploring action to the legal ones.
        """
        q = self.q_values(obs)
        if action_masks is not None:
            masks = np.asarray(action_masks, bool).reshape(-1, q.shape[-1])          # (B, A)
            actions = masked_argmax(q.reshape(-1, q.shape[-1]), masks).reshape(q.shape[:-1])
        else:
            actions = q.argmax(axis=-1)
        if not deterministic:
            agent = self._trained()
            explore = agent.rngs.explore.random(actions.shape) < agent.epsilon
            if action_masks is not None:
                randoms = random_legal_actions(masks, agent.rngs.explore).reshape(actions.shape)
            else:
                randoms = agent.rngs.explore.integers(agent.n_actions, size=actions.shape)
            actions = np.where(explore, randoms, actions)
        return (int(actions) if np.ndim(actions) == 0 else actions.astype(np.int64)), state

    def policy(self) -> Policy:
        """The greedy policy as a NumPy-only ``policy.Policy`` (``.save`` it to embed it elsewhere)."""
        return agent_policy(self._trained())

    def export(self, path: str | Path, format: str | None = None, check: int = 0) -> Any:
        """Write the greedy policy as ``npz`` (policy.py), ``c`` or ``onnx`` (default: from the suffix, else npz);
        ``check > 0`` compares it with the NumPy policy on that many observations. Returns an ``ExportResult``."""
        from .export import export
        policy = self.policy()
        policy.step = self.num_timesteps
        return export(policy, path, format, check=check)

    # -- files ----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the whole model (config, weights, optimizer, replay, counters) as a checkpoint file."""
        agent = self._trained()
        path = Path(path)
        save_checkpoint(path, checkpoint_state(self.config, agent, {**self._carry, "mid_episode": True}))
        return path

    @classmethod
    def load(cls, path: str | Path, env: Any = None, action_mask_fn: Any = None, **changes: Any) -> DDQN:
        """A model from a checkpoint (``save``, or a run's ``last.npz``); ``env`` replaces its env
        (``action_mask_fn`` as the constructor's: functions are not saved).

        ``env``'s spaces are checked against the checkpoint's here (``CheckpointError`` naming both).
        ``changes`` may set only the fields a resumed run may change (``RESUME_FIELDS``:
        ``progress_interval``, ``threads``, ``stop_when_solved``, ``tensorboard``); a new learning
        rate or network is a new model.
        """
        fixed = sorted(set(changes) - set(RESUME_FIELDS) - {"total_steps"})
        if fixed:
            raise ConfigError(f"DDQN.load keeps the checkpoint's config; only "
                              f"{', '.join(f for f in RESUME_FIELDS if f != 'total_steps')} may change "
                              f"(got {', '.join(fixed)}); for other settings make a new DDQN(...)")
        state = DDQNAgent.read_checkpoint(path)
        config = DDQNAgent.config_from_state(state, path).replace(**changes)
        spaces: tuple = ()
        if env is not None:                                    # checked now, not at the first learn
            from .run.envs import check_spaces, env_from_config
            if isinstance(env, str):
                env = env_from_config(config.replace(env_id=env, env_kwargs="{}"))
            spaces = check_spaces(env)
        agent = DDQNAgent.from_state(state, *spaces, source=path, config=config)
        model = cls(env if env is not None else config.env_id, action_mask_fn=action_mask_fn,
                    **{k: v for k, v in config.to_dict().items() if k != "env_id"})
        model._interval = changes.get("progress_interval")
        model.agent, agent.config = agent, model.config
        loop = state.get("loop", {})
        model._carry = {k: loop[k] for k in SAVED_HISTORY if k in loop}
        return model

    def __repr__(self):
        return f"DDQN({self.config.env_id!r}, steps={self.num_timesteps})"

