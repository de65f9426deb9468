"""The README's learning-curve figure, made by the project itself.

Trains the default config on CartPole-v1 for seeds 0..4 over the same budget (30,000 steps, past
solved, so every seed covers the whole axis) into a temporary folder, then draws them with
`numpy-ddqn plot` as mean and band (min..max):
    python bench/make_figure.py            # writes bench/figures/learning_curve.png and diagnostics.png
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import common  # noqa: F401  (puts the checkout on sys.path)

from numpy_ddqn.cli.plot import plot_runs
from numpy_ddqn.config import Config
from numpy_ddqn.run.loop import train

HERE = Path(__file__).resolve().parent


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=30_000, help="training budget per seed (default 30,000)")
    p.add_argument("--stop-when-solved", action="store_true",
                   help="stop each seed once solved (the band then thins out as seeds finish)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for seed in range(a.seeds):
            out = Path(tmp) / f"seed{seed}"
            h = train(Config(seed=seed, total_steps=a.steps, progress_interval=0.0,
                             stop_when_solved=a.stop_when_solved), out_dir=out)
            print(f"seed {seed}: solved at step {h.solved_at}" if h.solved else f"seed {seed}: not solved")
            runs.append(out)
        for path in plot_runs(runs, Path(tmp) / "figures"):
            shutil.copy(path, HERE / "figures" / path.name)
            print(HERE / "figures" / path.name)


if __name__ == "__main__":
    main()
