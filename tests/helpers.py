"""Helpers shared by the test modules."""
import subprocess
import sys


def cli(*args, cwd=None, timeout=120):
    """Run ``python -m numpy_ddqn ARGS`` as a user would; return the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, "-m", "numpy_ddqn", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


QUICK = dict(total_steps=300, learning_starts=50, batch_size=16, hidden_sizes=(8,), eval_interval=0,
             progress_interval=0.0, stop_when_solved=False)
"""The one quick config of the tests (a few hundred steps of a tiny net, no evaluation, silent, and the
whole budget spent even where a CPU happens to solve early, so step counts hold on every machine): modules
take it as it is or change a few fields, ``{**QUICK, "eval_interval": 300}``."""


def quick_flags(**changes):
    """``QUICK`` (with ``changes``) as ``numpy-ddqn train`` flags."""
    flags = []
    for name, value in {**QUICK, **changes}.items():
        flag = {"total_steps": "--steps", "env_id": "--env"}.get(name, "--" + name.replace("_", "-"))
        if isinstance(value, bool):
            flags += [flag if value else "--no-" + flag[2:]]
        else:
            flags += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return flags


def without(flags, name):
    """``flags`` without ``name`` and its value (a flag is followed by a value unless the next token is a flag)."""
    out, skip = [], False
    for i, token in enumerate(flags):
        if skip:
            skip = False
            continue
        if token == name:
            skip = i + 1 < len(flags) and not str(flags[i + 1]).startswith("--")
            continue
        out.append(token)
    return out
