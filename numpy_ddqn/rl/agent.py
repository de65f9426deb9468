"""The Double-DQN agent: online and target networks, replay memory, optimizer and schedules."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..config import Config
from ..errors import CheckpointError, ConfigError, DivergenceError
from ..nn import MLP, OPTIMIZERS, clip_grad_norm, global_norm, td_loss
from ..nn.dueling import DuelingMLP
from ..nn.network import Network, count_params
from .memory import check_memory, plan_memory
from .nstep import NStepAccumulator
from .prioritized import PrioritizedReplayBuffer
from .replay import Batch, ReplayBuffer
from .schedules import LinearSchedule, epsilon_schedule, learning_rate_schedule
from .seeding import make_rngs, rng_state, set_rng_state
from .targets import double_dqn_targets, dqn_targets

if TYPE_CHECKING:
    from ..nn.optim import SGD, Adam
    from ..policy import Policy


def make_optimizer(config: Config) -> SGD | Adam:
    """The optimizer a ``Config`` asks for, from the ``nn.OPTIMIZERS`` registry."""
    kwargs = {"sgd": dict(momentum=config.momentum, nesterov=config.nesterov),
              "adam": dict(beta1=config.adam_beta1, beta2=config.adam_beta2, eps=config.adam_eps)}
    return OPTIMIZERS[config.optimizer](config.learning_rate, **kwargs[config.optimizer])


class DDQNAgent:
    """Double DQN (van Hasselt, Guez & Silver, 2015) on flat observations and discrete actions.

    Args:
        obs_dim: length of the observation vector, or an observation's shape (``(10, 10, 4)``: images).
        n_actions: number of discrete actions.
        config: a ``Config`` (defaults if omitted); ``config.layers`` builds a ``Network`` of those layers
            (convolutions for images), else an ``MLP`` of ``config.hidden_sizes``.
        obs_dtype: how the replay stores observations: ``None`` in the network's dtype, ``"uint8"`` one
            byte per value, ``"bool"`` one bit per value (0/1 frames).

    Use it as: ``a = agent.act(obs)``; step the env; ``agent.observe(obs, a, r, next_obs,
    terminated, truncated)``, which stores the transition and learns when due.
    """

    def __init__(self, obs_dim: int | tuple[int, ...], n_actions: int, config: Config | None = None,
                 obs_dtype: str | None = None) -> None:
        self.config = config = config or Config()
        self.obs_shape = tuple(int(n) for n in np.atleast_1d(obs_dim))   # (obs_dim,) for vectors
        self.obs_dim, self.n_actions, self.obs_dtype = int(np.prod(self.obs_shape)), int(n_actions), obs_dtype
        if min(self.obs_shape) < 1 or self.n_actions < 1:
            raise ValueError(f"obs_dim and n_actions must be >= 1, got {obs_dim} and {n_actions}")
        if config.layers:                         # shapes through the layers, checked before anything is built
            try:
                count_params(config.layers, self.obs_shape, self.n_actions + config.dueling)
            except ValueError as e:
                raise ConfigError(f"config field 'layers' = {config.layers!r} is invalid for observations of "
                                  f"shape {self.obs_shape}: {e}") from None
        elif len(self.obs_shape) > 1:
            raise ConfigError(f"observations of shape {self.obs_shape} need a network of layers: set layers, "
                              f"e.g. conv16x3,relu,flatten,dense128,relu")
        self.memory = plan_memory(config, self.obs_shape, self.n_actions, obs_dtype)
        check_memory(self.memory)                 # before allocating: a one-line error, not a MemoryError
        if config.dueling and self.n_actions < 2:
            raise ConfigError(f"config field 'dueling' = True is invalid: a dueling head needs >= 2 actions, "
                              f"this env has {self.n_actions}")
        self.rngs = make_rngs(config.seed)
        dtype = np.dtype(config.dtype)
        if config.layers:                         # a list of layers: convolutions over image observations
            self.online = Network(self.obs_shape, config.layers, self.n_actions, config.dueling, dtype, self.rngs.init)
            self.target = Network(self.obs_shape, config.layers, self.n_actions, config.dueling, dtype, self.rngs.init)
        else:
            sizes = (self.obs_dim, *config.hidden_sizes, self.n_actions)
            network = DuelingMLP if config.dueling else MLP   # Q = V + A - mean A, or a linear output
            self.online = network(sizes, config.activation, dtype, self.rngs.init)
            self.target = network(sizes, config.activation, dtype, self.rngs.init)
        self.target.copy_from(self.online)
        self.optimizer = make_optimizer(config)
        n_step = config.n_step > 1                # n-step transitions carry their own discount gamma^m
        obs = self.obs_shape if len(self.obs_shape) > 1 else self.obs_dim   # frames keep their shape and dtype
        self.replay = (PrioritizedReplayBuffer(config.buffer_size, obs, dtype, n_step, config.per_alpha,
                                               config.per_eps, obs_dtype=obs_dtype) if config.prioritized else
                       ReplayBuffer(config.buffer_size, obs, dtype, n_step, obs_dtype))
        self.nstep = {}                           # env index -> NStepAccumulator (n_step > 1)
        self.epsilon_schedule = epsilon_schedule(config)
        self.learning_rate_schedule = learning_rate_schedule(config)
        self.beta_schedule = LinearSchedule(config.per_beta, 1.0, config.total_steps)   # PER: beta -> 1
        self.steps = 0                    # transitions observed (env steps)
        self.updates = 0                  # gradient updates done
        self._grad = np.empty(self.online.n_params, dtype)   # flat gradient, reused by every update
        # an MLP writes its layers' outputs into arrays it keeps per batch size: no allocation per update
        self._reuse = {"reuse": True} if isinstance(self.online, MLP) else {}

    @property
    def epsilon(self) -> float:
        """The exploration rate at the current step."""
        return self.epsilon_schedule(self.steps)

    # -- acting -------------------------------------------------------------------------

    def greedy_action(self, obs: ArrayLike) -> int:
        """argmax_a Q_online(obs, a)."""
        if self._reuse:                           # an MLP: one vector through vector-matrix products
            return int(self.online.forward_one(obs).argmax())
        q = self.online(np.reshape(obs, (1, self.obs_dim)))     # (1, A)
        return int(q.argmax())

    def act(self, obs: ArrayLike, greedy: bool = False) -> int:
        """Epsilon-greedy action for ``obs`` (greedy if ``greedy=True``)."""
        if not greedy and self.rngs.explore.random() < self.epsilon_schedule(self.steps):
            return int(self.rngs.explore.integers(self.n_actions))
        return self.greedy_action(obs)

    def act_batch(self, obs: np.ndarray) -> np.ndarray:                     # obs: (N, obs_dim) -> (N,) int64
        """Epsilon-greedy actions for a batch of observations (one per env of a vector env)."""
        actions = self.online(obs).argmax(axis=1)
        explore = self.rngs.explore.random(actions.shape[0]) < self.epsilon_schedule(self.steps)
        if explore.any():
            actions[explore] = self.rngs.explore.integers(self.n_actions, size=int(explore.sum()))
        return actions

    # -- learning -----------------------------------------------------------------------

    def observe(self, obs: ArrayLike, action: int, reward: float, next_obs: ArrayLike, terminated: bool,
                truncated: bool = False, env_index: int = 0) -> dict | None:
        """Store one transition and learn when due; return the last update's metrics or ``None``.

        Only ``terminated`` is stored: a truncated episode (time limit) still bootstraps from s'.
        With ``n_step > 1`` the transition goes through env ``env_index``'s n-step accumulator, and the
        n-step transitions it completes are stored.
        """
        c = self.config
        if type(action) is not int:                      # a NumPy integer, a 0-d array: as an int
            action = int(action) if isinstance(action, np.integer) else self._as_action(action)
        if not 0 <= action < self.n_actions:
            raise ValueError(f"action {action} is outside the action space: expected an int in [0, {self.n_actions})")
        if c.n_step == 1:
            self.replay.add(obs, action, reward, next_obs, terminated)
        else:
            for t in self._accumulator(env_index).push(obs, action, reward, next_obs, terminated, truncated):
                self.replay.add(t.obs, t.action, t.reward, t.next_obs, t.terminated, t.discount)
        self.steps += 1
        metrics = None
        stored = self.replay.size
        if stored >= c.learning_starts and stored >= c.batch_size and self.steps % c.train_freq == 0:
            for _ in range(c.gradient_steps):
                metrics = self.learn()
        if self.steps % c.target_update_interval == 0:
            self.sync_target()
        return metrics

    def learn(self) -> dict:
        """Sample a batch (uniformly, or by priority with importance weights) and take one update."""
        c = self.config
        if not c.prioritized:
            return self.update(self.replay.sample(c.batch_size, self.rngs.replay))
        batch, indices, weights = self.replay.sample_prioritized(c.batch_size, self.rngs.replay,
                                                                 self.beta_schedule(self.steps))
        return self.update(batch, weights, indices)

    def _accumulator(self, env_index):
        if env_index not in self.nstep:
            self.nstep[env_index] = NStepAccumulator(self.config.n_step, self.config.gamma)
        return self.nstep[env_index]

    def drop_pending(self) -> None:
        """Forget partial n-step windows: the next transitions start fresh episodes (a resumed run)."""
        for accumulator in self.nstep.values():
            accumulator.reset()

    @staticmethod
    def _as_action(action):
        value = np.asarray(action)
        if value.shape != () or value.dtype.kind not in "iu":
            raise ValueError(f"action {action!r} is not an integer: expected one int per transition")
        return int(value)

    def gradient(self, batch: Batch, weights: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray,
                                                                                 np.ndarray]:
        """Loss of the online net on ``batch`` and its gradient (flat), targets held fixed.

        ``weights`` (B,) weight each transition's loss (prioritized replay's importance weights).
        Returns ``(loss, grad, q, td_error)``; ``grad`` and (for an MLP) ``q`` are reused buffers, overwritten
        by the next call.
        """
        c = self.config
        B = batch.action.shape[0]
        gamma = c.gamma if batch.discount is None else batch.discount   # n-step: gamma^m per transition
        if c.double:
            # one forward of the online net over s and s' stacked: (2B, obs_dim) -> (2B, A)
            q_both, cache = self.online.forward(np.concatenate((batch.obs, batch.next_obs)), **self._reuse)
            q, q_next_online = q_both[:B], q_both[B:]
            cache = [x[:B] for x in cache]                # the s' half gets no gradient
            q_next_target = self.target.forward(batch.next_obs, **self._reuse)[0]   # (B, A)
            targets = double_dqn_targets(batch.reward, batch.terminated, q_next_online,
                                         q_next_target, gamma)
        else:
            q, cache = self.online.forward(batch.obs, **self._reuse)     # (B, A)
            q_next_target = self.target.forward(batch.next_obs, **self._reuse)[0]
            targets = dqn_targets(batch.reward, batch.terminated, q_next_target, gamma)
        loss, dq, td_error = td_loss(q, batch.action, targets, c.loss, weights)   # dq: (B, A)
        self.online.backward(dq, cache, out=self._grad, **self._reuse)
        return loss, self._grad, q, td_error

    def update(self, batch: Batch, weights: np.ndarray | None = None, indices: np.ndarray | None = None) -> dict:
        """One gradient step on a batch; returns ``{loss, q_mean, q_max, td_abs_mean, grad_norm}``.

        With prioritized replay, ``weights`` are the batch's importance weights and ``indices`` its rows,
        whose priorities are set from the new TD errors.
        """
        c = self.config
        loss, grad, q, td_error = self.gradient(batch, weights)
        if indices is not None:
            self.replay.update_priorities(indices, td_error)
        grad_norm = clip_grad_norm(grad, c.max_grad_norm) if c.max_grad_norm > 0 else global_norm(grad)
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            raise DivergenceError(f"learning diverged at env step {self.steps} (update {self.updates + 1}): "
                                  f"loss={loss}, grad_norm={grad_norm}; try a smaller learning_rate or "
                                  f"max_grad_norm > 0")
        self.optimizer.lr = self.learning_rate_schedule(self.steps)
        self.optimizer.step(self.online.flat, grad)
        self.updates += 1
        # sum / size: the same as mean(), and ~3x cheaper on arrays this small; the ufuncs' own reduce
        # skips the Python wrapper of q.sum() / q.max()
        return {"loss": loss, "q_mean": float(np.add.reduce(q, axis=None)) / q.size,
                "q_max": float(np.maximum.reduce(q, axis=None)),
                "td_abs_mean": float(np.add.reduce(np.abs(td_error))) / td_error.size, "grad_norm": grad_norm}

    def sync_target(self) -> None:
        """theta_target <- theta_online (hard, tau = 1) or Polyak average with tau."""
        if self.config.tau >= 1.0:
            self.target.copy_from(self.online)
        else:
            self.target.polyak_from(self.online, self.config.tau)

    def weight_norms(self) -> dict[str, float]:
        """Per-layer weight norms of the online network (diagnostics on request)."""
        return self.online.weight_norms()

    # -- state --------------------------------------------------------------------------

    def state_dict(self, include_replay: bool = False) -> dict:
        """Everything needed to continue learning exactly: weights, optimizer, counters, RNG states."""
        state = {"online": self.online.flat.copy(), "target": self.target.flat.copy(),
                 "optimizer": self.optimizer.state_dict(), "steps": self.steps, "updates": self.updates,
                 "rngs": {name: rng_state(rng) for name, rng in self.rngs._asdict().items()}}
        if include_replay:
            state["replay"] = self.replay.state_dict()
        if self.nstep:
            state["nstep"] = {str(i): acc.state_dict() for i, acc in self.nstep.items()}
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()`` (the agent must have the same architecture)."""
        for name, net in (("online", self.online), ("target", self.target)):
            flat = np.asarray(state[name])
            if flat.shape != net.flat.shape:
                raise ValueError(f"{name} weights have {flat.size} parameters; this network "
                                 f"{net.sizes} has {net.n_params}")
            net.flat[...] = flat
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps, self.updates = int(state["steps"]), int(state["updates"])
        for name, rng in self.rngs._asdict().items():
            set_rng_state(rng, state["rngs"][name])
        if "replay" in state:
            self.replay.load_state_dict(state["replay"])
        for i, acc_state in state.get("nstep", {}).items():
            self._accumulator(int(i)).load_state_dict(acc_state)

    def policy(self) -> Policy:
        """The online network's greedy policy as a NumPy-only ``policy.Policy`` (for export)."""
        from ..policy import Policy
        layers = self.online.description if isinstance(self.online, Network) else None
        return Policy(self.online.get_weights(), self.config.activation, self.config.env_id,
                      head="dueling" if self.config.dueling else "linear", layers=layers,
                      obs_shape=self.obs_shape if layers else None)

    # -- from a checkpoint ------------------------------------------------------------------

    @staticmethod
    def read_checkpoint(path: str | Path) -> dict:
        """The whole state of a checkpoint file (agent, config, loop counters); ``CheckpointError`` if unsound."""
        from ..checkpoint import load_checkpoint
        return load_checkpoint(path)

    @staticmethod
    def config_from_state(state: dict, source: object = "checkpoint") -> Config:
        """The ``Config`` a checkpoint state was trained with; ``CheckpointError`` if missing or invalid."""
        try:
            return Config.from_dict(state["config"])
        except ConfigError as e:
            raise CheckpointError(f"{source} holds an invalid config: {e}") from None
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"{source} is not a complete numpy_ddqn checkpoint "
                                  f"({type(e).__name__}: {e})") from None

    @classmethod
    def from_state(cls, state: dict, obs_dim: int | None = None, n_actions: int | None = None,
                   source: object = "checkpoint", config: Config | None = None) -> DDQNAgent:
        """The agent a checkpoint state holds, checked against the env's spaces when given.

        ``config`` replaces the saved one (a resumed run's, with its allowed changes).
        """
        config = config or cls.config_from_state(state, source)
        try:
            saved_obs, saved_actions = int(state["obs_dim"]), int(state["n_actions"])
            agent_state = state["agent"]
            saved_shape = tuple(int(n) for n in state.get("obs_shape", (saved_obs,)))   # images: (H, W, C)
            saved_obs_dtype = state.get("obs_dtype")
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(f"{source} is not a complete numpy_ddqn checkpoint "
                                  f"({type(e).__name__}: {e})") from None
        if saved_obs_dtype not in (None, "uint8", "bool"):
            raise CheckpointError(f"{source} has an unknown observation storage {saved_obs_dtype!r}")
        shape = None if obs_dim is None else tuple(int(n) for n in np.atleast_1d(obs_dim))
        if (shape is not None and shape != saved_shape) or (n_actions is not None and n_actions != saved_actions):
            saved_what = saved_obs if len(saved_shape) == 1 else saved_shape
            raise CheckpointError(f"{source} was trained on {config.env_id} with {saved_what} observations and "
                                  f"{saved_actions} actions; this env has {obs_dim} and {n_actions}")
        agent = cls(saved_shape if len(saved_shape) > 1 else saved_obs, saved_actions, config, saved_obs_dtype)
        try:
            agent.load_state_dict(agent_state)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise CheckpointError(f"{source} does not fit the network {agent.online.sizes}: {e}") from None
        return agent

    @classmethod
    def from_checkpoint(cls, path: str | Path, obs_dim: int | None = None,
                        n_actions: int | None = None) -> DDQNAgent:
        """The agent saved in a checkpoint file (``last.npz``, ``best.npz``), ready to act or learn on."""
        return cls.from_state(cls.read_checkpoint(path), obs_dim, n_actions, source=path)
