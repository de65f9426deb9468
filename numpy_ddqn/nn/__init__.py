"""The framework-free network: layers (dense, conv), Q heads, MLP, layer-list Network, losses, optimizers and gradient
checks (NumPy only)."""
from .conv import conv2d_backward, conv2d_forward
from .gradcheck import GradCheck, check_mlp_gradients, numeric_grad, relative_error
from .heads import HEADS
from .layers import ACTIVATIONS
from .losses import LOSSES, huber, mse, td_loss
from .mlp import MLP
from .network import Network
from .optim import OPTIMIZERS, SGD, Adam, clip_grad_norm, global_norm

__all__ = ["ACTIVATIONS", "HEADS", "LOSSES", "MLP", "Network", "OPTIMIZERS", "SGD", "Adam", "GradCheck", "conv2d_backward",
           "conv2d_forward", "check_mlp_gradients", "clip_grad_norm", "global_norm", "huber", "mse",
           "numeric_grad", "relative_error", "td_loss"]
