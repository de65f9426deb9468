"""A sweep spec (TOML or JSON) parsed, checked, and expanded into trials, deterministically.

A spec names an env, a base (the env's preset, then a named ``preset``, then a ``config`` file, then the
``[base]`` table), the seeds, and the configurations: explicit ``[variants.NAME]`` tables (fields, and
optionally a named ``preset`` under them), a ``[grid]``
of values per field, and a ``[random]`` space (``loguniform(a, b)``, ``uniform(a, b)``, ``randint(a, b)``,
``choice([...])``) sampled ``trials`` times from ``search_seed``. Every configuration runs once per seed:
one trial is one (configuration, seed). Every mistake is one ``ConfigError`` line naming the spec.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import ALIASES, FIELDS, coerce_fields, read_config_file, read_toml_or_json
from ..errors import ConfigError
from ..presets import NAMED_PRESETS

METRICS = {"steps_to_solve": "min", "final_eval": "max"}
"""What a trial is judged by, and which way is better: steps until solved under the solve protocol
(failures count as the budget), or the mean return of the last greedy evaluation."""

KEYS = ("name", "env", "preset", "config", "seeds", "metric", "steps", "trials", "search_seed", "base", "grid",
        "random", "variants")
"""The top-level keys of a spec."""

NOT_SEARCHED = ("seed", "env_id")
"""Fields the space may not set: seeds come from ``seeds``, the env from ``env``."""


@dataclass(frozen=True)
class Distribution:
    """One dimension of the random space: ``kind`` in loguniform, uniform, randint, choice."""
    kind: str
    args: tuple

    def sample(self, rng: np.random.Generator, integer: bool):
        """One value drawn with ``rng`` (an int field gets a rounded int; floats keep 4 significant digits)."""
        if self.kind == "choice":
            return self.args[int(rng.integers(len(self.args)))]
        if self.kind == "randint":
            return int(rng.integers(self.args[0], self.args[1] + 1))
        lo, hi = self.args
        x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if self.kind == "loguniform" else rng.uniform(lo, hi)
        return round(x) if integer else float(f"{x:.4g}")

    def __str__(self):
        return f"choice({list(self.args)!r})" if self.kind == "choice" else f"{self.kind}({self.args[0]!r}, {self.args[1]!r})"


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep spec; ``configurations()`` and ``trials()`` expand it (see the module docstring)."""
    env_id: str
    seeds: tuple
    base: dict = field(default_factory=dict)          # fields over the env's preset (named preset and file merged in)
    variants: dict = field(default_factory=dict)      # name -> fields
    grid: dict = field(default_factory=dict)          # field -> tuple of values
    random: dict = field(default_factory=dict)        # field -> Distribution
    trials: int = 0                                   # random samples (or Optuna trials)
    search_seed: int = 0
    metric: str = "steps_to_solve"
    name: str = "sweep"

    def fields(self, overrides: dict, seed: int) -> dict:
        """Every field a trial sets over the env's preset: the protocol's, the base, the configuration's, the seed."""
        protocol = {"stop_when_solved": self.metric == "steps_to_solve", "progress_interval": 0.0}
        return {**protocol, **self.base, **overrides, "seed": seed}

    def configurations(self) -> list:
        """``[(config_id, label, overrides), ...]``: variants x grid points x random samples, in a fixed order.

        The ids (``c00``, ``c01``, ...) and the samples depend only on the spec, so a resumed sweep finds
        the same trials; the label is the variant's name and the drawn or grid values.
        """
        variants = list(self.variants.items()) or [(None, {})]
        names = list(self.grid)
        points = [dict(zip(names, values)) for values in _product([self.grid[n] for n in names])]
        rng = np.random.default_rng(self.search_seed)
        samples = [{n: d.sample(rng, type(FIELDS[n].default) is int) for n, d in sorted(self.random.items())}
                   for _ in range(self.trials)] if self.random else [{}]
        out = []
        for vname, vfields in variants:
            for point in points:
                for sample in samples:
                    searched = {**point, **sample}
                    text = ", ".join([vname] * (vname is not None) + [f"{k}={format_value(v)}" for k, v in searched.items()])
                    out.append((text or "base", {**vfields, **searched}))
        width = max(2, len(str(len(out) - 1)))
        return [(f"c{i:0{width}d}", text, o) for i, (text, o) in enumerate(out)]

    def to_dict(self) -> dict:
        """JSON-friendly form, kept as ``spec.json`` in the sweep folder (a resume must find the same)."""
        return {"name": self.name, "env": self.env_id, "seeds": list(self.seeds), "metric": self.metric,
                "base": _jsonable(self.base), "variants": {k: _jsonable(v) for k, v in self.variants.items()},
                "grid": {k: [_jsonable(x) for x in v] for k, v in self.grid.items()},
                "random": {k: str(d) for k, d in self.random.items()}, "trials": self.trials,
                "search_seed": self.search_seed}


def format_value(v):
    """A field's value as a configuration's label shows it: ``64,64`` for widths, ``0.001`` for a float."""
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return list(v) if isinstance(v, tuple) else v


def _product(lists):
    out = [()]
    for values in lists:
        out = [p + (v,) for p in out for v in values]
    return out


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a spec file (``.toml``, else JSON); ``ConfigError`` in one line for any mistake."""
    path = Path(path)
    data = read_toml_or_json(path, "sweep spec")
    return parse_spec(data, source=str(path), folder=path.parent, default_name=path.stem)


def parse_spec(data: dict, source: str = "sweep spec", folder: str | Path = ".", default_name: str = "sweep") -> SweepSpec:
    """Check a spec mapping (as a TOML / JSON file holds it) and return a ``SweepSpec``.

    ``source`` names the spec in messages; a ``config`` file is read relative to ``folder``.
    """
    def bad(msg):
        return ConfigError(f"{source}: {msg}")

    if not isinstance(data, dict):
        raise bad(f"a spec must be a mapping of keys to values, got {type(data).__name__}")
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise bad(f"unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    try:
        return _parse(data, bad, Path(folder), default_name)
    except ConfigError as e:
        msg = str(e)
        raise (e if msg.startswith(source) else bad(msg)) from None


def _table(data, key, bad):
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise bad(f"'{key}' must be a table of field = value, got {value!r}")
    return value


def _fields(table, where, bad):
    """Field names checked (as ``_fields_raw``) and values coerced."""
    out = {}
    for name, value in _fields_raw(table, where, bad, verb="set"):
        out.update(coerce_fields({name: value}))
    return out


def _parse(data, bad, folder, default_name):
    env_id = data.get("env", "CartPole-v1")
    if not isinstance(env_id, str) or not env_id:
        raise bad(f"'env' must be an environment id like \"CartPole-v1\", got {env_id!r}")
    base = {}
    preset = data.get("preset")
    if preset is not None:
        if preset not in NAMED_PRESETS:
            raise bad(f"unknown preset {preset!r} (known: {', '.join(sorted(NAMED_PRESETS))})")
        base.update(NAMED_PRESETS[preset])
    if "config" in data:
        file_fields = read_config_file(folder / str(data["config"]))
        if file_fields.pop("env_id", env_id) != env_id:
            raise bad(f"config file {data['config']} names another env than 'env' ({env_id})")
        base.update(file_fields)
    base.update(_fields(_table(data, "base", bad), "[base]", bad))
    if "steps" in data:
        base.update(coerce_fields({"total_steps": data["steps"]}))

    seeds = data.get("seeds")
    if seeds is None or seeds == [] or seeds == "":
        raise bad("no seeds: add seeds = [0, 1, 2] or seeds = \"0-9\"")
    seeds = tuple(parse_seeds(seeds, bad))

    metric = data.get("metric", "steps_to_solve")
    if metric not in METRICS:
        raise bad(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")

    variants = {}
    for vname, vtable in _table(data, "variants", bad).items():
        if not isinstance(vtable, dict):
            raise bad(f"variant {vname!r} must be a table of field = value, got {vtable!r}")
        vtable = dict(vtable)
        vpreset = vtable.pop("preset", None)
        if vpreset is not None and vpreset not in NAMED_PRESETS:
            raise bad(f"variant {vname!r}: unknown preset {vpreset!r} (known: {', '.join(sorted(NAMED_PRESETS))})")
        variants[str(vname)] = {**NAMED_PRESETS.get(vpreset, {}), **_fields(vtable, f"variant {vname!r}", bad)}
    if "variants" in data and not variants:
        raise bad("[variants] is empty: give at least one [variants.NAME] table, or remove it")

    grid = {}
    for name, values in _fields_raw(_table(data, "grid", bad), "[grid]", bad):
        if not isinstance(values, list):
            raise bad(f"grid field {name!r} must list its values, e.g. {name} = [1, 2], got {values!r}")
        if not values:
            raise bad(f"grid field {name!r} has no values: the space is empty")
        grid[name] = tuple(coerce_fields({name: v})[name] for v in values)
    if "grid" in data and not grid:
        raise bad("[grid] is empty: the space has no dimension; list values per field, or remove it")

    space = {}
    for name, text in _fields_raw(_table(data, "random", bad), "[random]", bad):
        space[name] = parse_distribution(name, text, bad)
    if "random" in data and not space:
        raise bad("[random] is empty: the space has no dimension; give field = \"loguniform(a, b)\", or remove it")

    trials = data.get("trials", 10 if space else 0)
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < (1 if space else 0):
        raise bad(f"'trials' must be an integer >= 1 (random samples), got {trials!r}")
    if trials and not space:
        raise bad("'trials' samples the [random] space, and there is none")
    search_seed = data.get("search_seed", 0)
    if not isinstance(search_seed, int) or isinstance(search_seed, bool) or search_seed < 0:
        raise bad(f"'search_seed' must be an integer >= 0, got {search_seed!r}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise bad(f"'name' must be a non-empty string, got {name!r}")
    return SweepSpec(env_id=env_id, seeds=seeds, base=base, variants=variants, grid=grid, random=space,
                     trials=trials, search_seed=search_seed, metric=metric, name=name)


def _fields_raw(table, where, bad, verb="searched"):
    """``(field, raw value)`` pairs with checked names: aliases resolved, unknown names and ``seed`` / ``env_id``
    refused (values are checked by the caller)."""
    for name, value in table.items():
        name = ALIASES.get(name, name)
        if name in NOT_SEARCHED:
            raise bad(f"'{name}' cannot be {verb} in {where}: seeds come from 'seeds' and the env from 'env'")
        if name not in FIELDS:
            coerce_fields({name: None})               # raises the usual unknown-field message
        yield name, value


MAX_SEEDS = 100_000
"""The most seeds a spec may name (each is a run of every configuration)."""


def parse_seeds(seeds, bad=ConfigError) -> list:
    """``[0, 1, 2]``, ``"0-9"``, ``"0,3,5"`` or ranges and seeds mixed, ``"0-29,100-129"`` -> a list of distinct
    seeds >= 0, in the order given."""
    if isinstance(seeds, str):
        out = []
        for part in seeds.split(","):
            m = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
            if m is None:
                raise bad(f"seeds {seeds!r} must look like \"0-9\", \"0,3,5\" or \"0-29,100-129\" "
                          f"(cannot read {part.strip()!r})")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise bad(f"seeds {seeds!r}: the range {part.strip()!r} is empty (write it low-high)")
            if len(out) + hi - lo + 1 > MAX_SEEDS:
                raise bad(f"seeds {seeds!r} name more than {MAX_SEEDS:,} seeds: one run each is more than a sweep")
            out += range(lo, hi + 1)
    elif isinstance(seeds, list):
        out = seeds
    else:
        raise bad(f"seeds must be a list of integers or a range like \"0-9\", got {seeds!r}")
    if not out or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in out):
        raise bad(f"seeds must be integers >= 0, at least one, got {seeds!r}")
    if len(set(out)) != len(out):
        raise bad(f"seeds {seeds!r} repeat a seed: each would be the same run twice")
    return out


_DIST = re.compile(r"^\s*(\w+)\s*\((.*)\)\s*$", re.S)


def parse_distribution(name: str, text, bad=ConfigError) -> Distribution:
    """``"loguniform(1e-4, 1e-2)"``, ``"uniform(a, b)"``, ``"randint(a, b)"`` (both ends included),
    ``"choice([1, 2, 4])"`` or a plain list (a choice) -> ``Distribution``; values checked for the field."""
    if isinstance(text, list):
        text = f"choice({text!r})"
    m = _DIST.match(text) if isinstance(text, str) else None
    if m is None:
        raise bad(f"random field {name!r} = {text!r} is not a distribution: use \"loguniform(a, b)\", "
                  f"\"uniform(a, b)\", \"randint(a, b)\" or \"choice([...])\"")
    kind, inner = m.group(1), m.group(2)
    try:
        args = ast.literal_eval(f"({inner},)") if inner.strip() else ()
    except (ValueError, SyntaxError):
        raise bad(f"random field {name!r} = {text!r}: cannot read the arguments {inner!r}") from None
    kind_of = type(FIELDS[name].default)
    if kind == "choice":
        if len(args) != 1 or not isinstance(args[0], (list, tuple)):
            raise bad(f"random field {name!r} = {text!r}: choice takes one list, e.g. choice([1, 2, 4])")
        if not args[0]:
            raise bad(f"random field {name!r} = {text!r}: choice([]) is empty: the space is empty")
        values = tuple(coerce_fields({name: v})[name] for v in args[0])
        return Distribution("choice", values)
    if kind not in ("loguniform", "uniform", "randint"):
        raise bad(f"random field {name!r} = {text!r}: unknown distribution {kind!r} (known: loguniform, "
                  f"uniform, randint, choice)")
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a)
                                 for a in args):
        raise bad(f"random field {name!r} = {text!r}: {kind} takes two finite numbers (low, high)")
    lo, hi = args
    if kind_of not in (int, float):
        raise bad(f"random field {name!r} is a {kind_of.__name__} field: only choice([...]) can draw it")
    if kind == "randint" and (kind_of is not int or not all(isinstance(a, int) for a in args)):
        raise bad(f"random field {name!r} = {text!r}: randint needs an int field and int bounds")
    if not lo < hi:
        raise bad(f"random field {name!r} = {text!r}: low must be below high: the range is empty")
    if kind == "loguniform" and lo <= 0:
        raise bad(f"random field {name!r} = {text!r}: loguniform needs low > 0")
    return Distribution(kind, (lo, hi))
