"""Command line: ``numpy-ddqn train | evaluate | summary | plot | record | export | sweep`` (also ``python -m numpy_ddqn``).

Every ``Config`` field is a ``train`` flag in kebab-case (``--learning-rate``); values are applied
over the env's preset, then a ``--preset``, then a ``--config`` file, then the flags themselves.
Errors are one line on stderr and a non-zero exit status (``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import datetime
import os
import signal
import sys
from pathlib import Path

from ..config import ALIASES, FIELDS, Config, read_config_file
from ..errors import ConfigError, NumpyDDQNError
from ..presets import NAMED_PRESETS
from ..run.evaluate import HELDOUT_SEED
from ..run.runlog import LAST, LOG_NAME

RENAMED = {field: "--" + alias for alias, field in ALIASES.items()}   # fields with a shorter flag


def flag_name(field):
    """The ``train`` flag of a config field: ``--learning-rate``, ``--env``, ``--steps``."""
    return RENAMED.get(field, "--" + field.replace("_", "-"))


def _sizes(text):
    parts = text.replace(" ", "").split(",")
    try:
        sizes = tuple(int(s) for s in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths like 64,64, got {text!r}") from None
    return sizes


def _folder(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path would write into the current folder; name a folder")
    return Path(text)


def add_config_flags(parser):
    """One flag per Config field, help text and default from the dataclass; absent flags stay unset."""
    group = parser.add_argument_group("configuration (defaults are CartPole-v1's; other envs have presets)")
    for name, f in FIELDS.items():
        flag = flag_name(name)
        default = f.default
        help_text = f"{f.metadata['help']} (default: {','.join(map(str, default)) if name == 'hidden_sizes' else default})"
        kw = dict(dest=name, default=argparse.SUPPRESS, help=help_text)
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif name == "hidden_sizes":
            group.add_argument(flag, type=_sizes, metavar="W1,W2", **kw)
        elif "choices" in f.metadata:
            group.add_argument(flag, choices=f.metadata["choices"], **kw)
        else:
            group.add_argument(flag, type=type(default), metavar=type(default).__name__.upper(), **kw)


def build_parser():
    """The argument parser of ``numpy-ddqn``."""
    p = argparse.ArgumentParser(prog="numpy-ddqn", description="Double DQN from scratch in NumPy.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    from .. import __version__
    p.add_argument("--version", action="version", version=f"numpy-ddqn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train an agent (stops when the env is solved or the budget is spent)",
                       description="Train a Double-DQN agent on a Gymnasium env with a Box observation space "
                                   "(vectors, or (H, W, C) images with --layers) and a Discrete action space.")
    t.add_argument("--out", type=_folder, help="run folder (default: runs/ENV-seedSEED-TIME in the current directory)")
    t.add_argument("--config", dest="config_file", type=Path, help="JSON or TOML file of config fields")
    t.add_argument("--preset", choices=sorted(NAMED_PRESETS), help="named configuration, e.g. tanh-sgd")
    t.add_argument("--resume", type=Path, metavar="CHECKPOINT",
                   help="continue a run from its checkpoint, on its env and with its config; only --steps, "
                        "--keep-training/--stop-when-solved, --progress-interval, --threads and --tensorboard "
                        "may change")
    t.add_argument("--keep-training", action="store_true", help="keep training after solved (same as --no-stop-when-solved)")
    add_config_flags(t)

    e = sub.add_parser("evaluate", help="greedy returns of a saved agent",
                       description="Run a checkpoint's greedy policy for N episodes and print mean and std.")
    e.add_argument("checkpoint", type=Path, help="a checkpoint (RUN/last.npz, RUN/best.npz) or a run folder "
                                                 "(its last.npz)")
    e.add_argument("--episodes", type=int, default=10, help="number of episodes (default: 10)")
    e.add_argument("--seed", type=int, default=HELDOUT_SEED,
                   help=f"episode k is reset with seed+k (default: {HELDOUT_SEED}, start states that training's "
                        f"evaluations never used, so best.npz is not judged on the episodes that chose it)")
    e.add_argument("--env", dest="env_id", help="environment id (default: the one it was trained on)")
    e.add_argument("--render", action="store_true", help="show the episodes in a window (needs pygame: "
                                                          "pip install 'numpy_ddqn[render]')")

    s = sub.add_parser("summary", help="print the end-of-run summary of a run folder again")
    s.add_argument("run_dir", type=Path)

    pl = sub.add_parser("plot", help="PNG figures of one or more runs (needs the 'plot' extra: matplotlib)")
    pl.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                    help="run folders, or sweep folders (one band per configuration over its seeds)")
    pl.add_argument("--out", type=_folder, help="output folder (default: the first run folder)")
    pl.add_argument("--runs", action="store_true", help="also draw every run as a thin line")

    x = sub.add_parser("export", help="write a checkpoint's greedy policy for embedding: npz (policy.py), C or ONNX",
                       description="Write only what acting needs (the online network's weights and layout) as a "
                                   ".npz that numpy_ddqn/policy.py loads (NumPy only), one dependency-free C99 "
                                   "file, or an ONNX model; report its size, its weights' SHA-256 and its latency "
                                   "per greedy action, and with --check N its parity with the NumPy policy.")
    x.add_argument("checkpoint", type=Path, help="a checkpoint (RUN/last.npz) or an exported policy .npz")
    x.add_argument("out", type=_folder, metavar="OUT", help="the file to write (policy.npz, policy.c, policy.onnx)")
    x.add_argument("--format", choices=("npz", "c", "onnx"),
                   help="npz: policy.py's file (default, unless OUT ends in .c or .onnx); c: one C99 file, no "
                        "library needed; onnx: an ONNX model (needs the 'onnx' extra)")
    x.add_argument("--check", type=int, default=0, metavar="N",
                   help="run the exported file on N observations (half from the checkpoint's replay, half drawn "
                        "from the env's observation space) against the NumPy policy; exit 1 on any difference "
                        "beyond float32 rounding (default: 0, no check; C needs a C compiler, ONNX onnxruntime)")
    x.add_argument("--seed", type=int, default=0, help="seed of the --check observations (default: 0)")

    w = sub.add_parser("sweep", help="a multi-seed study or hyperparameter sweep from a TOML / JSON spec",
                       description="Run every (configuration, seed) of a sweep spec, each into its own run folder "
                                   "under the sweep folder, and write results.md (runs solved, median and IQM of "
                                   "the metric with a 95% bootstrap CI, 90th percentile, worst seed, median "
                                   "training time). "
                                   "Running the same command again resumes: finished trials are skipped.")
    w.add_argument("spec", type=Path, metavar="SPEC", help="the sweep spec (.toml or .json)")
    w.add_argument("--out", type=_folder, help="sweep folder (default: sweeps/SPEC-NAME in the current directory)")
    w.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: Ray Tune (needs the 'ray' extra)")
    w.add_argument("--jobs", type=int, default=1, help="trials at a time (default: 1); each uses one CPU and one BLAS thread")
    w.add_argument("--ray-address", metavar="ADDRESS",
                   help="join this Ray cluster (e.g. auto, or ray://HEAD:10001) instead of starting a local Ray")
    w.add_argument("--search", choices=("space", "optuna"), default="space",
                   help="space: the spec's variants x grid x random samples (default); optuna: Optuna's TPE "
                        "over the same space for 'trials' configurations (needs the 'optuna' extra)")

    r = sub.add_parser("record", help="video or GIF of a checkpoint's greedy agent (needs the 'record' extra)")
    r.add_argument("checkpoint", type=Path)
    r.add_argument("--out", type=_folder, help="output file, .mp4 or .gif (default: next to the checkpoint)")
    r.add_argument("--episodes", type=int, default=1, help="episodes to record (default: 1)")
    r.add_argument("--seed", type=int, default=HELDOUT_SEED, help=f"episode k is reset with seed+k (default: {HELDOUT_SEED})")
    r.add_argument("--max-steps", type=int, default=500, help="frames per episode at most (default: 500)")
    r.add_argument("--fps", type=int, default=50, help="frames per second (default: 50)")
    return p


def resolve_config(args):
    """The run's config: the env's preset, then --preset, then the --config file, then flags.

    The env is the one the flags name, else the one the file names, else CartPole-v1; its preset
    comes first whichever of them named it. Everything is validated once, at the end.
    """
    flags = {name: getattr(args, name) for name in FIELDS if hasattr(args, name)}
    if args.keep_training:
        flags["stop_when_solved"] = False
    from_file = read_config_file(args.config_file) if args.config_file else {}
    env_id = flags.pop("env_id", None) or from_file.pop("env_id", None) or Config.env_id
    named = NAMED_PRESETS[args.preset] if args.preset else {}
    return Config.for_env(env_id, **{**named, **from_file, **flags})


def resume_config(args):
    """A resumed run's config: the checkpoint's, with the few fields a flag may change."""
    from ..rl.agent import DDQNAgent
    from ..run.loop import RESUME_FIELDS
    fixed = [f for f in FIELDS if hasattr(args, f) and f not in RESUME_FIELDS]
    if fixed or args.config_file or args.preset:
        given = ", ".join(flag_name(f) for f in fixed) or "--config/--preset"
        allowed = ", ".join(flag_name(f) for f in RESUME_FIELDS)
        raise ConfigError(f"a resumed run keeps its checkpoint's config and env; with --resume only {allowed} "
                          f"and --keep-training apply (got {given})")
    changes = {f: getattr(args, f) for f in RESUME_FIELDS if hasattr(args, f)}
    if args.keep_training:
        changes["stop_when_solved"] = False
    state = DDQNAgent.read_checkpoint(args.resume)
    config = DDQNAgent.config_from_state(state, args.resume).replace(**changes)
    steps = int(state["agent"]["steps"])
    if config.total_steps <= steps:
        raise ConfigError(f"{args.resume} is already at step {steps:,}, and the budget is {config.total_steps:,}: "
                          f"nothing to train; give a larger --steps")
    return config


def checkpoint_path(path):
    """The checkpoint a command was given: a run folder means its ``last.npz``; a file that is not a
    ``.npz`` (a run's ``config.json``, ``log.jsonl``) is refused in one line naming what to give."""
    if path.is_dir():
        if not (path / LAST).is_file():
            raise ConfigError(f"{path} is a folder without {LAST}: give a run folder or a checkpoint file")
        return path / LAST
    if path.suffix != ".npz" and path.is_file():
        raise ConfigError(f"{path} is not a checkpoint: give a run's {LAST} or best.npz (or its folder)")
    return path


def cmd_train(args):
    """Train as the flags say; print the summary; exit status 128 + signal if interrupted."""
    from ..run.envs import folder_name
    from ..run.loop import train
    from ..run.report import format_summary, summary_fields
    if args.resume is not None:
        config = resume_config(args)
        out = args.out or args.resume.parent
    else:
        config = resolve_config(args)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = args.out or Path("runs") / f"{folder_name(config.env_id)}-seed{config.seed}-{stamp}"
        if (out / LOG_NAME).exists():
            raise ConfigError(f"{out} already holds a run; choose another --out, or continue it with "
                              f"--resume {out / LAST}")
    history = train(config, out_dir=out, resume=args.resume)
    print(format_summary(summary_fields(history), config.env_id))
    return 128 + history.signal if history.signal is not None else 0


def cmd_evaluate(args):
    """Greedy returns of a checkpoint on its own env (or --env); prints mean, std and the seeds used."""
    from ..rl.agent import DDQNAgent
    from ..run.envs import check_display, check_spaces, env_from_config, rendering
    from ..run.action_masks import mask_reader
    from ..run.evaluate import evaluate
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    folder, args.checkpoint = args.checkpoint.is_dir(), checkpoint_path(args.checkpoint)
    state = DDQNAgent.read_checkpoint(args.checkpoint)
    config = DDQNAgent.config_from_state(state, args.checkpoint)
    if args.env_id:
        config = config.replace(env_id=args.env_id, env_kwargs="{}")
    env_id = config.env_id
    if args.render:
        check_display()
    with rendering("render"):
        env = env_from_config(config, render_mode="human" if args.render else None)
        agent = DDQNAgent.from_state(state, *check_spaces(env), source=args.checkpoint)
        mask_of = mask_reader(env_id, agent.n_actions) if config.action_masks else None   # legal actions only
        returns = evaluate(agent.greedy_action, env, args.episodes, args.seed, config.eval_max_steps, mask_of)
    env.close()
    if folder:
        print(f"{args.checkpoint}:")
    print(f"{env_id}: mean {returns.mean():.2f} std {returns.std():.2f} over {args.episodes} episodes "
          f"(min {returns.min():.1f}, max {returns.max():.1f}; reset seeds {args.seed}..{args.seed + args.episodes - 1})")
    return 0


def cmd_summary(args):
    """Print a finished run's summary again."""
    from ..run.report import format_summary, read_summary
    fields, env_id = read_summary(args.run_dir)
    print(format_summary(fields, env_id))
    return 0


def cmd_plot(args):
    """Write PNG figures of runs; print their paths."""
    from .plot import plot_runs
    for path in plot_runs(args.run_dirs, args.out, each_run=args.runs):
        print(path)
    return 0


def cmd_export(args):
    """Export a checkpoint's greedy policy (npz, C or ONNX); print size, hash, latency and parity."""
    from ..export import ParityError, export
    args.out.parent.mkdir(parents=True, exist_ok=True)        # like train --out: the folder is made
    try:
        result = export(checkpoint_path(args.checkpoint), args.out, args.format, check=args.check, seed=args.seed)
    except ParityError as e:
        print(e.result)
        raise
    print(result)
    if result.format == "npz":
        print(f"load it with numpy_ddqn/policy.py: Policy.load({str(result.path)!r}).act(obs)")
    return 0


def cmd_record(args):
    """Write a video or GIF of a checkpoint's greedy agent; print its path."""
    from .record import record_video
    print(record_video(checkpoint_path(args.checkpoint), args.out, args.episodes, args.seed, args.max_steps, args.fps))
    return 0


def cmd_sweep(args):
    """Run or resume a sweep; exit status 130 if it was stopped before every trial finished."""
    import shlex

    from ..sweep import load_spec, run_sweep
    spec = load_spec(args.spec)
    out = args.out or Path("sweeps") / spec.name
    command = "numpy-ddqn " + " ".join(shlex.quote(a) for a in (args.argv or []))
    result = run_sweep(spec, out, backend=args.backend, jobs=args.jobs, address=args.ray_address,
                       search=args.search, command=command)
    return 128 + signal.SIGINT if result.interrupted else 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "summary": cmd_summary, "plot": cmd_plot,
            "record": cmd_record, "export": cmd_export,
            "sweep": cmd_sweep}


def main(argv=None):
    """Entry point of the ``numpy-ddqn`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())      # as python -m does: 'my_envs:Env-v0' imports my_envs.py from here
    try:
        return COMMANDS[args.command](args)
    except (NumpyDDQNError, ConfigError, FloatingPointError, OSError) as e:
        if args.debug:
            raise
        print(f"numpy-ddqn: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("numpy-ddqn: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
