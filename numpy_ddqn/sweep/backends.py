"""Where trials run: ``local`` (a process pool, one BLAS thread per process) or ``ray`` (``ray.tune``).

Both take the tasks still to run, call ``record(row)`` in this process as each trial ends (so a finished
trial is on disk before the next one ends), and stop early once ``stop.is_set()``: a running trial is
interrupted (it saves and returns ``status: interrupted``, which is not recorded) and reruns on resume.
Both run ``trial.run_trial``, so a trial's row does not depend on the backend.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading

from ..errors import NumpyDDQNError, require
from .trial import run_trial

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Set to 1 for worker processes: read by the BLAS libraries when NumPy is imported, before
``threadpoolctl`` can act (the config's ``threads = 1`` holds it there during training too)."""


class Stop:
    """A flag the sweep's signal handler sets; backends poll it between trials."""

    def __init__(self):
        self._event = threading.Event()

    def set(self):
        """Ask the backend to stop: start no trial, interrupt the running ones."""
        self._event.set()

    def is_set(self) -> bool:
        """True once a stop was asked for."""
        return self._event.is_set()


@contextlib.contextmanager
def environment(values: dict):
    """While active, ``os.environ`` holds ``values`` (what was there before is restored after)."""
    saved = {v: os.environ.get(v) for v in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for v, value in saved.items():
            if value is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = value


def one_blas_thread():
    """While active, processes started from here get one BLAS thread (the variables are restored after)."""
    return environment({v: "1" for v in BLAS_VARS})


def _worker_init():
    # an idle worker ignores Ctrl-C (the sweep decides); a training one stops and saves (train's own guard)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_local(tasks: list, jobs: int, record, stop: Stop) -> None:
    """Run ``tasks`` on ``jobs`` spawned processes, at most ``jobs`` at a time, recording each row as it ends."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool
    pending, running, forwarded = list(tasks), {}, False
    with one_blas_thread(), ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"),
                                                initializer=_worker_init) as pool:
        while pending or running:
            while pending and len(running) < jobs and not stop.is_set():
                task = pending.pop(0)
                running[pool.submit(run_trial, task)] = task
            if not running:
                break
            done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                try:
                    row = future.result()
                except BrokenProcessPool:
                    raise NumpyDDQNError(f"a worker process died while running {task['trial']} (killed, or out of "
                                         f"memory); the finished trials are saved: run the same command again "
                                         f"to resume") from None
                if row["status"] != "interrupted":
                    record(row)
            if stop.is_set() and not forwarded:     # interrupt the running trials (they save and return)
                forwarded = True
                for pid in list(getattr(pool, "_processes", None) or {}):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGINT)


def _tune_trial(config):
    """The Ray Tune trainable: one trial, its row reported as JSON."""
    from ray import tune
    tune.report({"row": json.dumps(run_trial(config["task"]))})


_LOCAL_RAY_ENV = {"RAY_prestart_worker_first_driver": "0"}
"""Read by the local Ray that ``ray_session`` starts (its raylet reads ``RAY_<setting>`` from the environment).
By default the raylet starts one idle worker per CPU for the first driver and ``ray.init`` waits until they
have registered; but Tune's trial actors carry a ``runtime_env`` (Tune always sets an ``env_vars`` entry),
so they never use those workers: Ray starts their own and kills the idle ones. Skipping them took
0.8 s off ``ray.init`` on the 2-core machine and spares the CPU they spend importing Ray while Tune's
workers start. Not set when joining a cluster (its raylets are already running)."""


@contextlib.contextmanager
def ray_session(jobs: int, address: str | None = None):
    """Ray for the sweep's life: join ``address`` (``"auto"``, ``"ray://head:10001"``), or start a local Ray
    with ``jobs`` CPUs (stopped after). A Ray already initialised in this process is used as it is."""
    what = "--backend ray"
    ray = require("ray", "ray", what)
    if ray.is_initialized():
        require("ray.tune", "ray", what)
        yield ray
        return
    # Tune's import (1.2 s of the 2-core machine's CPU: pandas, Ray Data) runs while ray.init waits for the
    # processes it starts; the two import different modules (Tune's failure, if any, is raised below)
    tune = threading.Thread(target=_import_quietly, args=("ray.tune",), name="import ray.tune", daemon=True)
    tune.start()
    env = {v: "1" for v in BLAS_VARS}
    if not address:
        env.update({k: os.environ.get(k, v) for k, v in _LOCAL_RAY_ENV.items()})   # the user's setting wins
    try:
        with environment(env):
            ray.init(address=address, num_cpus=None if address else jobs, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
    finally:
        tune.join()
    try:
        require("ray.tune", "ray", what)
        yield ray
    finally:
        if not address:
            _stop_local_monitor()
        ray.shutdown()


def _stop_local_monitor() -> None:
    """Stop the autoscaler monitor of the local Ray this process started, before ``ray.shutdown``.

    ``ray.shutdown`` stops the GCS before the monitor, whose SIGTERM handler then reports to the GCS it
    cannot reach; Ray kills it after a 1 s grace: 1 s of every sweep's shutdown (1.4 s -> 0.45 s on the
    2-core machine). A fixed-size local Ray has nothing to autoscale. Uses the node object of Ray's own
    tests (``Node.kill_monitor``); if a Ray version lacks it, ``ray.shutdown`` does it as before."""
    with contextlib.suppress(Exception):
        from ray._private import worker
        node = getattr(worker, "_global_node", None)
        if node is not None and node.head:
            node.kill_monitor(check_alive=False)


def _import_quietly(module: str) -> None:
    """Import ``module`` if it can be (``require`` raises the error afterwards, in the caller's thread)."""
    import importlib
    with contextlib.suppress(Exception):
        importlib.import_module(module)


def run_ray(tasks: list, jobs: int, record, stop: Stop, address: str | None = None) -> None:
    """Run ``tasks`` as Ray Tune trials (one CPU each, at most ``jobs`` at once), recording each row as it ends.

    Once ``stop`` is set (or Tune sees Ctrl-C itself), Tune stops every trial; those it stopped have no row.
    Ray is joined or started as ``ray_session`` says, unless it is running already.
    """
    if stop.is_set():
        return
    with ray_session(jobs, address):
        _tune(tasks, jobs, record, stop)


_TUNE_ENV = {"RAY_AIR_NEW_OUTPUT": "0",                  # the classic reporter, which verbose=0 silences
             "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}    # no CSV / JSON / TensorBoard files per trial
"""Environment variables set while Tune runs (then restored). The sweep keeps its own rows, so Tune's per-trial
logger files are only cost: 6-8 s of a 10-trial CartPole study on the 2-core machine."""

_RECORDERS = {}
"""key -> the sweep's ``(record, stop)``: Tune pickles its callbacks and stopper with its state, and a key
pickles where the sweep's objects (a stop flag with a lock, the folder) may not."""


class _NoMetricsWarning:
    """A logging filter dropping Tune's "Failed to fetch metrics for N trial(s)" (one line per trial): the
    result files it looks for are the per-trial logger files ``_TUNE_ENV`` turns off; the rows are ours."""

    def filter(self, record):
        return not str(record.msg).startswith("Failed to fetch metrics for")


@contextlib.contextmanager
def _without_metrics_warning():
    import logging
    log, quiet = logging.getLogger("ray.tune.analysis.experiment_analysis"), _NoMetricsWarning()
    log.addFilter(quiet)
    try:
        yield
    finally:
        log.removeFilter(quiet)


def _tune(tasks, jobs, record, stop):
    from ray import tune
    key = f"{os.getpid()}-{id(record)}"
    _RECORDERS[key] = (record, stop)

    class Record(tune.Callback):
        """Writes a trial's row as soon as Tune reports it (on the driver); each trial once."""

        def __init__(self):
            self.key, self.seen = key, set()

        def on_trial_result(self, iteration, trials, trial, result, **info):
            import json

            # imported, not a global of this class: Tune pickles the class by value, the module by reference
            from numpy_ddqn.sweep import backends
            row = json.loads(result["row"])
            if row["status"] != "interrupted" and row["trial"] not in self.seen:
                self.seen.add(row["trial"])
                backends._RECORDERS[self.key][0](row)

    class StopAll(tune.Stopper):
        """Stops every trial once the sweep's stop flag is set (SIGINT / SIGTERM of the sweep)."""

        def __init__(self):
            self.key = key

        def __call__(self, trial_id, result):
            return False

        def stop_all(self):
            from numpy_ddqn.sweep import backends
            return backends._RECORDERS[self.key][1].is_set()

    storage = tempfile.mkdtemp(prefix="numpy-ddqn-tune-")
    try:
        with environment(_TUNE_ENV):                   # read as Tune starts and runs
            tuner = tune.Tuner(
                tune.with_resources(_tune_trial, {"cpu": 1}),
                param_space={"task": tune.grid_search(tasks)},
                tune_config=tune.TuneConfig(max_concurrent_trials=jobs, reuse_actors=True,   # no import per trial
                                            trial_dirname_creator=lambda t: t.trial_id,
                                            trial_name_creator=lambda t: t.config["task"]["trial"]),
                run_config=tune.RunConfig(storage_path=storage, name="sweep", verbose=0, callbacks=[Record()],
                                          stop=StopAll(), failure_config=tune.FailureConfig(max_failures=0)))
            with _without_metrics_warning():
                tuner.fit()
    finally:
        import shutil
        shutil.rmtree(storage, ignore_errors=True)
        _RECORDERS.pop(key, None)
