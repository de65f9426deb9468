"""Optimizers that update a parameter vector in place: SGD (momentum, Nesterov) and Adam.

They act on one array (a network's ``flat`` vector and the matching flat gradient), so a step is
a handful of NumPy calls whatever the depth. The update rules are PyTorch's, so results can be
compared one to one. ``state_dict()``/``load_state_dict()`` save and restore the state exactly.
"""
from __future__ import annotations

import math

import numpy as np


def global_norm(grad: np.ndarray) -> float:                            # grad: (P,) -> float
    """||g||_2 over every parameter (the flat gradient makes it one dot product)."""
    return math.sqrt(float(np.dot(grad, grad)))


def clip_grad_norm(grad: np.ndarray, max_norm: float) -> float:               # grad: (P,), in place -> norm before clipping
    """Scale ``grad`` in place so that its global L2 norm is at most ``max_norm``; return the old norm."""
    norm = global_norm(grad)
    if norm > max_norm:
        grad *= max_norm / (norm + 1e-6)
    return norm


class SGD:
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Plain: ``p <- p - lr * g``. Momentum ``mu``: ``v <- mu * v + g``; ``p <- p - lr * v``
    (Nesterov: ``p <- p - lr * (g + mu * v)``), as ``torch.optim.SGD``.
    """

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.lr, self.momentum, self.nesterov = float(lr), float(momentum), bool(nesterov)
        self.t = 0
        self.velocity = None
        self._work = None                         # the step's lr * (...), kept between steps

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:                 # params, grad: (P,); params updated in place
        """Apply one update to ``params`` in place."""
        self.t += 1
        if self._work is None or self._work.shape != grad.shape or self._work.dtype != grad.dtype:
            self._work = np.empty_like(grad)
        w = self._work
        if self.momentum == 0.0:
            params -= np.multiply(grad, self.lr, out=w)          # lr * g
            return
        if self.velocity is None:
            self.velocity = grad.copy()           # torch: the first buffer is g itself
        else:
            self.velocity *= self.momentum
            self.velocity += grad
        if self.nesterov:
            np.multiply(self.velocity, self.momentum, out=w)
            w += grad
            w *= self.lr                          # lr * (g + mu * v)
            params -= w
        else:
            params -= np.multiply(self.velocity, self.lr, out=w)   # lr * v

    def state_dict(self) -> dict:
        """The optimizer's state as plain arrays and numbers."""
        state = {"kind": "sgd", "lr": self.lr, "momentum": self.momentum,
                 "nesterov": self.nesterov, "t": self.t}
        if self.velocity is not None:
            state["velocity"] = self.velocity.copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from ``state_dict()``; the next step continues exactly."""
        _check_kind(state, "sgd")
        self.lr, self.momentum = float(state["lr"]), float(state["momentum"])
        self.nesterov, self.t = bool(state["nesterov"]), int(state["t"])
        self.velocity = np.array(state["velocity"]) if "velocity" in state else None


class Adam:
    """Adam (Kingma & Ba, 2015), as ``torch.optim.Adam`` without weight decay.

    ``m <- b1 m + (1 - b1) g``; ``v <- b2 v + (1 - b2) g**2``;
    ``p <- p - lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1**t)``,
    ``v_hat = v / (1 - b2**t)``.
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {beta}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.lr, self.beta1, self.beta2, self.eps = float(lr), float(beta1), float(beta2), float(eps)
        self.t = 0
        self.m = self.v = None
        self._work = None

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:                 # params, grad: (P,); params updated in place
        """Apply one update to ``params`` in place."""
        if self.m is None:
            self.m, self.v, self._work = np.zeros_like(grad), np.zeros_like(grad), np.empty_like(grad)
        self.t += 1
        b1, b2, w = self.beta1, self.beta2, self._work
        self.m *= b1
        np.multiply(grad, 1.0 - b1, out=w)          # (1 - b1) g, in the work buffer: no array made
        self.m += w
        self.v *= b2
        np.multiply(grad, grad, out=w)
        w *= 1.0 - b2
        self.v += w
        # Fused bias correction, algebraically equal to lr * m_hat / (sqrt(v_hat) + eps):
        # lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps * sqrt(1-b2^t))
        c2 = (1.0 - b2 ** self.t) ** 0.5             # a Python float: keeps float32 arrays float32
        np.sqrt(self.v, out=w)
        w += self.eps * c2
        np.divide(self.m, w, out=w)
        w *= self.lr * c2 / (1.0 - b1 ** self.t)
        params -= w

    def state_dict(self) -> dict:
        """The optimizer's state as plain arrays and numbers."""
        state = {"kind": "adam", "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2,
                 "eps": self.eps, "t": self.t}
        if self.m is not None:
            state["m"], state["v"] = self.m.copy(), self.v.copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from ``state_dict()``; the next step continues exactly."""
        _check_kind(state, "adam")
        self.lr, self.beta1, self.beta2 = float(state["lr"]), float(state["beta1"]), float(state["beta2"])
        self.eps, self.t = float(state["eps"]), int(state["t"])
        if "m" in state:
            self.m, self.v = np.array(state["m"]), np.array(state["v"])
            self._work = np.empty_like(self.m)
        else:
            self.m = self.v = self._work = None


def _check_kind(state, kind):
    if str(state.get("kind")) != kind:
        raise ValueError(f"optimizer state is for {state.get('kind')!r}, not {kind!r}")


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
"""Optimizer classes by name."""
