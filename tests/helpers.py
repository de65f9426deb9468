"""Helpers shared by the test modules."""
import subprocess
import sys


def cli(*args, cwd=None, timeout=120):
    """Run ``python -m numpy_ddqn ARGS`` as a user would; return the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, "-m", "numpy_ddqn", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


QUICK = dict(total_steps=300, learning_starts=50, batch_size=16, hidden_sizes=(8,), eval_interval=0,
             progress_interval=0.0)
"""The one quick config of the tests (a few hundred steps of a tiny net, no evaluation, silent): modules
take it as it is or change a few fields, ``{**QUICK, "eval_interval": 300}``."""


def quick_flags(**changes):
    """``QUICK`` (with ``changes``) as ``numpy-ddqn train`` flags."""
    flags = []
    for name, value in {**QUICK, **changes}.items():
        flag = {"total_steps": "--steps", "env_id": "--env"}.get(name, "--" + name.replace("_", "-"))
        flags += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return flags
