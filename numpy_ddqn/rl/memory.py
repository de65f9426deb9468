"""The memory a config needs, computed before anything is allocated, and the machine's available memory.

A run holds its replay memory (``capacity x bytes per transition``), the online and target networks,
the flat gradient and the optimizer's state (Adam: three more copies of the parameters, its moments and a
work buffer; SGD: a work buffer, and its velocity with momentum). ``plan_memory`` adds them up from the config alone; ``check_memory`` refuses, in one line with
the figures, a config the machine cannot hold.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError
from ..nn.heads import get_head
from ..nn.network import count_params
from .registry import REPLAYS, head_name, head_params, implicit_params, replay_name
from .replay import stored_obs_shape


class MemoryPlan(NamedTuple):
    """Bytes a run will hold: the replay memory and the networks with their gradient and optimizer state."""
    replay_bytes: int
    bytes_per_transition: int
    capacity: int
    network_bytes: int
    n_params: int

    @property
    def total_bytes(self):
        """Replay and networks together."""
        return self.replay_bytes + self.network_bytes

    def describe(self):
        """``"2.5 MB (replay 2.4 MB: 50,000 transitions x 48 bytes; networks 0.1 MB)"``."""
        return (f"{human(self.total_bytes)} (replay {human(self.replay_bytes)}: {self.capacity:,} transitions x "
                f"{self.bytes_per_transition} bytes; networks {human(self.network_bytes)}: {self.n_params:,} "
                f"parameters)")


def human(n):
    """Bytes as kB / MB / GB / TB (powers of 1000), one decimal."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def replay_bytes_per_transition(obs_dim, dtype, n_step=1, obs_dtype=None):
    """s and s' (obs_dim values each, in ``dtype``, or one byte / one bit per value with ``obs_dtype``
    "uint8" / "bool"), the action (int64), the reward and the terminal flag, and with n-step returns the
    discount."""
    itemsize = np.dtype(dtype).itemsize
    obs_bytes = int(np.prod(stored_obs_shape(obs_dim, obs_dtype))) * (itemsize if obs_dtype is None else 1)
    return 2 * obs_bytes + 8 + (2 + (n_step > 1)) * itemsize


def network_params(config, obs_dim, n_actions):
    """Parameters of the Q-network a config builds: ``layers`` if set, else the MLP of ``hidden_sizes``."""
    n_out = get_head(head_name(config), **head_params(config)).n_outputs(n_actions)   # the last linear layer's width
    # (a distributional head: A * N, or (1 + A) * N with dueling)
    if config.layers:
        return count_params(config.layers, tuple(np.atleast_1d(obs_dim)), n_out, config.noisy)
    sizes = (int(np.prod(obs_dim)), *config.hidden_sizes, n_out)
    linear = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    norms = 2 * sum(config.hidden_sizes) if config.layer_norm else 0     # a gain and a bias per hidden unit
    embedding = (config.n_cos + 1) * config.hidden_sizes[-1] if implicit_params(config) else 0   # IQN's phi: W, b
    return linear * (2 if config.noisy else 1) + norms + embedding      # noisy: a sigma beside every mu


def plan_memory(config, obs_dim, n_actions, obs_dtype=None):
    """The ``MemoryPlan`` of a run of ``config`` on an env with these spaces (nothing is allocated)."""
    itemsize = np.dtype(config.dtype).itemsize
    n_params = network_params(config, obs_dim, n_actions)
    # Adam: m, v and a work buffer; SGD: a work buffer, and the velocity with momentum
    optimizer_copies = 3 if config.optimizer == "adam" else (2 if config.momentum > 0 else 1)
    per_transition = replay_bytes_per_transition(obs_dim, config.dtype, config.n_step, obs_dtype)
    if config.action_masks:                       # the legal actions at s and s', one bit per action each
        per_transition += 2 * -(-int(n_actions) // 8)
    replay = config.buffer_size * per_transition + REPLAYS[replay_name(config)].extra_bytes(config.buffer_size)
    return MemoryPlan(replay_bytes=replay, bytes_per_transition=per_transition,
                      capacity=config.buffer_size, network_bytes=n_params * itemsize * (3 + optimizer_copies),
                      n_params=n_params)                # online, target, gradient, optimizer state


def available_memory():
    """Bytes the machine can still give (Linux: MemAvailable), or ``None`` where it cannot be told."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(plan, available=None):
    """Raise ``ConfigError`` with the figures if ``plan`` needs more than the available memory."""
    available = available_memory() if available is None else available
    if available is not None and plan.total_bytes > available:
        raise ConfigError(f"this config needs {plan.describe()}, but only {human(available)} is available; "
                          f"lower buffer_size or hidden_sizes (or layers)")
