"""Helpers shared by the test modules."""
import subprocess
import sys


def cli(*args, cwd=None, timeout=120):
    """Run ``python -m numpy_ddqn ARGS`` as a user would; return the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, "-m", "numpy_ddqn", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)
