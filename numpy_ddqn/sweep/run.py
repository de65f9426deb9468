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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import FIELDS
from ..errors import ConfigError, require
from ..run.signals import StopOnSignal
from .backends import Stop, run_local, run_ray
from .search import JOURNAL, optuna_space, overrides_of
from .spec import METRICS, SweepSpec, format_value
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
    CI, 90th percentile (the 10th for ``final_eval``: the bad tail either way; NumPy's linear interpolation), worst
    seed, median training time. Unsolved runs count as the budget; errored runs are left out of the figures and
    counted apart."""
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
                         p90=float(np.percentile(values, 10 if higher_better else 90)),
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
    tail = "10th" if METRICS[spec.metric] == "max" else "90th"
    lines = [f"| configuration | runs | solved | median {what} | IQM {what} (95% CI) | {tail} percentile | worst seed "
             f"| median training s |", "|---|---|---|---|---|---|---|---|"]
    for e in table:
        runs = f"{e['runs']}" + (f" ({e['errors']} error{'s' * (e['errors'] > 1)})" if e["errors"] else "")
        if "median" in e:
            m = spec.metric
            unsolved = " (unsolved)" if m == "steps_to_solve" and not e["worst_solved"] else ""
            figures = [_num(e["median"], m), f"{_num(e['iqm'], m)} ({_num(e['ci'][0], m)}-{_num(e['ci'][1], m)})",
                       _num(e["p90"], m), f"seed {e['worst_seed']}: {_num(e['worst'], m)}{unsolved}", f"{e['median_train_s']:.2f}"]
        else:
            figures = ["", "", "", "", ""]
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


NOMINAL_STEPS_PER_S = 2000
"""Env steps per second of one trial, for the start line's rough estimate before any trial has finished (the
default CartPole MLP ran at 2,000-2,600 steps/s on one core of the 2-core machine); afterwards the
finished trials' own rate is used."""


def check_configurations(spec: SweepSpec, configs: list) -> dict:
    """Build every configuration's ``Config`` before any trial runs; ``{config_id: total_steps}``.

    A value the config refuses (``gamma = [0.9, 1.5]`` in ``[grid]``, a variant's field, a drawn value) is
    one ``ConfigError`` naming the configuration, instead of a column of error rows after the sweep ran.
    """
    from ..config import Config
    budgets = {}
    for cid, text, overrides in configs:
        try:
            budgets[cid] = Config.for_env(spec.env_id, **spec.fields(overrides, spec.seeds[0])).total_steps
        except ConfigError as e:
            raise ConfigError(f"sweep {spec.name}: configuration {cid} ({text}) is invalid: {e}; fix the spec "
                              f"(no trial was run)") from None
    return budgets


def check_space(spec: SweepSpec) -> int:
    """``check_configurations`` for a space searched by Optuna: each variant with each grid value and each
    end (or choice) of each random distribution on its own; returns the largest budget (env steps) seen."""
    singles = []
    for name, values in spec.grid.items():
        singles += [{name: v} for v in values]
    for name, dist in spec.random.items():
        singles += [{name: v} for v in dist.args]
    integer = {name for name in spec.random if type(FIELDS[name].default) is int and spec.random[name].kind != "choice"}
    singles = [{k: (round(v) if k in integer else v) for k, v in one.items()} for one in singles] or [{}]
    budget = 0
    for vname, vfields in (list(spec.variants.items()) or [("base", {})]):
        budgets = check_configurations(spec, [(vname, ", ".join(f"{k}={format_value(v)}" for k, v in one.items())
                                               or vname, {**vfields, **one}) for one in singles])
        budget = max(budget, *budgets.values())
    return budget


def estimate_line(budgets: dict, todo: list, rows: list, jobs: int) -> str:
    """One line: how many trials are left and roughly how long they take at most (every trial spending its
    budget, ``budgets[config_id]``, at the finished trials' rate, or ``NOMINAL_STEPS_PER_S`` before any finished)."""
    steps = sum(budgets[t["config"]] for t in todo)
    timed = [(r["steps"], r["train_wall_s"]) for r in rows if r.get("status") == "ok" and r.get("train_wall_s")]
    rate = (sum(n for n, _ in timed) / sum(t for _, t in timed)) if timed else NOMINAL_STEPS_PER_S
    seconds = steps / rate / max(1, jobs)
    took = (f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 60 else
            f"{seconds:.0f} s")
    return (f"{len(todo):,} trial{'s' * (len(todo) != 1)} to run, at most {steps:,} env steps: roughly {took} or less "
            f"at {rate:,.0f} steps/s per job ({'measured' if timed else 'a nominal rate'}); Ctrl-C stops, the same "
            f"command resumes")


def execute(spec, sweep, configs, tasks, backend, jobs, address, command, echo) -> SweepResult:
    """Run the tasks that have no row yet, then write and print the results of ``configs``."""
    budgets = check_configurations(spec, configs)      # before a line is printed or a trial runs
    done = {r["trial"] for r in sweep.rows()}
    todo = [t for t in tasks if t["trial"] not in done]
    echo(f"sweep {spec.name}: {len(configs)} configuration{'s' * (len(configs) != 1)} x {len(spec.seeds)} seeds = "
         f"{len(tasks)} trials on {spec.env_id}; {len(tasks) - len(todo)} finished before, {len(todo)} to run "
         f"({backend}, {jobs} at a time) -> {sweep.path}")
    echo(estimate_line(budgets, todo, sweep.rows(), jobs))
    counter = Counter(spec, sweep, len(tasks), len(tasks) - len(todo), echo)
    with backend_session(backend, jobs, address), stop_on_signal(counter.stop):   # after ray.init: its handlers are replaced
        run_tasks(todo, backend, jobs, counter.record, counter.stop)
    return finish(spec, sweep, configs, tasks, command, echo)


def stop_on_signal(stop: Stop) -> StopOnSignal:
    """The sweep's signal guard: the first SIGINT / SIGTERM sets ``stop`` (the running trials save and stop,
    and rerun on resume); a second one stops at once (``KeyboardInterrupt``)."""
    return StopOnSignal("stopping: the running trials save and stop; they rerun on resume (Ctrl-C again to "
                        "kill them)", on_stop=stop.set, interruptible=True)


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
    budget = check_space(spec)                          # a value the config refuses: before any trial
    trials = spec.trials or 10
    storage = JournalStorage(JournalFileBackend(str(sweep.path / JOURNAL)))
    direction = "minimize" if METRICS[spec.metric] == "min" else "maximize"
    study = optuna.create_study(study_name=spec.name, storage=storage, direction=direction, load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=spec.search_seed))
    space = optuna_space(spec, optuna)
    finished_before = sum(t.state.is_finished() for t in study.trials)
    echo(f"sweep {spec.name}: Optuna TPE, {trials} configurations x {len(spec.seeds)} seeds on {spec.env_id}; "
         f"{finished_before} configurations told before ({backend}, {jobs} at a time) -> {sweep.path}")
    left = [{"config": "any"}] * (max(trials - finished_before, 0) * len(spec.seeds))
    echo(estimate_line({"any": budget}, left, sweep.rows(), jobs))
    counter = Counter(spec, sweep, trials * len(spec.seeds), len(sweep.rows()), echo)
    state = optuna.trial.TrialState
    with backend_session(backend, jobs, address), stop_on_signal(counter.stop):   # after ray.init: its handlers are replaced
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
