"""numpy_ddqn: a Double DQN agent written from scratch in NumPy.

The core (network, backprop, losses, optimizers, replay, targets, agent, training loop) imports
NumPy only; Gymnasium is imported only where an environment is made (``run.envs``, lazily).
``DDQN`` is the model API (Stable-Baselines3's shape); ``DDQNAgent`` and ``train`` lie beneath it.
"""
from .config import Config
from .errors import (
                     CheckpointError,
                     ConfigError,
                     DivergenceError,
                     EnvError,
                     MissingDependency,
                     NumpyDDQNError,
                     TrainingError,
)
from .model import DDQN
from .run.evaluate import evaluate_policy
from .nn import MLP, SGD, Adam, check_mlp_gradients, td_loss
from .policy import Policy
from .rl.agent import DDQNAgent
from .rl.replay import ReplayBuffer
from .run.loop import History, StepInfo, train

__version__ = "0.2.0.dev0"

__all__ = ["DDQN", "evaluate_policy", "DDQNAgent", "Config", "train", "History", "StepInfo", "Policy", "ReplayBuffer", "MLP", "SGD",
           "Adam", "check_mlp_gradients", "td_loss", "NumpyDDQNError", "ConfigError", "EnvError", "CheckpointError",
           "DivergenceError", "TrainingError", "MissingDependency", "__version__"]
