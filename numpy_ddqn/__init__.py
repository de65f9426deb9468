"""numpy_ddqn: a Double DQN agent written from scratch in NumPy.

The core (network, backprop, losses, optimizers, replay, targets, agent, training loop) imports
NumPy only; Gymnasium is imported only where an environment is made (``envs`` and the CLI).
"""
from .nn import MLP, SGD, Adam, check_mlp_gradients, td_loss

__version__ = "0.1.0"

__all__ = ["MLP", "SGD", "Adam", "check_mlp_gradients", "td_loss", "__version__"]
