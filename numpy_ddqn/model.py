"""The model API, in Stable-Baselines3's shape: ``DDQN(env).learn(n)``, ``predict``, ``save``, ``load``.

A thin layer over ``run.loop.train`` and ``DDQNAgent``::

    from numpy_ddqn import DDQN
    model = DDQN("CartPole-v1", seed=0, learning_rate=1e-3)     # keyword arguments are Config fields
    model.learn(total_timesteps=50_000)                        # a second call trains on
    action, _ = model.predict(obs, deterministic=True)         # one observation or a batch
    model.save("cartpole.npz")
    model = DDQN.load("cartpole.npz")
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Union

import numpy as np
from numpy.typing import ArrayLike

from .checkpoint import agent_policy, save_checkpoint
from .config import Config
from .errors import ConfigError
from .policy import Policy
from .rl.agent import DDQNAgent
from .run.loop import History, train
from .run.runner import SAVED_HISTORY, StepInfo, checkpoint_state

Callback = Union[Callable[[StepInfo], Any], Any]
"""A callable taking a ``StepInfo`` (or an object with ``on_step(info)``); returning ``False`` stops."""


class DDQN:
    """A Double-DQN model on one Gymnasium env.

    Args:
        env: an env id (``"CartPole-v1"``, ``"module:EnvName-v0"``) or a Gymnasium env instance.
        out_dir: a run folder for ``config.json``, ``log.jsonl`` and checkpoints (default: none).
        eval_env: the evaluation env for an env instance without a registered spec.
        **config: ``Config`` fields (``seed``, ``learning_rate``, ``hidden_sizes``, ...), validated;
            the env's preset comes first. ``learn`` stops early once the env is solved unless
            ``stop_when_solved=False``.
    """

    def __init__(self, env: str | Any = "CartPole-v1", out_dir: str | Path | None = None, eval_env: Any = None,
                 **config: Any) -> None:
        if isinstance(env, str):
            self.env, env_id = None, env
        else:
            self.env, env_id = env, getattr(getattr(env, "spec", None), "id", None) or config.get("env_id", "custom")
        config.pop("env_id", None)
        self.config = Config.for_env(env_id, **config)
        self.out_dir, self.eval_env = out_dir, eval_env
        self.agent: DDQNAgent | None = None    # built by the first learn (it needs the env's spaces)
        self.history: History | None = None    # the latest learn's History
        self._carry: dict[str, Any] = {}       # counters carried from one learn to the next

    # -- learning -------------------------------------------------------------------------

    def learn(self, total_timesteps: int, callback: Callback | None = None, progress_bar: bool = False) -> DDQN:
        """Train for ``total_timesteps`` more env steps (fewer if solved first); returns ``self``.

        ``callback`` is called after every step with a ``StepInfo`` (step, episodes, the return of an
        episode that just ended, the update metrics, epsilon, the last evaluation); returning
        ``False`` stops. ``progress_bar`` prints the progress line every 2 seconds.
        """
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, (int, np.integer)) \
                or total_timesteps < 1:
            raise ConfigError(f"total_timesteps must be an int >= 1, got {total_timesteps!r}")
        done = 0 if self.agent is None else self.agent.steps
        self.config = self.config.replace(total_steps=done + int(total_timesteps),
                                          progress_interval=2.0 if progress_bar else 0.0)
        if self.env is None:
            from .run.envs import env_from_config
            self.env = env_from_config(self.config)
        if self.agent is not None:
            self.agent.config = self.config
        out_dir = None if self.out_dir is None else Path(self.out_dir)
        self.history = h = train(self.config, env=self.env, out_dir=out_dir, eval_env=self.eval_env,
                                 agent=self.agent, callback=callback, carry=self._carry)
        self.agent = h.agent
        assert self.agent is not None
        self._carry = {k: getattr(h, k) for k in SAVED_HISTORY}
        return self

    @property
    def num_timesteps(self) -> int:
        """Env steps trained so far."""
        return 0 if self.agent is None else self.agent.steps

    # -- acting ---------------------------------------------------------------------------

    def _trained(self) -> DDQNAgent:
        if self.agent is None:
            raise ConfigError("this model has no network yet: call learn() first, or DDQN.load(path)")
        return self.agent

    def q_values(self, obs: ArrayLike) -> np.ndarray:                   # (*obs_shape) -> (A,), (B, *obs_shape) -> (B, A)
        """Q-values of the online network for one observation or a batch."""
        agent = self._trained()
        x = np.asarray(obs, dtype=agent.online.dtype)
        shape = agent.obs_shape                                         # (obs_dim,), or (H, W, C) for images
        single = x.shape == shape
        if not single and x.shape[1:] != shape:
            raise ValueError(f"expected an observation of shape {shape} or a batch "
                             f"(B, {', '.join(map(str, shape))}), got {np.shape(obs)}")
        q = agent.online(x.reshape(-1, *shape))
        return q[0] if single else q

    def predict(self, obs: ArrayLike, deterministic: bool = True) -> tuple[int | np.ndarray, None]:
        """``(action, None)``: the greedy action (an int; ``(B,)`` for a batch), or epsilon-greedy with
        the current exploration rate if ``deterministic=False``. The ``None`` stands where SB3 returns
        a recurrent state."""
        q = self.q_values(obs)
        actions = q.argmax(axis=-1)
        if not deterministic:
            agent = self._trained()
            explore = agent.rngs.explore.random(actions.shape) < agent.epsilon
            actions = np.where(explore, agent.rngs.explore.integers(agent.n_actions, size=actions.shape), actions)
        return (int(actions) if np.ndim(actions) == 0 else actions.astype(np.int64)), None

    def policy(self) -> Policy:
        """The greedy policy as a NumPy-only ``policy.Policy`` (``.save`` it to embed it elsewhere)."""
        return agent_policy(self._trained())

    # -- files ----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the whole model (config, weights, optimizer, replay, counters) as a checkpoint file."""
        agent = self._trained()
        path = Path(path)
        save_checkpoint(path, checkpoint_state(self.config, agent, {**self._carry, "mid_episode": True}))
        return path

    @classmethod
    def load(cls, path: str | Path, env: Any = None, **changes: Any) -> DDQN:
        """A model from a checkpoint (``save``, or a run's ``last.npz``); ``env`` replaces its env.

        ``changes`` may set the fields a resumed run may change (``progress_interval``, ``threads``,
        ``stop_when_solved``).
        """
        state = DDQNAgent.read_checkpoint(path)
        config = DDQNAgent.config_from_state(state, path).replace(**changes)
        model = cls(env if env is not None else config.env_id,
                    **{k: v for k, v in config.to_dict().items() if k != "env_id"})
        model.agent = DDQNAgent.from_state(state, source=path, config=model.config)
        loop = state.get("loop", {})
        model._carry = {k: loop[k] for k in SAVED_HISTORY if k in loop}
        return model

    def __repr__(self):
        return f"DDQN({self.config.env_id!r}, steps={self.num_timesteps})"
