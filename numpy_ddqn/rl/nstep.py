"""n-step returns: the transitions an n-step Double DQN learns from.

    y = sum_{k<m} gamma^k r_{t+k} + gamma^m (1 - terminated) Q_target(s_{t+m}, argmax_a Q_online(s_{t+m}, a))

with m = n, or fewer where the episode ended first. The writer (``make_writer``: ``NStepWriter``, or
``OneStepWriter`` for n = 1) sits between the env and the replay memory, one ``NStepAccumulator`` per env:
it receives one-step transitions and emits ``(s_t, a_t, R_t, s_{t+m}, terminated,
gamma^m)``. A terminated episode stops the sum and does not bootstrap; a truncated one (a time limit)
stops the sum and does bootstrap, from the last real next observation; no n-step transition crosses
an episode boundary. The replay stores the discount ``gamma^m`` per transition, and the target is the
one-step ``double_dqn_targets`` with that (B,) array in place of the scalar ``gamma``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class NStepTransition(NamedTuple):
    """One n-step transition: ``reward`` is the discounted sum R_t, ``discount`` the gamma^m it bootstraps with."""
    obs: np.ndarray
    action: int
    reward: float
    next_obs: np.ndarray
    terminated: bool
    discount: float
    mask: np.ndarray | None = None        # (A,) bool legal actions at s_t (action masks on)
    next_mask: np.ndarray | None = None   # (A,) bool legal actions at s_{t+m}


class NStepAccumulator:
    """Turns one-step transitions into n-step ones (Sutton & Barto, ch. 7; Hessel et al. 2018).

    Args:
        n: steps summed (1 gives the one-step transitions back).
        gamma: the discount.
    """

    def __init__(self, n: int, gamma: float) -> None:
        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n, self.gamma = int(n), float(gamma)
        self.pending: list[tuple[np.ndarray, int, float]] = []   # (s, a, r) not yet n steps old, oldest first
        self.pending_masks: list[np.ndarray | None] = []         # their legal actions at s (None: masks off)

    def push(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool,
             truncated: bool = False, mask: np.ndarray | None = None,
             next_mask: np.ndarray | None = None) -> list[NStepTransition]:
        """Add one env step; return the n-step transitions it completes (oldest first, maybe none).

        When the episode ends here (terminated or truncated) every pending transition is completed,
        each with its own shorter sum. ``mask`` / ``next_mask`` ((A,) bool, action masks on) are the legal
        actions at s and s'; a transition keeps its first state's and its last next state's.
        """
        self.pending.append((np.array(obs, copy=True), int(action), float(reward)))
        self.pending_masks.append(mask)
        done = terminated or truncated
        out = []
        while self.pending and (len(self.pending) == self.n or done):
            out.append(self._complete(next_obs, bool(terminated), next_mask))
            self.pending.pop(0)
            self.pending_masks.pop(0)
        return out

    def _complete(self, next_obs, terminated, next_mask=None):
        """The transition of the oldest pending step, summed up to the newest."""
        obs, action, _ = self.pending[0]
        ret, discount = 0.0, 1.0
        for _, _, r in self.pending:         # R = sum_k gamma^k r_{t+k}; discount ends as gamma^m
            ret += discount * r
            discount *= self.gamma
        return NStepTransition(obs, action, ret, np.array(next_obs, copy=True), terminated, discount,
                               self.pending_masks[0], next_mask)

    def reset(self) -> None:
        """Drop the pending steps (a new episode that did not follow an ended one: resume, a new learn)."""
        self.pending.clear()
        self.pending_masks.clear()

    def state_dict(self) -> dict:
        """The pending steps as plain arrays (for checkpoints)."""
        obs = np.array([o for o, _, _ in self.pending]) if self.pending else np.zeros((0, 0))
        state = {"n": self.n, "gamma": self.gamma, "obs": obs,
                 "action": np.array([a for _, a, _ in self.pending], np.int64),
                 "reward": np.array([r for _, _, r in self.pending], np.float64)}
        if self.pending and self.pending_masks[0] is not None:   # action masks on: (P, A) bool
            state["mask"] = np.array(self.pending_masks, bool)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()``; the next push continues exactly."""
        self.n, self.gamma = int(state["n"]), float(state["gamma"])
        obs, actions, rewards = np.asarray(state["obs"]), np.asarray(state["action"]), np.asarray(state["reward"])
        self.pending = [(obs[i].copy(), int(actions[i]), float(rewards[i])) for i in range(len(actions))]
        masks = state.get("mask")                  # absent: saved without action masks
        self.pending_masks = [None] * len(actions) if masks is None else [np.array(m, bool) for m in masks]


class OneStepWriter:
    """Writes every env step into the replay as the one-step transition ``(s, a, r, s', terminated)``."""

    def __init__(self, replay) -> None:
        self.replay = replay

    def write(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool,
              truncated: bool = False, env_index: int = 0, mask: np.ndarray | None = None,
              next_mask: np.ndarray | None = None) -> None:
        """Store the transition (``truncated`` is not stored: a time limit still bootstraps from s'), with the legal
        actions at s and s' when action masks are on."""
        self.replay.add(obs, action, reward, next_obs, terminated, None, mask, next_mask)

    def reset(self) -> None:
        """Nothing is pending between steps."""

    def state_dict(self) -> dict:
        """Nothing pending: an empty dict."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore."""


class NStepWriter:
    """Writes every env step through that env's ``NStepAccumulator`` and stores the n-step transitions it completes,
    each with its discount ``gamma^m`` (envs of a vector env are kept apart by ``env_index``)."""

    def __init__(self, replay, n: int, gamma: float) -> None:
        self.replay, self.n, self.gamma = replay, int(n), float(gamma)
        self.accumulators: dict[int, NStepAccumulator] = {}    # env index -> its pending steps

    def write(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool,
              truncated: bool = False, env_index: int = 0, mask: np.ndarray | None = None,
              next_mask: np.ndarray | None = None) -> None:
        """Push one env step; store the n-step transitions it completes (oldest first)."""
        for t in self.accumulator(env_index).push(obs, action, reward, next_obs, terminated, truncated, mask,
                                                  next_mask):
            self.replay.add(t.obs, t.action, t.reward, t.next_obs, t.terminated, t.discount, t.mask, t.next_mask)

    def accumulator(self, env_index: int) -> NStepAccumulator:
        """Env ``env_index``'s accumulator, made on its first step."""
        accumulator = self.accumulators.get(env_index)
        if accumulator is None:
            accumulator = self.accumulators[env_index] = NStepAccumulator(self.n, self.gamma)
        return accumulator

    def reset(self) -> None:
        """Forget partial n-step windows: the next steps start fresh episodes (a resumed run)."""
        for accumulator in self.accumulators.values():
            accumulator.reset()

    def state_dict(self) -> dict:
        """Each env's pending steps, by env index as a string (for checkpoints)."""
        return {str(i): accumulator.state_dict() for i, accumulator in self.accumulators.items()}

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()``; the next write continues exactly."""
        for i, accumulator_state in state.items():
            self.accumulator(int(i)).load_state_dict(accumulator_state)


def make_writer(replay, n: int, gamma: float) -> OneStepWriter | NStepWriter:
    """The writer of ``n``-step transitions into ``replay``: the one place that tests ``n``."""
    return OneStepWriter(replay) if n == 1 else NStepWriter(replay, n, gamma)
