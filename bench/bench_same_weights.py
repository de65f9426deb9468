"""same-weights: train each config a few thousand steps and print a hash of its ``last.npz`` parameters.

    PYTHONPATH=/path/to/checkout OPENBLAS_NUM_THREADS=1 python bench/bench_same_weights.py [--only NAME ...]

Run it in two checkouts (before and after a refactor) on the same machine and compare the tables: the same
seed must learn the same weights bit for bit. The hash covers the online and target parameters, the optimizer
state and the step counters of ``last.npz`` (SHA-256 of the raw bytes, first 16 hex digits).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from numpy_ddqn import Config, train
from numpy_ddqn.checkpoint import load_checkpoint
from numpy_ddqn.presets import NAMED_PRESETS

STEPS = 5000
CONFIGS = {
    "default": dict(),
    "tanh-sgd": dict(NAMED_PRESETS["tanh-sgd"]),
    "prioritized": dict(prioritized=True),
    "dueling": dict(dueling=True),
    "one-step": dict(n_step=1),
    "double=False": dict(double=False),
    "num_envs=4": dict(num_envs=4),
    "minatar-breakout-20k": dict(env_id="MinAtar/Breakout-v1", total_steps=20_000),
    "c51": dict(distribution="categorical", v_min=0.0, v_max=100.0),
    "qr-dqn": dict(distribution="quantile"),
    "iqn": dict(distribution="implicit"),
    "munchausen": dict(NAMED_PRESETS["munchausen"]),
    "noisy": dict(noisy=True),
    "rainbow": dict(NAMED_PRESETS["rainbow"], v_min=0.0, v_max=100.0),
    "layer_norm": dict(layer_norm=True),
    "iqn, double=False": dict(distribution="implicit", double=False),
    "layers, noisy, munchausen": dict(layers="dense64,tanh,dense64,tanh", noisy=True, munchausen=True),
}
"""Config name -> overrides of ``Config.for_env`` (CartPole-v1 and ``STEPS`` steps unless they say otherwise)."""


def params_hash(path):
    """SHA-256 (16 hex digits) of the learned state in a checkpoint: weights, optimizer, counters."""
    agent = load_checkpoint(path)["agent"]
    h = hashlib.sha256()
    for key in ("online", "target"):
        h.update(np.ascontiguousarray(agent[key]).tobytes())
    for key, value in sorted(agent["optimizer"].items()):
        h.update(key.encode() + (np.ascontiguousarray(value).tobytes() if isinstance(value, np.ndarray)
                                 else repr(value).encode()))
    h.update(f"{agent['steps']}/{agent['updates']}".encode())
    return h.hexdigest()[:16]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="configs to run (all by default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import numpy_ddqn
    print(f"# numpy_ddqn from {Path(numpy_ddqn.__file__).parent}", flush=True)
    print("| config | steps | hash of last.npz | s |\n|---|---|---|---|", flush=True)
    for name in args.only or CONFIGS:
        overrides = {"total_steps": STEPS, **CONFIGS[name]}
        env_id = overrides.pop("env_id", "CartPole-v1")
        config = Config.for_env(env_id, seed=args.seed, progress_interval=0, stop_when_solved=False, **overrides)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            h = train(config, out_dir=out)
            print(f"| {name} | {h.steps} | {params_hash(Path(out) / 'last.npz')} | "
                  f"{time.perf_counter() - start:.1f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
