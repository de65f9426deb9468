"""The learning rule, over NumPy arrays: TD targets, replay memory, schedules, the agent.

``targets`` (DQN and Double-DQN targets), ``replay`` (experience replay), ``schedules`` (epsilon and
learning rate), ``seeding`` (one seed, several streams), ``memory`` (what a config will allocate),
``agent`` (``DDQNAgent``: act, observe, update, sync the target). Imports flow down only: ``rl`` uses
``nn``, never ``run`` or ``cli``.
"""
from .agent import DDQNAgent, make_optimizer
from .replay import Batch, ReplayBuffer
from .targets import double_dqn_targets, dqn_targets

__all__ = ["DDQNAgent", "make_optimizer", "Batch", "ReplayBuffer", "double_dqn_targets", "dqn_targets"]
