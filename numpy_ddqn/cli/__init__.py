"""The command line, ``numpy-ddqn`` (also ``python -m numpy_ddqn``): ``main`` parses and dispatches.

``main`` (the parser and the ``train``, ``evaluate``, ``summary``, ``export`` commands), ``plot``
(figures, matplotlib), ``record`` (videos, imageio). Commands use ``run`` and ``rl``; nothing imports them.
"""
from .main import main

__all__ = ["main"]
