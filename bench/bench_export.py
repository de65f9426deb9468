"""Exported policies: latency per greedy action and per batch of 1,024, file sizes, and parity on 10^6 observations.

CartPole-v1's default network (4-64-64-2 tanh), trained here until solved (or --checkpoint), and the MinAtar
reference network (conv16x3,relu,flatten,dense128,relu on (10, 10, 4) frames, Breakout-v1's 3 actions) as its
preset initialises it, exported as npz (policy.py), C (compiled with the machine's cc -O2) and ONNX
(onnxruntime, one thread). Latencies are medians of interleaved rounds over the three formats.

    python bench/bench_export.py                       # writes bench/EXPORT.md
    python bench/bench_export.py --check 1000000 --minatar-check 1000000
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np
from common import HERE

from numpy_ddqn import Config, DDQNAgent, train
from numpy_ddqn.export import export_policy, load_source, open_artifact
from numpy_ddqn.export.parity import check_parity, observation_batches
from numpy_ddqn.policy import Policy

FORMATS = ("npz", "c", "onnx")


def latencies(path, fmt, obs, rounds):
    """Median seconds per greedy action, one observation at a time, and per batch of len(obs)."""
    run, _, close = open_artifact(path, fmt)
    single, batch = [], []
    if fmt == "c":
        from numpy_ddqn.export import CPolicy
        c = CPolicy(path)
        for _ in range(rounds):
            single.append(c.seconds_per_action(obs, 50))
            t = time.perf_counter()
            for _ in range(20):
                c.act(obs)                      # one ctypes call looping policy_act over the batch
            batch.append((time.perf_counter() - t) / 20)
        c.close()
    elif fmt == "onnx":
        from numpy_ddqn.export.onnx_model import OnnxPolicy
        o = OnnxPolicy(path, threads=1)
        one = [x[None] for x in obs]
        for _ in range(rounds):
            t = time.perf_counter()
            for x in one:
                o.session.run(["action"], {"obs": x})
            single.append((time.perf_counter() - t) / len(one))
            t = time.perf_counter()
            for _ in range(20):
                o.session.run(["action"], {"obs": obs})
            batch.append((time.perf_counter() - t) / 20)
    else:
        p = Policy.load(path)
        for _ in range(rounds):
            t = time.perf_counter()
            for x in obs:
                p.act(x)
            single.append((time.perf_counter() - t) / len(obs))
            t = time.perf_counter()
            for _ in range(20):
                p.act(obs)
            batch.append((time.perf_counter() - t) / 20)
    close()
    return float(np.median(single)), float(np.median(batch))


def parity(policy, space, replay, path, fmt, n, seed=0):
    """The parity report of the artifact on n observations, and the seconds it took."""
    run, _, close = open_artifact(path, fmt)
    t = time.perf_counter()
    report = check_parity(policy, run, observation_batches(policy, n, np.random.default_rng(seed), space, replay),
                          f"{fmt} file {Path(path).name}")
    close()
    return report, time.perf_counter() - t


def cartpole_checkpoint(out):
    """A solved CartPole-v1 run's last.npz (default config, seed 0), trained once."""
    ckpt = out / "cartpole" / "last.npz"
    if not ckpt.is_file():
        history = train(Config(seed=0, progress_interval=0), out_dir=out / "cartpole")
        print(f"trained CartPole-v1: solved={history.solved} at {history.solved_at}")
    return ckpt


def minatar_policy():
    """The MinAtar reference network as its preset builds it (Breakout-v1: 3 actions), initial weights."""
    config = Config.for_env("MinAtar/Breakout-v1")
    agent = DDQNAgent((10, 10, 4), 3, config, obs_dtype="bool")
    policy = agent.policy()
    policy.obs_dtype = "bool"
    try:
        from numpy_ddqn.run.envs import env_from_config
        space = env_from_config(config).observation_space
    except Exception:
        space = None
    return policy, space


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, help="a CartPole checkpoint (default: train one into bench/out)")
    ap.add_argument("--check", type=int, default=1_000_000, help="parity observations for CartPole")
    ap.add_argument("--minatar-check", type=int, default=100_000, help="parity observations for MinAtar")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", type=Path, default=HERE / "EXPORT.md")
    args = ap.parse_args()
    out = HERE / "out" / "export"
    out.mkdir(parents=True, exist_ok=True)
    ckpt = args.checkpoint or cartpole_checkpoint(out)
    cartpole, space, replay = load_source(ckpt)
    minatar, m_space = minatar_policy()
    nets = {"CartPole-v1 4-64-64-2 tanh": (cartpole, space, replay, args.check),
            "MinAtar conv16x3,relu,flatten,dense128,relu": (minatar, m_space, None, args.minatar_check)}
    paths = {(net, fmt): export_policy(p, out / f"{'cartpole' if 'Cart' in net else 'minatar'}.{fmt}", fmt)
             for net, (p, *_ ) in nets.items() for fmt in FORMATS}

    # latency: CartPole's network, interleaved rounds over the three formats
    obs = next(observation_batches(cartpole, 1024, np.random.default_rng(1), space, replay, chunk=1024))[1]
    lat = {fmt: ([], []) for fmt in FORMATS}
    for _ in range(args.rounds):
        for fmt in FORMATS:
            s, b = latencies(paths[(next(iter(nets)), fmt)], fmt, obs, 1)
            lat[fmt][0].append(s)
            lat[fmt][1].append(b)
    load = os.getloadavg()[0]
    lines = [f"# Exported policies: latency, size, parity",
             "",
             f"`python bench/bench_export.py --check {args.check} --minatar-check {args.minatar_check}` on "
             f"{platform.processor() or platform.machine()} ({_cpu()}), {datetime.date.today()}, "
             f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, load average {load:.2f} "
             f"(a shared 2-core machine: figures are medians of {args.rounds} interleaved rounds).",
             "",
             "## CartPole-v1's default network (4-64-64-2 tanh): time per greedy action",
             "",
             "| format | one observation per call | batch of 1,024 (per batch) | batch of 1,024 (per action) |",
             "|---|---|---|---|"]
    names = {"c": "C, cc -O2 (`policy_act`, timed inside C)", "npz": "policy.py (`Policy.act`, NumPy)",
             "onnx": "ONNX, onnxruntime one thread (`session.run`)"}
    for fmt in ("c", "npz", "onnx"):
        s, b = float(np.median(lat[fmt][0])), float(np.median(lat[fmt][1]))
        lines.append(f"| {names[fmt]} | {s * 1e6:.3g} us | {b * 1e6:,.0f} us | {b / 1024 * 1e6:.3g} us |")
    lines += ["", "The C batch is one ctypes call looping `policy_act` over the 1,024 observations.", "",
              "## File sizes (bytes)", "", "| network | npz | c | onnx |", "|---|---|---|---|"]
    for net in nets:
        lines.append(f"| {net} | " + " | ".join(f"{paths[(net, f)].stat().st_size:,}" for f in FORMATS) + " |")
    lines += ["", "## Parity with the NumPy policy", "",
              "| network | format | observations | max abs dQ | max dQ / rounding bound | differing actions "
              "(near ties) | unexplained | seconds |", "|---|---|---|---|---|---|---|---|"]
    for net, (p, sp, rep, n) in nets.items():
        for fmt in FORMATS:
            report, seconds = parity(p, sp, rep, paths[(net, fmt)], fmt, n)
            print(report)
            src = ", ".join(f"{v:,} {k}" for k, v in report.sources.items())
            lines.append(f"| {net} | {fmt} | {report.n:,} ({src}) | {report.max_dq:.3g} | "
                         f"{report.max_dq_over_bound:.3g} | {report.differing_actions:,} | "
                         f"{report.n_unexplained:,} | {seconds:.0f} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _cpu():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


if __name__ == "__main__":
    main()
