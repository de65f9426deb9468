"""Schedules: small callables of the step count (epsilon, learning rate, ...)."""
from __future__ import annotations

import math


class ConstantSchedule:
    """value(t) = value."""

    def __init__(self, value):
        self.value = float(value)

    def __call__(self, t):
        return self.value


class LinearSchedule:
    """value(t) = start + (end - start) * min(t / duration, 1)  (CleanRL / SB3 shape)."""

    def __init__(self, start, end, duration):
        self.start, self.end, self.duration = float(start), float(end), int(duration)

    def __call__(self, t):
        if self.duration <= 0 or t >= self.duration:
            return self.end
        return self.start + (self.end - self.start) * (t / self.duration)


class ExponentialSchedule:
    """value(t) = end + (start - end) * exp(-decay * t)  (the seed design's EpsilonUpdater)."""

    def __init__(self, start, end, decay):
        self.start, self.end, self.decay = float(start), float(end), float(decay)

    def __call__(self, t):
        return self.end + (self.start - self.end) * math.exp(-self.decay * t)


def epsilon_schedule(config):
    """The exploration schedule a ``Config`` asks for: epsilon = 0 with noisy layers (their noise explores) unless
    ``noisy_epsilon``."""
    if config.noisy and not config.noisy_epsilon:
        return ConstantSchedule(0.0)
    if config.epsilon_schedule == "linear":
        return LinearSchedule(config.epsilon_start, config.epsilon_end, config.exploration_steps)
    return ExponentialSchedule(config.epsilon_start, config.epsilon_end, config.epsilon_decay)


def learning_rate_schedule(config):
    """Constant, or linear decay to ``learning_rate_end`` over ``total_steps`` if that is >= 0."""
    if config.learning_rate_end < 0:
        return ConstantSchedule(config.learning_rate)
    return LinearSchedule(config.learning_rate, config.learning_rate_end, config.total_steps)
