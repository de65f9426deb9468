"""One seed, several independent random streams (numpy.random.SeedSequence.spawn)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Rngs(NamedTuple):
    """The run's random streams: network init, exploration (epsilon-greedy), replay sampling, noisy layers' noise."""
    init: np.random.Generator
    explore: np.random.Generator
    replay: np.random.Generator
    noise: np.random.Generator


def make_rngs(seed):
    """Derive the independent Generators of a run from one integer seed.

    Children are spawned in order, so the first three are those of ``spawn(3)`` (runs without noisy layers draw
    exactly what they drew before the noise stream was added)."""
    return Rngs(*(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)))


def rng_state(rng):
    """A Generator's full state as a JSON-serialisable dict (for checkpoints)."""
    return rng.bit_generator.state


def set_rng_state(rng, state):
    """Restore a state from ``rng_state`` into ``rng`` (same bit generator type)."""
    rng.bit_generator.state = state
