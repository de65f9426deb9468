"""``--search optuna``: the spec's space as Optuna's, and a trial's params as config overrides.

``run.run_optuna`` runs the study (kept in ``<sweep>/optuna.journal``) with these. The space is the spec's: each ``[random]`` distribution becomes Optuna's (log-)float or int
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
from .spec import format_value

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
