"""The learning rule, over NumPy arrays: TD targets and rules, replay memory, n-step writers, schedules, the agent.

``targets`` (DQN and Double-DQN targets, the ``RULES`` registry), ``replay`` / ``prioritized`` (experience replay;
the ``REPLAYS`` registry in ``registry``, which also says which entry of each registry a config selects),
``nstep`` (the writer of one-step or n-step transitions), ``schedules`` (epsilon, learning rate), ``seeding`` (one
seed, several streams), ``memory`` (what a config will allocate), ``build`` (the agent's parts from a config),
``agent`` (``DDQNAgent``: act, store, learn, sync the target). Imports flow down only: ``rl`` uses ``nn`` (and
the leaf modules ``config``, ``errors``, ``checkpoint``), never ``run``, ``model`` or ``cli``.
"""
from .agent import DDQNAgent
from .build import make_optimizer
from .registry import REPLAYS
from .replay import Batch, ReplayBuffer
from .targets import RULES, double_dqn_targets, dqn_targets

__all__ = ["DDQNAgent", "make_optimizer", "Batch", "REPLAYS", "ReplayBuffer", "RULES", "double_dqn_targets",
           "dqn_targets"]
