"""numpy-ddqn sweep: spec parsing and every bad spec, the statistics against naive computations (and rliable
where installed), a tiny sweep on the local backend and on Ray with identical per-trial results, errors
recorded, resume after an interruption, and plotting a sweep folder."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import cli

from numpy_ddqn.errors import ConfigError, MissingDependency
from numpy_ddqn.presets import NAMED_PRESETS
from numpy_ddqn.sweep import (
    SweepFolder,
    bootstrap_ci,
    iqm,
    load_spec,
    parse_spec,
    run_sweep,
)
from numpy_ddqn.sweep.backends import Stop, run_ray
from numpy_ddqn.sweep.spec import parse_seeds
from numpy_ddqn.sweep.trial import ROW_RESULTS

TINY = """
name = "tiny"
env = "CartPole-v1"
seeds = [0, 1]
[base]
total_steps = 2000
learning_starts = 200
batch_size = 16
hidden_sizes = [16]
eval_interval = 500
eval_episodes = 2
confirm_episodes = 3
[grid]
learning_rate = [1e-3, 3e-3]
"""
"""2 configurations x 2 seeds x 2,000 steps (under a second each), evaluated every 500 steps."""


def write(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def results(rows):
    """Per trial, the fields that depend only on config and seed."""
    return {r["trial"]: {k: r.get(k) for k in ROW_RESULTS} for r in rows}


# -- the spec ---------------------------------------------------------------------------------------

def test_spec_expands_variants_grid_and_random_samples_deterministically(tmp_path):
    text = """
        env = "CartPole-v1"
        preset = "tanh-sgd"
        seeds = "0-2"
        steps = 5000
        trials = 3
        search_seed = 7
        [base]
        gamma = 0.98
        [variants.one-step]
        n_step = 1
        [variants.five]
        n_step = 5
        [grid]
        batch_size = [32, 64]
        [random]
        learning_rate = "loguniform(1e-4, 1e-2)"
        train_freq = "choice([1, 2, 4])"
        target_update_interval = "randint(50, 200)"
    """
    spec = load_spec(write(tmp_path, text))
    assert spec.seeds == (0, 1, 2)
    assert spec.base == {**NAMED_PRESETS["tanh-sgd"], "gamma": 0.98, "total_steps": 5000}   # the preset, then [base]
    assert spec.base["optimizer"] == "sgd" and spec.base["activation"] == "tanh"
    configs = spec.configurations()
    assert len(configs) == 2 * 2 * 3 and [c[0] for c in configs][:2] == ["c00", "c01"]
    assert configs == load_spec(write(tmp_path, text)).configurations()          # same spec, same trials
    for _, label, fields in configs:
        assert 1e-4 <= fields["learning_rate"] <= 1e-2 and fields["train_freq"] in (1, 2, 4)
        assert isinstance(fields["target_update_interval"], int) and 50 <= fields["target_update_interval"] <= 200
        assert fields["n_step"] in (1, 5) and fields["batch_size"] in (32, 64)
        assert label.split(", ")[0] in ("one-step", "five")
    samples = {tuple(sorted(f.items())) for _, _, f in configs}
    assert len(samples) == len(configs)
    # each trial: the protocol's fields, then the base, the configuration, the seed
    fields = spec.fields(configs[0][2], seed=2)
    assert fields["seed"] == 2 and fields["stop_when_solved"] is True and fields["gamma"] == 0.98
    other = parse_spec({**json.loads(json.dumps({"seeds": [0, 1, 2], "steps": 5000, "trials": 3, "search_seed": 8,
                                                 "random": {"learning_rate": "loguniform(1e-4, 1e-2)"}}))})
    again = parse_spec({"seeds": [0, 1, 2], "steps": 5000, "trials": 3, "search_seed": 7,
                        "random": {"learning_rate": "loguniform(1e-4, 1e-2)"}})
    assert other.configurations() != again.configurations()                       # the search seed matters


def test_a_spec_without_a_space_is_one_configuration_and_json_works(tmp_path):
    spec = load_spec(write(tmp_path, json.dumps({"seeds": [3, 4], "metric": "final_eval"}), "study.json"))
    assert spec.configurations() == [("c00", "base", {})] and spec.name == "study"
    assert spec.fields({}, 3)["stop_when_solved"] is False          # final evaluation: the whole budget


BAD_SPECS = [
    ("seeds = [0]\nlerning_rate = 1", "unknown key 'lerning_rate'"),
    ("seeds = [0]\n[grid]\nlerning_rate = [1e-3]", "unknown config field 'lerning_rate'"),
    ("seeds = [0]\n[base]\nbatch_sise = 3", "unknown config field 'batch_sise'"),
    ("seeds = [0]\n[grid]\nlearning_rate = []", "grid field 'learning_rate' has no values: the space is empty"),
    ("seeds = [0]\n[grid]\n", "[grid] is empty"),
    ("seeds = [0]\n[random]\n", "[random] is empty"),
    ("seeds = [0]\n[random]\nlearning_rate = \"choice([])\"", "choice([]) is empty"),
    ("seeds = [0]\n[random]\nlearning_rate = \"lognormal(1, 2)\"", "unknown distribution 'lognormal'"),
    ("seeds = [0]\n[random]\nlearning_rate = \"loguniform(0, 1)\"", "loguniform needs low > 0"),
    ("seeds = [0]\n[random]\nlearning_rate = \"loguniform(1e-2, 1e-4)\"", "low must be below high"),
    ("seeds = [0]\n[random]\nlearning_rate = \"uniform(a, b)\"", "cannot read the arguments"),
    ("seeds = [0]\n[random]\nlearning_rate = \"uniform(1)\"", "takes two finite numbers"),
    ("seeds = [0]\n[random]\nlearning_rate = 0.1", "is not a distribution"),
    ("seeds = [0]\n[random]\nactivation = \"uniform(0, 1)\"", "only choice([...]) can draw it"),
    ("seeds = [0]\n[random]\nbatch_size = \"randint(1.5, 4)\"", "randint needs an int field and int bounds"),
    ("seeds = [0]\n[grid]\nbatch_size = [\"64\"]", "config field 'batch_size' must be int, got '64'"),
    ("seeds = [0]\n[grid]\nseed = [1, 2]", "'seed' cannot be searched"),
    ("seeds = [0]\n[base]\nseed = 3", "'seed' cannot be set in [base]"),
    ("env = \"CartPole-v1\"", "no seeds"),
    ("seeds = []", "no seeds"),
    ("seeds = [1, 1]", "repeat a seed"),
    ("seeds = \"zero-nine\"", "must look like"),
    ("seeds = [-1]", "seeds must be integers >= 0"),
    ("seeds = \"0-9,x\"", "cannot read 'x'"),
    ("seeds = \"1,\"", "cannot read ''"),
    ("seeds = \"\u0663\"", "must look like"),
    ("seeds = \"0-999999999\"", "name more than 100,000 seeds"),
    ("seeds = \"9-0\"", "the range '9-0' is empty"),
    ("seeds = \"0-9,5\"", "repeat a seed"),
    ("seeds = [0]\nmetric = \"reward\"", "unknown metric 'reward'"),
    ("seeds = [0]\npreset = \"fast\"", "unknown preset 'fast'"),
    ("seeds = [0]\ntrials = 4", "'trials' samples the [random] space, and there is none"),
    ("seeds = [0]\ntrials = 0\n[random]\nlearning_rate = \"uniform(0.1, 0.2)\"", "'trials' must be an integer >= 1"),
    ("seeds = [0]\n[variants]\n", "[variants] is empty"),
    ("seeds = [0]\n[grid\n", "is not valid TOML"),
]


@pytest.mark.parametrize("text, seeds", [("0-3", [0, 1, 2, 3]), ("0,3,5", [0, 3, 5]), (" 7 ", [7]),
                                         ("0-1, 100-102,7", [0, 1, 100, 101, 102, 7]), ([4, 2], [4, 2])])
def test_seeds_are_lists_ranges_or_both_in_the_order_given(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, message", BAD_SPECS, ids=[m for _, m in BAD_SPECS])
def test_every_bad_spec_is_one_line_naming_the_spec(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_spec(path)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(path) in str(e.value)


def test_the_cli_reports_a_bad_spec_in_one_line(tmp_path):
    out = cli("sweep", write(tmp_path, "seeds = [0]\n[grid]\nlearning_rate = []"), "--out", tmp_path / "s")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "the space is empty" in out.stderr
    out = cli("sweep", tmp_path / "nope.toml")
    assert out.returncode == 1 and "cannot read sweep spec" in out.stderr and out.stderr.count("\n") == 1


# -- statistics ----------------------------------------------------------------------------------

def naive_iqm(x):
    x = sorted(x)
    k = len(x) // 4
    middle = x[k:len(x) - k]
    return sum(middle) / len(middle)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 13, 40])
def test_iqm_is_the_mean_of_the_middle_half(n):
    x = np.random.default_rng(n).normal(size=n) * 1000
    assert iqm(x) == pytest.approx(naive_iqm(x), rel=1e-12)
    assert iqm(np.arange(10.0)) == pytest.approx(4.5)                   # drop 0, 1 and 8, 9
    scipy_stats = pytest.importorskip("scipy.stats")
    assert iqm(x) == pytest.approx(scipy_stats.trim_mean(x, 0.25), rel=1e-12)   # rliable's definition


def test_bootstrap_ci_matches_a_naive_loop_over_the_same_draws():
    x = np.array([5000, 9000, 4000, 23000, 7000, 12000, 3000, 6000, 8000, 100000], float)
    low, high = bootstrap_ci(x, reps=2000, seed=3)
    rng = np.random.default_rng(3)
    draws = rng.integers(0, len(x), size=(2000, len(x)))
    stats = [naive_iqm([x[i] for i in row]) for row in draws]
    assert (low, high) == pytest.approx(tuple(np.percentile(stats, [2.5, 97.5])), rel=1e-12)
    assert low <= iqm(x) <= high and low < high
    assert bootstrap_ci(x, reps=2000, seed=3) == (low, high)            # a fixed seed: the same interval
    assert bootstrap_ci([7.0], reps=100) == (7.0, 7.0)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_bootstrap_ci_is_rliables_stratified_interval():
    """Within Monte-Carlo error of rliable's ``get_interval_estimates`` (different random draws)."""
    try:
        from rliable import library, metrics
    except Exception as e:          # not installed, or its arch / pandas versions do not fit
        pytest.skip(f"rliable cannot be imported ({type(e).__name__}: {e}); pip install rliable to compare")
    x = np.random.default_rng(0).gamma(2.0, 5000.0, size=(10, 1))
    _, cis = library.get_interval_estimates({"x": x}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=10_000,
                                            random_state=np.random.RandomState(0))
    theirs = tuple(cis["x"][:, 0])
    assert metrics.aggregate_iqm(x) == pytest.approx(iqm(x), rel=1e-12)
    mine = bootstrap_ci(x, reps=10_000)
    assert mine == pytest.approx(theirs, rel=0.03), (mine, theirs)
    assert mine != pytest.approx(bootstrap_ci(x, size=0.8, reps=10_000), rel=0.03)   # the check can tell


# -- running sweeps ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    pytest.importorskip("gymnasium")
    folder = tmp_path_factory.mktemp("sweep")
    spec = load_spec(write(folder, TINY))
    lines = []
    return spec, run_sweep(spec, folder / "out", backend="local", jobs=2, echo=lines.append), lines


def test_the_summary_gives_the_bad_tail_as_a_percentile():
    """The 90th percentile of steps (the 10th of a final return) by linear interpolation between order statistics."""
    from numpy_ddqn.sweep.run import markdown_table, summarize
    from numpy_ddqn.sweep.spec import SweepSpec
    steps = [3000, 9000, 4000, 15000, 5000, 2000, 8000, 6000, 7000, 11000, 10000]      # 11 seeds, sorted: 2k..15k
    rows = [{"config": "c00", "seed": i, "status": "ok", "solved": True, "steps_to_solve": v, "final_eval": -v,
             "train_wall_s": 1.0} for i, v in enumerate(steps)]
    ordered = sorted(steps)
    naive = ordered[9] + 0.0 * (ordered[10] - ordered[9])        # rank 0.9 * (11 - 1) = 9 exactly
    for metric, expected in (("steps_to_solve", naive), ("final_eval", -naive)):
        spec = SweepSpec(env_id="CartPole-v1", seeds=tuple(range(11)), metric=metric)
        (entry,) = summarize(spec, [("c00", "base", {})], rows, reps=100)
        assert entry["p90"] == expected
    spec = SweepSpec(env_id="CartPole-v1", seeds=tuple(range(10)))
    (entry,) = summarize(spec, [("c00", "base", {})], rows[:10], reps=100)          # 10 seeds: rank 8.1
    ordered = sorted(steps[:10])
    assert entry["p90"] == pytest.approx(ordered[8] + 0.1 * (ordered[9] - ordered[8]))
    assert "| 90th percentile |" in markdown_table(spec, [entry])


def test_a_tiny_sweep_on_the_local_backend(local_sweep):
    _, result, lines = local_sweep
    assert not result.interrupted and len(result.rows) == 4
    assert sorted(r["trial"] for r in result.rows) == ["c00-seed0", "c00-seed1", "c01-seed0", "c01-seed1"]
    for r in result.rows:
        assert r["status"] == "ok" and r["steps"] == 2000 and r["steps_to_solve"] == 2000 and not r["solved"]
        run_dir = result.folder / "runs" / r["config"] / f"seed{r['seed']}"
        config = json.loads((run_dir / "config.json").read_text())
        assert config["seed"] == r["seed"] and config["learning_rate"] == r["overrides"]["learning_rate"]
        assert (run_dir / "log.jsonl").is_file() and (run_dir / "last.npz").is_file()
    assert [e["runs"] for e in result.table] == [2, 2]
    md = (result.folder / "results.md").read_text()
    assert "| c00: learning_rate=0.001 | 2 | 0/2 | 2,000 | 2,000 (2,000-2,000) | 2,000 | seed 0: 2,000 (unsolved) |" in md
    assert sum(line.startswith("[") for line in lines) == 4
    assert len((result.folder / "trials.jsonl").read_text().splitlines()) == 4


def test_the_same_sweep_on_ray_gives_identical_per_trial_results(local_sweep, tmp_path):
    ray = pytest.importorskip("ray", reason="the 'ray' extra is not installed (pip install 'numpy_ddqn[ray]')")
    pytest.importorskip("ray.tune", reason="ray.tune's dependencies are not installed (pip install 'numpy_ddqn[ray]')")
    spec, local, _ = local_sweep
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_sweep(spec, tmp_path / "ray", backend="ray", jobs=2, echo=lambda line: None)
    finally:
        ray.shutdown()
    assert not on_ray.interrupted
    assert results(on_ray.rows) == results(local.rows)
    assert all((tmp_path / "ray" / "runs" / r["config"] / f"seed{r['seed']}" / "log.jsonl").is_file()
               for r in on_ray.rows)


def test_the_sweep_command_starts_and_stops_its_own_ray(local_sweep, tmp_path):
    """``--backend ray`` with no Ray running: the command starts a local one (as ``ray_session`` sets it up) and
    stops it, prints none of Tune's warnings about the logger files it turns off, and gives the local rows."""
    pytest.importorskip("ray", reason="the 'ray' extra is not installed (pip install 'numpy_ddqn[ray]')")
    pytest.importorskip("ray.tune", reason="ray.tune's dependencies are not installed (pip install 'numpy_ddqn[ray]')")
    _, local, _ = local_sweep
    done = cli("sweep", write(tmp_path, TINY), "--out", tmp_path / "ray", "--backend", "ray", "--jobs", "2", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Failed to fetch metrics" not in done.stdout + done.stderr
    assert results(SweepFolder(tmp_path / "ray").rows()) == results(local.rows)


def test_a_trial_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path):
    pytest.importorskip("gymnasium")
    # conv layers are a valid config, refused only once the env's flat observations are seen (in the trial)
    spec = parse_spec({"seeds": [0], "steps": 300, "base": {"learning_starts": 50, "batch_size": 16, "eval_interval": 0},
                       "grid": {"layers": ["conv8x3,relu,flatten", ""], "buffer_size": [1000]}})
    result = run_sweep(spec, tmp_path / "s", jobs=1, echo=lambda line: None)
    status = {r["label"]: (r["status"], r.get("error")) for r in result.rows}
    assert status["layers=conv8x3,relu,flatten, buffer_size=1000"][0] == "error"
    assert "needs image input" in status["layers=conv8x3,relu,flatten, buffer_size=1000"][1]
    assert status["layers=, buffer_size=1000"] == ("ok", None)
    md = (tmp_path / "s" / "results.md").read_text()
    assert "| c00: layers=conv8x3,relu,flatten, buffer_size=1000 | 1 (1 error) | 0/0 |" in md
    assert "- `c00-seed0` (layers=conv8x3,relu,flatten, buffer_size=1000): config field 'layers'" in md


def test_a_value_the_config_refuses_is_refused_before_any_trial(tmp_path):
    """A [grid] value, a variant's field or a drawn value that no trial could run with: one line, up front."""
    spec = parse_spec({"seeds": [0, 1], "steps": 300, "grid": {"gamma": [0.9, 1.5]}})
    with pytest.raises(ConfigError, match=r"configuration c01 \(gamma=1.5\) is invalid: config field 'gamma' = 1.5 "
                                          r"is invalid: must be in \[0, 1\]; fix the spec \(no trial was run\)"):
        run_sweep(spec, tmp_path / "s", echo=lambda line: None)
    assert not (tmp_path / "s" / "trials.jsonl").exists() and not (tmp_path / "s" / "runs").exists()
    variant = parse_spec({"seeds": [0], "variants": {"ok": {"gamma": 0.9}, "bad": {"batch_size": 0}}})
    with pytest.raises(ConfigError, match="configuration c01 \\(bad\\) is invalid: config field 'batch_size'"):
        run_sweep(variant, tmp_path / "v", echo=lambda line: None)
    optuna_space = parse_spec({"seeds": [0], "random": {"gamma": "uniform(0.5, 1.2)"}})
    pytest.importorskip("optuna")
    with pytest.raises(ConfigError, match="gamma=1.2\\) is invalid"):
        run_sweep(optuna_space, tmp_path / "o", search="optuna", echo=lambda line: None)


def test_the_start_says_how_many_trials_and_roughly_how_long(tmp_path):
    from numpy_ddqn.sweep.run import estimate_line
    line = estimate_line({"c0": 200_000}, [{"config": "c0"}] * 1_000_000, [], jobs=2)
    assert line.startswith("1,000,000 trials to run, at most 200,000,000,000 env steps: roughly ")
    assert " h or less at 2,000 steps/s per job (a nominal rate)" in line
    measured = estimate_line({"c0": 1000}, [{"config": "c0"}] * 3, [{"status": "ok", "steps": 1000, "train_wall_s": 2.0}], 1)
    assert "3 trials to run, at most 3,000 env steps: roughly 6 s or less at 500 steps/s per job (measured)" in measured


def test_resume_skips_finished_trials_and_reruns_a_killed_one(local_sweep, tmp_path):
    """A copy of the finished sweep with one row lost (killed before it was written, mid-line) and its run
    folder half written: the resume runs that trial alone, from scratch, to the same result."""
    import shutil
    spec, local, _ = local_sweep
    folder = tmp_path / "copy"
    shutil.copytree(local.folder, folder)
    lines = (folder / "trials.jsonl").read_text().splitlines()
    lost = json.loads(lines[2])["trial"]
    (folder / "trials.jsonl").write_text("\n".join(lines[:2] + [lines[3], lines[2][:40]]))   # a torn last line
    run_dir = folder / "runs" / lost.split("-")[0] / lost.split("-")[1]
    (run_dir / "log.jsonl").write_text('{"kind": "event", "event": "start"}\n')
    echoed = []
    again = run_sweep(spec, folder, jobs=2, echo=echoed.append)
    assert [line for line in echoed if line.startswith("[")] == [echoed[2]] and lost in echoed[2]
    assert echoed[1].startswith("1 trial to run, at most ")
    assert "3 finished before, 1 to run" in echoed[0]
    assert results(again.rows) == results(local.rows)
    assert len(SweepFolder(folder).rows()) == 4 and len((folder / "trials.jsonl").read_text().splitlines()) == 5
    nothing = []
    run_sweep(spec, folder, jobs=2, echo=nothing.append)
    assert "4 finished before, 0 to run" in nothing[0]


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(local_sweep, tmp_path):
    spec_path = write(tmp_path, TINY.replace("total_steps = 2000", "total_steps = 3000"))
    folder = tmp_path / "s"
    command = [sys.executable, "-m", "numpy_ddqn", "sweep", str(spec_path), "--out", str(folder), "--jobs", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    trials = folder / "trials.jsonl"
    deadline = time.monotonic() + 60
    while not (trials.exists() and trials.read_text().count("\n") >= 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    first = SweepFolder(folder).rows()
    assert 1 <= len(first) < 4 and "stopped with" in out and "run the same command again" in out
    assert "Traceback" not in err
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{len(first)} finished before, {4 - len(first)} to run" in done.stdout
    rows = SweepFolder(folder).rows()
    assert len(rows) == 4 and len(trials.read_text().splitlines()) == 4            # none lost, none twice
    assert [r for r in rows if r["trial"] in {f["trial"] for f in first}] == first
    # the rerun trials match an uninterrupted run of the same 3,000-step sweep trial by trial
    straight = run_sweep(load_spec(spec_path), tmp_path / "straight", jobs=2, echo=lambda line: None)
    assert results(rows) == results(straight.rows)


def test_a_folder_made_by_another_spec_is_refused(local_sweep):
    _, local, _ = local_sweep
    other = parse_spec({"name": "tiny", "seeds": [0, 1, 2]})
    with pytest.raises(ConfigError, match="holds another sweep .*differs in: .*seeds"):
        run_sweep(other, local.folder, echo=lambda line: None)


def test_ray_missing_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependency, match=r"^--backend ray needs the 'ray' package: pip install 'numpy_ddqn\[ray\]'$"):
        run_ray([{"trial": "x"}], 1, print, Stop())


def test_plot_draws_a_sweep_folder_by_configuration(local_sweep, tmp_path):
    pytest.importorskip("matplotlib")
    from numpy_ddqn.cli.plot import expand_sweeps, group_runs, load_run
    _, local, _ = local_sweep
    runs = [load_run(d) for d in expand_sweeps([local.folder])]
    assert [label for label, _ in group_runs(runs)] == ["learning_rate=0.001", "learning_rate=0.003"]
    out = cli("plot", local.folder, "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "learning_curve.png").stat().st_size > 10_000
    os.remove(tmp_path / "learning_curve.png")


# -- Optuna ----------------------------------------------------------------------------------------

OPTUNA_SPEC = {"name": "tpe", "seeds": [0], "steps": 600, "trials": 3, "search_seed": 1,
               "base": {"learning_starts": 100, "batch_size": 16, "hidden_sizes": [8], "eval_interval": 300,
                        "eval_episodes": 2, "confirm_episodes": 2},
               "grid": {"n_step": [1, 3]}, "random": {"learning_rate": "loguniform(1e-4, 1e-2)"}}


def test_optuna_search_keeps_its_study_in_a_journal_and_a_resume_tells_what_was_left(tmp_path):
    """A study left with a configuration asked for but never told (the sweep was killed) is continued:
    that configuration runs and is told, then the rest are asked; a second resume runs nothing."""
    optuna = pytest.importorskip("optuna", reason="the 'optuna' extra is not installed (pip install 'numpy_ddqn[optuna]')")
    pytest.importorskip("gymnasium")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from numpy_ddqn.sweep.search import JOURNAL, optuna_space
    spec = parse_spec(OPTUNA_SPEC)
    folder = tmp_path / "s"
    folder.mkdir()
    storage = JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    study = optuna.create_study(study_name="tpe", storage=storage, direction="minimize")
    asked = study.ask(optuna_space(spec, optuna))                  # killed before it was told
    lines = []
    result = run_sweep(spec, folder, search="optuna", echo=lines.append)
    assert not result.interrupted and "0 configurations told before" in lines[0]
    study = optuna.load_study(study_name="tpe", storage=JournalStorage(JournalFileBackend(str(folder / JOURNAL))))
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert trials[0].params == asked.params
    rows = {r["config"]: r for r in result.rows}
    assert sorted(rows) == ["t000", "t001", "t002"]
    for t in trials:
        row = rows[f"t{t.number:03d}"]
        assert t.value == row["steps_to_solve"] == 600                   # the IQM of one seed
        assert row["overrides"]["n_step"] == t.params["n_step"]
        assert row["overrides"]["learning_rate"] == pytest.approx(t.params["learning_rate"], rel=1e-3)
    again = []
    run_sweep(spec, folder, search="optuna", echo=again.append)
    assert "3 configurations told before" in again[0] and not any(line.startswith("[") for line in again)
    assert len(SweepFolder(folder).rows()) == 3


def test_optuna_missing_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(MissingDependency, match=r"^--search optuna needs the 'optuna' package: pip install 'numpy_ddqn\[optuna\]'$"):
        run_sweep(parse_spec(OPTUNA_SPEC), tmp_path / "s", search="optuna", echo=lambda line: None)
