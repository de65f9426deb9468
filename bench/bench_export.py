"""Exported policies: latency per greedy action and per batch of 1,024, file sizes, and parity on 10^6 observations.

CartPole-v1's default network (4-64-64-2 tanh), trained here until solved (or --checkpoint), and the MinAtar
reference network (conv16x3,relu,flatten,dense128,relu on (10, 10, 4) frames, Breakout-v1's 3 actions) as its
preset initialises it, exported as npz (policy.py), C (compiled with the machine's cc -O2) and ONNX
(onnxruntime, one thread). Latencies are medians of interleaved rounds over the three formats.

    python bench/bench_export.py                       # writes bench/EXPORT.md
    python bench/bench_export.py --check 1000000 --minatar-check 1000000
    python bench/bench_export.py --check 0 --minatar-check 0 --rounds 15   # latency again, parity table kept
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


def latencies(path, fmt, obs, windows=20):
    """Seconds per greedy action in ``windows`` short windows each: one observation per call over ``obs``,
    and one batch call on all of ``obs`` (lists; short windows, so the minimum escapes a loaded machine)."""
    single, batch = [], []
    if fmt == "c":
        from numpy_ddqn.export import CPolicy
        c = CPolicy(path)
        one_call, batch_call = (lambda: c.seconds_per_action(obs, 1) * len(obs)), (lambda: c.act(obs))
    elif fmt == "onnx":
        from numpy_ddqn.export.onnx_model import OnnxPolicy
        o = OnnxPolicy(path, threads=1)
        one = [x[None] for x in obs]

        def one_call():
            for x in one:
                o.session.run(["action"], {"obs": x})
        batch_call = (lambda: o.session.run(["action"], {"obs": obs}))
    else:
        p = Policy.load(path)

        def one_call():
            for x in obs:
                p.act(x)
        batch_call = (lambda: p.act(obs))
    for _ in range(windows):
        t = time.perf_counter()
        inside = one_call()                       # C times itself (no Python in the window)
        single.append((inside if fmt == "c" else time.perf_counter() - t) / len(obs))
        t = time.perf_counter()
        batch_call()
        batch.append(time.perf_counter() - t)
    if fmt == "c":
        c.close()
    return single, batch


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
    obs = np.concatenate([b for _, b in observation_batches(cartpole, 1024, np.random.default_rng(1), space, replay)])
    assert obs.shape == (1024, 4)                # 512 from the replay, 512 from the observation space
    lat = {fmt: ([], []) for fmt in FORMATS}
    for _ in range(args.rounds):
        for fmt in FORMATS:
            s, b = latencies(paths[(next(iter(nets)), fmt)], fmt, obs)
            lat[fmt][0].extend(s)
            lat[fmt][1].extend(b)
    load = os.getloadavg()[0]
    lines = [f"# Exported policies: latency, size, parity",
             "",
             f"`python bench/bench_export.py --check {args.check} --minatar-check {args.minatar_check}` on "
             f"{platform.processor() or platform.machine()} ({_cpu()}), {datetime.date.today()}, "
             f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, load average {load:.2f} "
             f"(a shared 2-core machine, loaded by other work: latencies are noisy).",
             "",
             "## CartPole-v1's default network (4-64-64-2 tanh): time per greedy action",
             "",
             f"Median (min) over {args.rounds} interleaved rounds x 20 windows; a window is 1,024 greedy actions, "
             "one observation per call, or one call on the batch of 1,024 (512 replay observations, 512 drawn "
             "from the observation space).", "",
             "| format | one observation per call | batch of 1,024 (per batch) | batch of 1,024 (per action) |",
             "|---|---|---|---|"]
    names = {"c": "C, cc -O2 (`policy_act`, timed inside C)", "npz": "policy.py (`Policy.act`, NumPy)",
             "onnx": "ONNX, onnxruntime one thread (`session.run`)"}
    for fmt in ("c", "npz", "onnx"):
        (s, b), (s0, b0) = (np.median(lat[fmt], axis=1), np.min(lat[fmt], axis=1))
        lines.append(f"| {names[fmt]} | {s * 1e6:.3g} ({s0 * 1e6:.3g}) us | {b * 1e6:,.0f} ({b0 * 1e6:,.0f}) us | "
                     f"{b / 1024 * 1e6:.3g} ({b0 / 1024 * 1e6:.3g}) us |")
    lines += ["", "The C batch is one ctypes call looping `policy_act` over the 1,024 observations.", "",
              "## File sizes (bytes)", "", "| network | npz | c | onnx |", "|---|---|---|---|"]
    for net in nets:
        lines.append(f"| {net} | " + " | ".join(f"{paths[(net, f)].stat().st_size:,}" for f in FORMATS) + " |")
    if not (args.check or args.minatar_check) and args.out.is_file() and "## Parity" in args.out.read_text():
        lines += ["", "## Parity" + args.out.read_text().split("## Parity", 1)[1].rstrip("\n")]   # kept as measured
    else:
        lines += ["", "## Parity with the NumPy policy", "",
                  f"`--check {args.check} --minatar-check {args.minatar_check}`, load average {load:.2f}; the "
                  f"MinAtar network has its initial weights (no trained MinAtar checkpoint here).", "",
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
