"""``--search optuna``: Optuna's TPE over the spec's space, its study kept in ``<sweep>/optuna.journal``.

The space is the spec's: each ``[random]`` distribution becomes Optuna's (log-)float or int
distribution, each ``[grid]`` field and the ``[variants]`` names a categorical one; ``trials``
configurations are asked for, ``jobs`` at a time, and each is told the IQM of its seeds' metric (a
configuration whose every seed failed with an error is told FAIL). The journal file is Optuna's storage
for several processes (SQLite breaks under concurrent writers), so a resumed sweep continues the same
study: a configuration asked for but not told when the sweep stopped is run again and told.
"""
from __future__ import annotations

import json
import math

from ..config import FIELDS
from ..errors import require
from .spec import METRICS, format_value
from .stats import iqm
from .trial import make_task

JOURNAL = "optuna.journal"
VARIANT = "variant"


def optuna_space(spec, optuna) -> dict:
    """``{name: optuna distribution}`` for the spec's variants, grid and random space."""
    d = optuna.distributions
    space = {}
    if spec.variants:
        space[VARIANT] = d.CategoricalDistribution(list(spec.variants))
    for name, values in spec.grid.items():
        space[name] = d.CategoricalDistribution([_categorical(v) for v in values])
    for name, dist in spec.random.items():
        if dist.kind == "choice":
            space[name] = d.CategoricalDistribution([_categorical(v) for v in dist.args])
        elif dist.kind == "randint":
            space[name] = d.IntDistribution(*dist.args)
        else:
            lo, hi = dist.args
            log = dist.kind == "loguniform"
            if type(FIELDS[name].default) is int:
                space[name] = d.IntDistribution(math.ceil(lo), math.floor(hi), log=log)
            else:
                space[name] = d.FloatDistribution(lo, hi, log=log)
    return space


def _categorical(v):
    return json.dumps(list(v)) if isinstance(v, (list, tuple)) else v


def overrides_of(spec, params: dict) -> tuple:
    """``(label, overrides)`` of an Optuna trial's params: the variant's fields, then the drawn values."""
    fields = dict(spec.variants.get(params.get(VARIANT), {}))
    searched = {}
    for name, value in params.items():
        if name == VARIANT:
            continue
        if name == "hidden_sizes" and isinstance(value, str):
            value = tuple(json.loads(value))
        elif isinstance(value, float) and name not in spec.grid:
            value = float(f"{value:.4g}")
        searched[name] = value
    text = ", ".join(([params[VARIANT]] if VARIANT in params else []) + [f"{k}={format_value(v)}" for k, v in searched.items()])
    return text or "base", {**fields, **searched}


def run_optuna(spec, sweep, backend, jobs, address, command, echo):
    """Ask, run and tell ``spec.trials`` configurations (``jobs`` at a time) over all seeds; write the results."""
    from .run import Counter, backend_session, check_space, estimate_line, finish, run_tasks, stop_on_signal
    optuna = require("optuna", "optuna", "--search optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not (spec.random or spec.grid or spec.variants):
        from ..errors import ConfigError
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
