"""The framework-free network: layers, MLP, losses, optimizers and gradient checks (NumPy only)."""
from .gradcheck import GradCheck, check_mlp_gradients, numeric_grad, relative_error
from .layers import ACTIVATIONS
from .losses import LOSSES, huber, mse, td_loss
from .mlp import MLP
from .optim import OPTIMIZERS, SGD, Adam, clip_grad_norm, global_norm

__all__ = ["ACTIVATIONS", "LOSSES", "MLP", "OPTIMIZERS", "SGD", "Adam", "GradCheck",
           "check_mlp_gradients", "clip_grad_norm", "global_norm", "huber", "mse",
           "numeric_grad", "relative_error", "td_loss"]
