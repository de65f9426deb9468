"""A sweep folder and the sweep that fills it: resume, one row per finished trial, ``results.md``.

``<sweep>/spec.json`` (the parsed spec: a resume must find the same), ``<sweep>/trials.jsonl`` (one JSON
row per finished trial, appended and fsync'ed as each ends: finished work is never lost, and a trial
with a row is never run again), ``<sweep>/runs/<config>/seed<N>/`` (each trial's run folder:
``config.json``, ``log.jsonl``, checkpoints), ``<sweep>/results.md`` (the table, rewritten whenever the
sweep stops). A trial without a row (killed, interrupted) reruns from scratch on resume.
"""
from __future__ import annotations

import json
import os
import platform
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, require
from .backends import Stop, run_local, run_ray
from .search import JOURNAL, optuna_space, overrides_of
from .spec import METRICS, SweepSpec
from .stats import bootstrap_ci, iqm
from .trial import make_task

TRIALS, SPEC, RESULTS = "trials.jsonl", "spec.json", "results.md"
BACKENDS = ("local", "ray")
SEARCHES = ("space", "optuna")


class SweepFolder:
    """The files of one sweep folder (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def check_spec(self, spec: SweepSpec, search: str) -> None:
        """Write ``spec.json``, or check that the folder's is this spec's (``ConfigError`` otherwise)."""
        self.path.mkdir(parents=True, exist_ok=True)
        mine = {**spec.to_dict(), "search": search}
        path = self.path / SPEC
        if path.exists():
            theirs = json.loads(path.read_text())
            if theirs != mine:
                keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
                raise ConfigError(f"{self.path} holds another sweep (its spec differs in: {', '.join(keys)}); "
                                  f"choose another --out, or run the spec it was made with")
        else:
            path.write_text(json.dumps(mine, indent=2) + "\n")

    def rows(self) -> list:
        """Rows of ``trials.jsonl``, one per trial (the first if a trial ever had two); a torn last line is skipped."""
        path, rows, seen = self.path / TRIALS, [], set()
        if not path.exists():
            return rows
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and row.get("trial") not in seen:
                seen.add(row.get("trial"))
                rows.append(row)
        return rows

    def append(self, row: dict) -> None:
        """Append one row and fsync it (after a newline if a killed writer left a torn line)."""
        path = self.path / TRIALS
        with open(path, "a+b") as f:
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write((json.dumps(row) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())


@dataclass
class SweepResult:
    """What ``run_sweep`` did: the table's rows, every trial row, whether it was cut short, and where (``results.md``)."""
    table: list
    rows: list
    interrupted: bool
    folder: Path


def summarize(spec: SweepSpec, configs: list, rows: list, reps: int = 50_000) -> list:
    """One dict per configuration (in spec order): runs, solved, errors, median, IQM with its 95% bootstrap
    CI, worst seed, median training time. Unsolved runs count as the budget; errored runs are left out
    of the figures and counted apart."""
    higher_better = METRICS[spec.metric] == "max"
    key = spec.metric
    table = []
    for cid, text, _ in configs:
        mine = sorted((r for r in rows if r.get("config") == cid), key=lambda r: r["seed"])
        ok = [r for r in mine if r.get("status") == "ok" and r.get(key) is not None]
        entry = {"config": cid, "label": text, "runs": len(mine), "errors": sum(r.get("status") == "error" for r in mine),
                 "solved": sum(bool(r.get("solved")) for r in ok), "scored": len(ok)}
        if ok:
            values = np.array([r[key] for r in ok], dtype=float)
            worst = (min if higher_better else max)(ok, key=lambda r: r[key])
            entry.update(median=float(np.median(values)), iqm=float(iqm(values)),
                         ci=bootstrap_ci(values, reps=reps, seed=0), worst_seed=worst["seed"], worst=worst[key],
                         worst_solved=bool(worst.get("solved")),
                         median_train_s=float(np.median([r["train_wall_s"] for r in ok])))
        table.append(entry)
    return table


def _num(v, metric):
    return f"{v:,.0f}" if metric == "steps_to_solve" else f"{v:,.1f}"


def markdown_table(spec: SweepSpec, table: list) -> str:
    """The results table in Markdown, one row per configuration."""
    what = "steps" if spec.metric == "steps_to_solve" else "final eval"
    lines = [f"| configuration | runs | solved | median {what} | IQM {what} (95% CI) | worst seed | median training s |",
             "|---|---|---|---|---|---|---|"]
    for e in table:
        runs = f"{e['runs']}" + (f" ({e['errors']} error{'s' * (e['errors'] > 1)})" if e["errors"] else "")
        if "median" in e:
            m = spec.metric
            unsolved = " (unsolved)" if m == "steps_to_solve" and not e["worst_solved"] else ""
            figures = [_num(e["median"], m), f"{_num(e['iqm'], m)} ({_num(e['ci'][0], m)}-{_num(e['ci'][1], m)})",
                       f"seed {e['worst_seed']}: {_num(e['worst'], m)}{unsolved}", f"{e['median_train_s']:.2f}"]
        else:
            figures = ["", "", "", ""]
        lines.append(f"| {e['config']}: {e['label']} | {runs} | {e['solved']}/{e['scored']} | " + " | ".join(figures) + " |")
    return "\n".join(lines) + "\n"


def results_markdown(spec: SweepSpec, table: list, rows: list, total: int, command: str | None) -> str:
    """``results.md``: what was run, how to run it again, the table, and every error."""
    budget = spec.base.get("total_steps")
    seeds = list(spec.seeds)
    seed_text = f"{seeds[0]}..{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))
    metric = ("steps to solve under the solve protocol (a greedy evaluation every `eval_interval` steps, confirmed "
              "on `confirm_episodes` more; an unsolved run counts as its budget)" if spec.metric == "steps_to_solve"
              else "mean return of the last greedy evaluation")
    budget_text = f"budget {budget:,} steps" if budget else "budget: the preset's"
    done = len(rows)
    lines = [f"# Sweep `{spec.name}`: {spec.env_id}", ""]
    if command:
        lines += [f"Made by `{command}` (run it again to resume: finished trials are kept).", ""]
    lines += [f"{spec.env_id}, seeds {seed_text}; metric: {metric}; {budget_text}. Trials finished: {done} of {total}. IQM = interquartile mean; "
              f"95% CI: percentile bootstrap over seeds, 50,000 resamples, seed 0 (as rliable). "
              f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, NumPy {np.__version__}: steps depend on the "
              f"seed and the CPU; training times also on the machine's load.", ""]
    if spec.base:
        lines += ["Base fields (over the env's preset): " + ", ".join(f"`{k} = {v}`" for k, v in spec.base.items()), ""]
    lines.append(markdown_table(spec, table))
    errors = [r for r in rows if r.get("status") == "error"]
    if errors:
        lines += ["Errors:", ""] + [f"- `{r['trial']}` ({r['label']}): {r['error']}" for r in errors] + [""]
    return "\n".join(lines)


def run_sweep(spec: SweepSpec, folder: str | Path, backend: str = "local", jobs: int = 1,
              address: str | None = None, search: str = "space", command: str | None = None,
              echo=print) -> SweepResult:
    """Run (or resume) ``spec`` into ``folder`` on ``backend``; write ``results.md`` and return the table.

    Trials with a row in ``trials.jsonl`` are skipped; SIGINT / SIGTERM stop the sweep cleanly (the
    running trials are interrupted and will rerun; ``interrupted`` is then True).
    """
    from ..run.runlock import RunLock
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if search not in SEARCHES:
        raise ConfigError(f"unknown search {search!r} (known: {', '.join(SEARCHES)})")
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    if address and backend != "ray":
        raise ConfigError("--ray-address needs --backend ray")
    sweep = SweepFolder(folder)
    sweep.path.mkdir(parents=True, exist_ok=True)
    with RunLock(sweep.path):
        sweep.check_spec(spec, search)
        if search == "optuna":
            return run_optuna(spec, sweep, backend, jobs, address, command, echo)
        configs = spec.configurations()
        tasks = [make_task(spec, cid, text, o, seed, sweep.path) for cid, text, o in configs for seed in spec.seeds]
        return execute(spec, sweep, configs, tasks, backend, jobs, address, command, echo)


def execute(spec, sweep, configs, tasks, backend, jobs, address, command, echo) -> SweepResult:
    """Run the tasks that have no row yet, then write and print the results of ``configs``."""
    done = {r["trial"] for r in sweep.rows()}
    todo = [t for t in tasks if t["trial"] not in done]
    echo(f"sweep {spec.name}: {len(configs)} configuration{'s' * (len(configs) != 1)} x {len(spec.seeds)} seeds = "
         f"{len(tasks)} trials on {spec.env_id}; {len(tasks) - len(todo)} finished before, {len(todo)} to run "
         f"({backend}, {jobs} at a time) -> {sweep.path}")
    counter = Counter(spec, sweep, len(tasks), len(tasks) - len(todo), echo)
    with backend_session(backend, jobs, address), _signals_stop(counter.stop, echo):   # after ray.init: its handlers are replaced
        run_tasks(todo, backend, jobs, counter.record, counter.stop)
    return finish(spec, sweep, configs, tasks, command, echo)


def run_optuna(spec, sweep, backend, jobs, address, command, echo) -> SweepResult:
    """``--search optuna``: ask, run and tell ``spec.trials`` configurations (``jobs`` at a time) over all seeds,
    each told the IQM of its seeds' metric (FAIL if every seed errored); write the results. The study lives in
    ``<sweep>/optuna.journal`` (Optuna's storage for several processes), so a resumed sweep continues it: a
    configuration asked for but not told when the sweep stopped is run again and told."""
    optuna = require("optuna", "optuna", "--search optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not (spec.random or spec.grid or spec.variants):
        raise ConfigError("--search optuna needs a space: [random], [grid] or [variants] in the spec")
    trials = spec.trials or 10
    storage = JournalStorage(JournalFileBackend(str(sweep.path / JOURNAL)))
    direction = "minimize" if METRICS[spec.metric] == "min" else "maximize"
    study = optuna.create_study(study_name=spec.name, storage=storage, direction=direction, load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=spec.search_seed))
    space = optuna_space(spec, optuna)
    finished_before = sum(t.state.is_finished() for t in study.trials)
    echo(f"sweep {spec.name}: Optuna TPE, {trials} configurations x {len(spec.seeds)} seeds on {spec.env_id}; "
         f"{finished_before} configurations told before ({backend}, {jobs} at a time) -> {sweep.path}")
    counter = Counter(spec, sweep, trials * len(spec.seeds), len(sweep.rows()), echo)
    state = optuna.trial.TrialState
    with backend_session(backend, jobs, address), _signals_stop(counter.stop, echo):   # after ray.init: its handlers are replaced
        while not counter.stop.is_set():
            # asked before an interruption and never told: run again (their finished seeds are kept)
            batch = [t.number for t in study.get_trials(deepcopy=False, states=(state.RUNNING,))][:jobs]
            while len(batch) < jobs and len(study.trials) < trials:
                batch.append(study.ask(space).number)
            if not batch:
                break
            frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
            configs = [(f"t{n:03d}", *overrides_of(spec, frozen[n].params)) for n in batch]
            tasks = [make_task(spec, cid, text, o, seed, sweep.path) for cid, text, o in configs for seed in spec.seeds]
            done = {r["trial"] for r in sweep.rows()}
            run_tasks([t for t in tasks if t["trial"] not in done], backend, jobs, counter.record, counter.stop)
            rows = {r["trial"]: r for r in sweep.rows()}
            for n, (cid, _, _) in zip(batch, configs):
                mine = [rows.get(f"{cid}-seed{s}") for s in spec.seeds]
                if any(r is None for r in mine):
                    continue                        # interrupted: told on resume
                scores = [r[spec.metric] for r in mine if r["status"] == "ok" and r.get(spec.metric) is not None]
                if scores:
                    study.tell(n, float(iqm(scores)))
                else:
                    study.tell(n, state=state.FAIL)
    numbers = sorted(t.number for t in study.get_trials(deepcopy=False))
    configs = [(f"t{t.number:03d}", *overrides_of(spec, t.params)) for t in study.get_trials(deepcopy=False)]
    tasks = [make_task(spec, cid, text, o, seed, sweep.path) for cid, text, o in configs for seed in spec.seeds]
    tasks += [{"trial": f"t{n:03d}-pending"} for n in range(len(numbers), trials)]     # never asked yet
    result = finish(spec, sweep, configs, tasks, command, echo)
    told = [t for t in study.get_trials(deepcopy=False, states=(state.COMPLETE,))]
    if told:
        best = study.best_trial
        echo(f"Optuna's best: t{best.number:03d} ({overrides_of(spec, best.params)[0]}), IQM {best.value:,.1f}")
    return result


class Counter:
    """Records finished rows into the sweep folder and echoes ``[k/N] trial: ...`` for each."""

    def __init__(self, spec, sweep, total, done, echo):
        self.spec, self.sweep, self.total, self.done, self.echo = spec, sweep, total, done, echo
        self.stop = Stop()

    def record(self, row):
        """Append ``row`` to ``trials.jsonl`` (fsync'ed) and echo it."""
        self.sweep.append(row)
        self.done += 1
        self.echo(f"[{self.done}/{self.total}] {describe(row, self.spec.metric)}")


def backend_session(backend, jobs, address):
    """A context holding the backend up across several batches of tasks (Ray: one ``ray.init``)."""
    import contextlib
    if backend == "ray":
        from .backends import ray_session
        return ray_session(jobs, address)
    return contextlib.nullcontext()


def run_tasks(tasks, backend, jobs, record, stop) -> None:
    """Run ``tasks`` on ``backend``, calling ``record(row)`` for each finished one."""
    if not tasks or stop.is_set():
        return
    if backend == "local":
        run_local(tasks, jobs, record, stop)
    else:
        run_ray(tasks, jobs, record, stop)


def finish(spec, sweep, configs, tasks, command, echo) -> SweepResult:
    """Write ``results.md`` for ``configs`` from the rows of ``tasks``, print the table, say what is missing."""
    ids = {t["trial"] for t in tasks}
    rows = [r for r in sweep.rows() if r["trial"] in ids]
    interrupted = len(rows) < len(tasks)
    table = summarize(spec, configs, rows)
    text = results_markdown(spec, table, rows, len(tasks), command)
    (sweep.path / RESULTS).write_text(text)
    echo("")
    echo(markdown_table(spec, table))
    if interrupted:
        echo(f"stopped with {len(tasks) - len(rows)} of {len(tasks)} trials not run; run the same command again to resume")
    echo(f"results: {sweep.path / RESULTS}")
    return SweepResult(table, rows, interrupted, sweep.path)


def describe(row: dict, metric: str) -> str:
    """One line about a finished trial."""
    head = f"{row['trial']} ({row['label']})"
    if row["status"] == "error":
        return f"{head}: error: {row['error']}"
    if metric == "final_eval":
        return f"{head}: final evaluation {row['final_eval']} after {row['steps']:,} steps ({row['train_wall_s']:.1f} s)"
    if row["solved"]:
        return f"{head}: solved at step {row['solved_at']:,} ({row['train_wall_s']:.1f} s of training)"
    return f"{head}: not solved in {row['steps']:,} steps ({row['train_wall_s']:.1f} s)"


class _signals_stop:
    """While active (main thread only), the first SIGINT / SIGTERM sets ``stop``; a second SIGINT raises
    ``KeyboardInterrupt`` as usual."""

    def __init__(self, stop, echo):
        self.stop, self.echo, self.old = stop, echo, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.old[sig] = signal.signal(sig, self.handle)
        return self

    def handle(self, signum, frame):
        """Ask the backend to stop; on the second Ctrl-C, stop at once."""
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()
        self.echo("stopping: the running trials save and stop; they rerun on resume (Ctrl-C again to kill them)")

    def __exit__(self, *exc):
        for sig, handler in self.old.items():
            signal.signal(sig, handler)
        return False
