"""Multi-seed studies and hyperparameter sweeps: ``numpy-ddqn sweep SPEC``.

``spec`` (parse and check a TOML / JSON spec, expand it into trials), ``stats`` (IQM and bootstrap
confidence intervals, NumPy only), ``trial`` (one trial: a configuration and a seed, trained into its
own run folder), ``backends`` (a local process pool, or Ray Tune), ``run`` (the sweep folder, resume,
``results.md``), ``search`` (Optuna's TPE over the same space). Ray and Optuna are imported only when
asked for.
"""
from .run import SweepFolder, SweepResult, run_sweep
from .spec import SweepSpec, load_spec, parse_spec
from .stats import bootstrap_ci, iqm

__all__ = ["SweepSpec", "load_spec", "parse_spec", "run_sweep", "SweepFolder", "SweepResult", "iqm", "bootstrap_ci"]
