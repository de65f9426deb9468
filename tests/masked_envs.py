"""A small env whose illegal actions are catastrophic and whose legal actions change by state (action-mask tests).

``MaskedChain``: positions 0..7 on a line, start at 0, the goal at 7 (+1, terminated); every other step -0.1.
Actions: 0 left, 1 right, 2 two right, 3 stay. Legal: left except at 0, right except where position % 3 == 2,
two right only at odd positions below 6, stay always. An illegal action ends the episode with -10 and is
counted (``illegal``). Masks come in ``info["action_mask"]`` (Gymnasium's int8 convention, ``source="info"``),
or not at all (``source="none"``); ``MaskedChainMethod`` has sb3-contrib's ``action_masks()`` method instead.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

LENGTH, N_ACTIONS = 8, 4
MOVES = (-1, 1, 2, 0)


def legal(position: int) -> np.ndarray:
    """The (4,) bool legal actions at ``position``."""
    return np.array([position > 0, position % 3 != 2, position % 2 == 1 and position < 6, True])


def optimal_return() -> float:
    """The best return from 0 (breadth-first over the legal moves): 1 at the goal, -0.1 per earlier step."""
    frontier, seen, steps = {0}, {0}, 0
    while LENGTH - 1 not in frontier:
        steps += 1
        frontier = {p + MOVES[a] for p in frontier for a in np.flatnonzero(legal(p))} - seen
        seen |= frontier
    return round(1.0 - 0.1 * (steps - 1), 10)


class MaskedChain(gym.Env):
    """See the module docstring; ``illegal`` counts the illegal actions taken (over all instances: ``total``)."""

    total_illegal = 0

    def __init__(self, source: str = "info", max_steps: int = 30):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (LENGTH,), np.float32)
        self.action_space = gym.spaces.Discrete(N_ACTIONS)
        self.source, self.max_steps = source, max_steps
        self.position, self.t, self.illegal = 0, 0, 0

    def _obs(self):
        x = np.zeros(LENGTH, np.float32)
        x[self.position] = 1.0
        return x

    def _info(self):
        return {"action_mask": legal(self.position).astype(np.int8)} if self.source == "info" else {}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.t = 0, 0
        return self._obs(), self._info()

    def step(self, action):
        self.t += 1
        if not legal(self.position)[int(action)]:
            self.illegal += 1
            MaskedChain.total_illegal += 1
            return self._obs(), -10.0, True, False, self._info()
        self.position = min(self.position + MOVES[int(action)], LENGTH - 1)
        done = self.position == LENGTH - 1
        return self._obs(), 1.0 if done else -0.1, done, self.t >= self.max_steps and not done, self._info()


class MaskedChainMethod(MaskedChain):
    """``MaskedChain`` with its masks from sb3-contrib's ``action_masks()`` method, none in ``info``."""

    def __init__(self, max_steps: int = 30):
        super().__init__("none", max_steps)

    def action_masks(self):
        """The legal actions of the current state, (4,) bool."""
        return legal(self.position)
