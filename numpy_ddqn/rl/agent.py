"""The Double-DQN agent: act, store, learn, sync the target. Its parts are built by ``build.py`` from registries."""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ..checkpoint import agent_from_checkpoint, agent_from_state, config_from_state, load_checkpoint
from ..config import Config
from ..errors import DivergenceError
from ..nn import clip_grad_norm, global_norm
from ..nn.noisy import FactorisedNoise
from .build import build_parts
from .masks import masked_argmax, random_legal_actions
from .replay import Batch
from .seeding import make_rngs, rng_state, set_rng_state


class DDQNAgent:
    """Double DQN (van Hasselt, Guez & Silver, 2015) on vector or image observations and discrete actions.

    Args:
        obs_dim: length of the observation vector, or an observation's shape (``(10, 10, 4)``: images).
        n_actions: number of discrete actions.
        config: a ``Config`` (defaults if omitted); ``config.layers`` builds a ``Network`` of those layers
            (convolutions for images), else an ``MLP`` of ``config.hidden_sizes``.
        obs_dtype: how the replay stores observations: ``None`` in the network's dtype, ``"uint8"`` one
            byte per value, ``"bool"`` one bit per value (0/1 frames).

    The training loop (``run/loop.py``) calls, per env step: ``a = agent.act(obs)``; ``agent.store(obs, a, r,
    next_obs, terminated, truncated)``; ``agent.learn()`` when ``agent.learn_due()``; ``agent.sync_target()`` when
    ``agent.sync_due()``. ``agent.observe(...)`` does the last three in one call.
    """

    def __init__(self, obs_dim: int | tuple[int, ...], n_actions: int, config: Config | None = None,
                 obs_dtype: str | None = None) -> None:
        self.config = config = config or Config()
        self.obs_shape = tuple(int(n) for n in np.atleast_1d(obs_dim))   # (obs_dim,) for vectors
        self.obs_dim, self.n_actions, self.obs_dtype = int(np.prod(self.obs_shape)), int(n_actions), obs_dtype
        if min(self.obs_shape) < 1 or self.n_actions < 1:
            raise ValueError(f"obs_dim and n_actions must be >= 1, got {obs_dim} and {n_actions}")
        self.rngs = make_rngs(config.seed)        # init, explore, replay, noise: independent streams
        (self.memory, self.online, self.target, self.optimizer, self.replay, self.writer, self.rule,
         self.epsilon_schedule, self.learning_rate_schedule, self.beta_schedule) = build_parts(
            config, self.obs_shape, self.n_actions, obs_dtype, self.rngs.init)   # rl/build.py: each from its registry
        self.steps = 0                    # transitions observed (env steps)
        self.updates = 0                  # gradient updates done
        self.reuse = True                 # networks write into arrays they keep (MLP): no allocation per update
        self._grad = np.empty(self.online.n_params, config.dtype)   # flat gradient, reused by every update
        self.noisy = bool(getattr(self.online, "noisy", False))     # noisy layers: they explore, epsilon is 0
        # a learning step's noise: the online network's then the target's, drawn in one Generator call (the same
        # normals as two calls in that order)
        self._update_noise = FactorisedNoise(self.online.noise_blocks + self.target.noise_blocks,
                                             config.dtype) if self.noisy else None

    @property
    def epsilon(self) -> float:
        """The exploration rate at the current step."""
        return self.epsilon_schedule(self.steps)

    # -- act ----------------------------------------------------------------------------

    def greedy_action(self, obs: ArrayLike, mask: np.ndarray | None = None) -> int:
        """argmax_a Q_online(obs, a), over the legal actions if ``mask`` ((A,) bool) is given."""
        if mask is not None:
            q = self.online(np.reshape(obs, (1, *self.obs_shape)))                 # (1, A)
            return int(masked_argmax(q, np.reshape(mask, (1, -1)))[0])
        if self.reuse:                            # an MLP: one vector through vector-matrix products
            return int(self.online.forward_one(obs).argmax())
        return int(self.online(np.reshape(obs, (1, *self.obs_shape))).argmax())

    def act(self, obs: ArrayLike, greedy: bool = False, mask: np.ndarray | None = None) -> int:
        """Epsilon-greedy action for ``obs`` (greedy if ``greedy=True``); with ``mask`` ((A,) bool, True = legal)
        both the exploring and the greedy action are legal ones; with noisy layers, greedy on a new draw of the
        noise (``greedy=True``: on the mean weights)."""
        if not greedy and self.rngs.explore.random() < self.epsilon_schedule(self.steps):
            if mask is not None:                  # uniform over the legal actions
                return int(random_legal_actions(np.reshape(mask, (1, -1)), self.rngs.explore)[0])
            return int(self.rngs.explore.integers(self.n_actions))
        if self.noisy and not greedy:             # new noise for every acting forward (Fortunato et al. 2018)
            self.online.sample_noise(self.rngs.noise)
            action = self.greedy_action(obs, mask)
            self.online.use_mean()
            return action
        return self.greedy_action(obs, mask)

    def act_batch(self, obs: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:   # (N, obs_dim) -> (N,) int64
        """Epsilon-greedy actions for a batch of observations (one per env of a vector env); ``masks`` (N, A) bool
        restricts each to its legal actions; noisy layers: one new draw of the noise for the batch."""
        if self.noisy:
            self.online.sample_noise(self.rngs.noise)
        q = self.online(obs)                                                # (N, A)
        if self.noisy:
            self.online.use_mean()
        actions = q.argmax(axis=1) if masks is None else masked_argmax(q, masks)
        explore = self.rngs.explore.random(actions.shape[0]) < self.epsilon_schedule(self.steps)
        if explore.any():
            if masks is None:
                actions[explore] = self.rngs.explore.integers(self.n_actions, size=int(explore.sum()))
            else:
                actions[explore] = random_legal_actions(masks[explore], self.rngs.explore)
        return actions

    # -- store --------------------------------------------------------------------------

    def store(self, obs: ArrayLike, action: int, reward: float, next_obs: ArrayLike, terminated: bool,
              truncated: bool = False, env_index: int = 0, mask: np.ndarray | None = None,
              next_mask: np.ndarray | None = None) -> None:
        """Count one env step and hand its transition to the writer (one-step, or n-step through env
        ``env_index``'s window). Only ``terminated`` is stored: a truncated episode still bootstraps from s'.
        With action masks on, ``mask`` and ``next_mask`` ((A,) bool) are the legal actions at s and s'."""
        if type(action) is not int:                      # a NumPy integer, a 0-d array: as an int
            action = int(action) if isinstance(action, np.integer) else as_action(action)
        if not 0 <= action < self.n_actions:
            raise ValueError(f"action {action} is outside the action space: expected an int in [0, {self.n_actions})")
        if self.config.action_masks:
            mask, next_mask = self._check_masks(action, mask, next_mask)
        self.writer.write(obs, action, reward, next_obs, terminated, truncated, env_index, mask, next_mask)
        self.steps += 1

    def _check_masks(self, action, mask, next_mask):
        """The two (A,) bool masks of a transition; ``ValueError`` if one is missing or misshapen, or the action is
        not legal under ``mask``."""
        if mask is None or next_mask is None:
            raise ValueError("action_masks is on: store() needs mask and next_mask, the legal actions at s and s'")
        mask, next_mask = np.asarray(mask, bool), np.asarray(next_mask, bool)
        if mask.shape != (self.n_actions,) or next_mask.shape != (self.n_actions,):
            raise ValueError(f"masks must be ({self.n_actions},) bool, got {mask.shape} and {next_mask.shape}")
        if not mask[action]:
            raise ValueError(f"action {action} is illegal under its mask {mask.astype(int).tolist()}")
        return mask, next_mask

    def drop_pending(self) -> None:
        """Forget partial n-step windows: the next transitions start fresh episodes (a resumed run)."""
        self.writer.reset()

    # -- learn --------------------------------------------------------------------------

    def learn_due(self) -> bool:
        """Whether to learn now: every ``train_freq`` steps, once ``learning_starts`` (and a batch) are stored."""
        c, stored = self.config, self.replay.size
        return stored >= c.learning_starts and stored >= c.batch_size and self.steps % c.train_freq == 0

    def learn(self) -> dict:
        """``gradient_steps`` updates, each on a batch sampled from the replay; the last update's metrics."""
        c = self.config
        for _ in range(c.gradient_steps):
            metrics = self.update(self.replay.sample(c.batch_size, self.rngs.replay, self.beta_schedule(self.steps)))
        return metrics

    def gradient(self, batch: Batch) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """Loss of the online net on ``batch`` (its ``weights`` weighting each transition's loss) and its flat
        gradient, targets held fixed. Returns ``(loss, grad, q, td_error)``; ``grad`` and (for an MLP) ``q`` are
        reused buffers, overwritten by the next call. With a distributional rule ``td_error`` is each transition's
        loss (its priority) and ``q`` the mean of the head's distribution."""
        rule = self.rule
        gamma = self.config.gamma if batch.discount is None else batch.discount   # n-step: gamma^m per transition
        if self.noisy:                            # independent noise for the online and the target net, one draw
            self._update_noise.draw(self.rngs.noise)
            self.online.use_noise()
            self.target.use_noise()
        # the rule's forwards (rl/forwards.py): Q or, for a raw (distributional) rule, the head's (B, A, N) outputs
        f = rule.forwards(self.online, self.target, batch, rule, self.rngs.noise, self.reuse)
        extra = f.extra
        if batch.next_mask is not None:
            extra["mask_next"] = batch.next_mask          # (B, A) bool: legal at s'
        if rule.target_obs and batch.mask is not None:
            extra["mask"] = batch.mask                    # (B, A) bool: legal at s
        loss, dq, td_error = rule.learn(f.out, batch.action, batch.reward, batch.terminated, gamma, f.next_online,
                                        f.next_target, self.config.loss, batch.weights, **extra)   # dq: like f.out
        self.online.backward(dq, f.cache, self._grad, self.reuse)   # raw: dq is dL/d outputs (B, A, N)
        if self.noisy:                            # back to the mean weights: evaluation, export, ``agent.online(x)``
            self.online.use_mean()
            self.target.use_mean()
        return loss, self._grad, f.q, td_error

    def update(self, batch: Batch) -> dict:
        """One gradient step on a batch; returns ``{loss, q_mean, q_max, td_abs_mean, grad_norm}``.

        The batch's rows get new priorities from their TD errors (a distributional rule: their losses) (prioritized
        replay; a no-op otherwise).
        """
        c = self.config
        loss, grad, q, td_error = self.gradient(batch)
        self.replay.update_priorities(batch.indices, td_error)
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

    # -- sync target --------------------------------------------------------------------

    def sync_due(self) -> bool:
        """Whether to sync the target network now: every ``target_update_interval`` steps."""
        return self.steps % self.config.target_update_interval == 0

    def sync_target(self) -> None:
        """theta_target <- theta_online (hard, tau = 1) or Polyak average with tau."""
        if self.config.tau >= 1.0:
            self.target.copy_from(self.online)
        else:
            self.target.polyak_from(self.online, self.config.tau)

    def observe(self, obs: ArrayLike, action: int, reward: float, next_obs: ArrayLike, terminated: bool,
                truncated: bool = False, env_index: int = 0) -> dict | None:
        """Store, learn when due, sync the target when due (the loop's three stages in one call, for API users);
        return the update's metrics, or ``None`` if none was due."""
        self.store(obs, action, reward, next_obs, terminated, truncated, env_index)
        metrics = self.learn() if self.learn_due() else None
        if self.sync_due():
            self.sync_target()
        return metrics

    # -- state --------------------------------------------------------------------------

    def weight_norms(self) -> dict[str, float]:
        """Per-layer weight norms of the online network (diagnostics on request)."""
        return self.online.weight_norms()

    def state_dict(self, include_replay: bool = False) -> dict:
        """Everything needed to continue learning exactly: weights, optimizer, counters, RNG states."""
        state = {"online": self.online.flat.copy(), "target": self.target.flat.copy(),
                 "optimizer": self.optimizer.state_dict(), "steps": self.steps, "updates": self.updates,
                 "rngs": {name: rng_state(rng) for name, rng in self.rngs._asdict().items()}}
        if include_replay:
            state["replay"] = self.replay.state_dict()
        pending = self.writer.state_dict()
        if pending:                                        # n-step windows of episodes under way
            state["nstep"] = pending
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
            if name in state["rngs"]:             # checkpoints from before the noise stream have none
                set_rng_state(rng, state["rngs"][name])
        if "replay" in state:
            self.replay.load_state_dict(state["replay"])
        self.writer.load_state_dict(state.get("nstep", {}))

    # -- from a checkpoint (checkpoint.py reads the file and checks it against the env's spaces) --

    read_checkpoint = staticmethod(load_checkpoint)
    config_from_state = staticmethod(config_from_state)
    from_state = classmethod(agent_from_state)
    from_checkpoint = classmethod(agent_from_checkpoint)


def as_action(action: ArrayLike) -> int:
    """A 0-d integer array (or anything NumPy reads as one integer) as an ``int``; ``ValueError`` otherwise."""
    value = np.asarray(action)
    if value.shape != () or value.dtype.kind not in "iu":
        raise ValueError(f"action {action!r} is not an integer: expected one int per transition")
    return int(value)
