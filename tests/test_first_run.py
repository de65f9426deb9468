"""A new user's first hour, as real CLI processes: config files naming their env, resume on any env and
with its own config, custom envs in Gymnasium's ``module:id`` form, held-out evaluation seeds, one BLAS
thread, one-line errors for a missing renderer or display."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from helpers import cli, quick_flags, without  # noqa: E402

from numpy_ddqn.run.runlog import read_log  # noqa: E402

FAST = quick_flags(learning_starts=64, batch_size=32, hidden_sizes=(16,))[2:]   # QUICK but --steps
NO_EVAL_FLAG = without(FAST, "--eval-interval")   # for tests that set their own


def config_of(run):
    return json.loads((run / "config.json").read_text())


def summary_of(run):
    return [r for r in read_log(run) if r["kind"] == "summary"][-1]


# -- 2. a config file that names its env -----------------------------------------------------------

@pytest.mark.parametrize("name, text", [
    ("acro.toml", 'env_id = "Acrobot-v1"\ntotal_steps = 200\neval_interval = 0\n'),
    ("acro.json", '{"env_id": "Acrobot-v1", "total_steps": 200, "eval_interval": 0}'),
    ("alias.toml", 'env = "Acrobot-v1"\nsteps = 200\neval_interval = 0\n'),   # the flags' names
])
def test_a_config_file_naming_its_env_gets_that_envs_preset(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    out = cli("train", "--config", tmp_path / name, "--out", tmp_path / "r", "--progress-interval", "0")
    assert out.returncode == 0, out.stderr
    config = config_of(tmp_path / "r")
    assert config["env_id"] == "Acrobot-v1" and config["total_steps"] == 200
    assert config["hidden_sizes"] == [256, 256] and config["batch_size"] == 128   # Acrobot's preset


def test_order_is_env_preset_then_preset_then_file_then_flags(tmp_path):
    (tmp_path / "acro.toml").write_text('env_id = "Acrobot-v1"\ntotal_steps = 200\neval_interval = 0\n'
                                        'learning_rate = 0.01\ngamma = 0.95\n')
    out = cli("train", "--preset", "tanh-sgd", "--config", tmp_path / "acro.toml", "--gamma", "0.9",
              "--out", tmp_path / "r", "--progress-interval", "0")
    assert out.returncode == 0, out.stderr
    c = config_of(tmp_path / "r")
    assert c["batch_size"] == 128 and c["hidden_sizes"] == [256, 256]           # env preset
    assert c["optimizer"] == "sgd" and c["activation"] == "tanh"               # --preset over it
    assert c["learning_rate"] == 0.01                                          # the file over --preset
    assert c["gamma"] == 0.9                                                   # flags last


def test_config_file_naming_both_spellings_and_unknown_key(tmp_path):
    (tmp_path / "both.toml").write_text('env = "Acrobot-v1"\nenv_id = "CartPole-v1"\n')
    out = cli("train", "--config", tmp_path / "both.toml")
    assert out.returncode == 1 and "both 'env' and 'env_id'" in out.stderr
    (tmp_path / "typo.toml").write_text('stepz = 5\n')
    out = cli("train", "--config", tmp_path / "typo.toml")
    assert out.returncode == 1 and "steps = total_steps" in out.stderr


# -- 3, 4. resume: on the checkpoint's env, with its config, timed as one run ------------------------

def test_resume_an_acrobot_run_and_evaluate_it_without_naming_the_env(tmp_path):
    run = tmp_path / "acro"
    out = cli("train", "--env", "Acrobot-v1", "--out", run, "--steps", "300", *FAST)
    assert out.returncode == 0, out.stderr
    out = cli("train", "--resume", run / "last.npz", "--steps", "500", "--progress-interval", "0")
    assert out.returncode == 0, out.stderr
    assert "Budget spent: 500 steps without solving Acrobot-v1" in out.stdout
    ev = cli("evaluate", run / "last.npz", "--episodes", "2")
    assert ev.returncode == 0 and ev.stdout.startswith("Acrobot-v1: mean"), ev.stderr
    refused = cli("train", "--resume", run / "last.npz", "--env", "CartPole-v1", "--steps", "900")
    assert refused.returncode == 1 and "keeps its checkpoint's config and env" in refused.stderr


def test_a_resumed_run_keeps_its_config_and_its_summary_covers_the_whole_run(tmp_path):
    run = tmp_path / "r"
    first = cli("train", "--out", run, "--steps", "1000", "--seed", "5", "--keep-training", "--learning-rate",
                "0.002", "--eval-interval", "500", "--eval-episodes", "2", *NO_EVAL_FLAG)
    assert first.returncode == 0, first.stderr
    before = summary_of(run)
    assert "--steps 2000" in first.stdout            # the printed resume hint says how to go on
    out = cli("train", "--resume", run / "last.npz", "--steps", "1500", "--progress-interval", "5")
    assert out.returncode == 0, out.stderr
    assert "resuming at step 1,000 on CartPole-v1 -> " in out.stderr and "seed 5 | budget 1,500 steps" in out.stderr
    c = config_of(run)
    assert c["learning_rate"] == 0.002 and c["seed"] == 5 and c["stop_when_solved"] is False
    assert c["total_steps"] == 1500 and c["hidden_sizes"] == [16]
    after = summary_of(run)
    assert after["steps"] == 1500 and after["episodes"] > before["episodes"]
    assert after["train_wall_s"] > before["train_wall_s"] and after["total_wall_s"] > before["total_wall_s"]
    events = [r["event"] for r in read_log(run) if r["kind"] == "event"]
    assert events == ["start", "stop", "resume", "stop"]


def test_resume_with_a_budget_already_spent_says_so(tmp_path):
    assert cli("train", "--out", tmp_path / "r", "--steps", "300", *FAST).returncode == 0
    out = cli("train", "--resume", tmp_path / "r" / "last.npz", "--steps", "300")
    assert out.returncode == 1 and "already at step 300" in out.stderr and "larger --steps" in out.stderr


def test_progress_rate_after_resume_counts_from_the_resumed_step():
    import io

    from numpy_ddqn.run.report import Progress
    stream = io.StringIO()
    p = Progress(20_000, 1.0, stream, start_steps=15_000)
    p._last_time -= 1.0                                 # one second ago
    p.show(15_100, 10, None, 0.1, None, None)
    rate = int(stream.getvalue().split(" steps/s")[0].split("|")[-1].replace(",", ""))
    assert 50 <= rate <= 100                            # ~100 steps in ~1 s, not 15,100


def test_progress_shows_elapsed_percent_eta_and_keeps_evaluation_time_apart():
    import io

    from numpy_ddqn.run.report import Progress
    stream = io.StringIO()
    p = Progress(10_000, 1.0, stream)
    p._last_time -= 2.0                                 # two seconds ago, one and a half of them evaluating
    p._call_start -= 2.0
    p._start_time -= 2.0
    p.evaluated(123.4)
    p.show(1_000, 10, 20.0, 0.5, 0.1, None, eval_time=1.5)
    first = stream.getvalue().strip()
    assert first.startswith("0:02 (eval 0:02) |  10% | step   1,000/10,000")
    rate = int(first.split(" steps/s")[0].split("|")[-1].replace(",", ""))
    assert 1_500 <= rate <= 2_100                       # 1,000 steps in 0.5 s of training, not in 2 s
    assert "ETA 0:18" in first and first.endswith("eval 123.4")
    p.show(1_100, 11, 20.0, 0.5, 0.1, None, eval_time=1.5)
    assert "eval" not in stream.getvalue().splitlines()[-1].split("|")[-1]   # an old evaluation is not repeated


def test_the_start_lines_are_short_and_the_summary_agrees_with_itself(tmp_path):
    out = cli("train", "--out", tmp_path / "r", "--steps", "2000", "--eval-interval", "1000", "--eval-episodes", "2",
              "--confirm-episodes", "3", "--progress-interval", "0.01", "--keep-training")
    assert out.returncode == 0, out.stderr
    start = out.stderr.splitlines()[:3]
    assert start[0].startswith("numpy-ddqn: training on CartPole-v1 -> ") and all(len(s) <= 110 for s in start)
    assert start[1].startswith("  seed 0 | budget 2,000 steps | preset CartPole-v1 |")
    assert start[2].startswith("  memory ")
    line = next(s for s in out.stdout.splitlines() if "| training" in s)
    train_s, eval_s, total_s = (float(line.split(k)[1].split(" s")[0]) for k in ("training ", "evaluation ", "total "))
    assert abs(train_s + eval_s - total_s) <= 0.11 and "with evaluation" not in out.stdout


def test_the_confirmation_is_announced_and_its_result_shown_once():
    import io

    from numpy_ddqn.run.report import Progress
    stream = io.StringIO()
    p = Progress(10_000, 1.0, stream)
    p.evaluated(480.0, 470.5)
    p.show(2_000, 10, 20.0, 0.5, 0.1, None, eval_time=0.5)
    assert stream.getvalue().rstrip().endswith("eval 480.0 (confirmation 470.5)")


# -- 7. custom envs: Gymnasium's module:id form --------------------------------------------------------

CORRIDOR = textwrap.dedent('''
    import gymnasium as gym
    import numpy as np

    class Corridor(gym.Env):
        """Walk right to the end of a corridor; the constructor takes no render_mode."""
        def __init__(self, length=6):
            self.length = length
            self.observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
            self.action_space = gym.spaces.Discrete(2)

        def _obs(self):
            return np.array([self.pos / self.length, 1.0], np.float32)

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.pos = 0
            return self._obs(), {}

        def step(self, action):
            self.pos = max(0, self.pos + (1 if action == 1 else -1))
            done = self.pos >= self.length
            return self._obs(), 1.0 if done else -0.1, done, False, {}

    gym.register("Corridor-v0", entry_point=Corridor, max_episode_steps=50, reward_threshold=0.4)
''')


def test_a_custom_env_in_module_id_form_trains_resumes_and_evaluates(tmp_path):
    (tmp_path / "corridor.py").write_text(CORRIDOR)
    out = cli("train", "--env", "corridor:Corridor-v0", "--steps", "300", "--eval-episodes", "2",
              "--eval-interval", "150", *NO_EVAL_FLAG, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("corridor-Corridor-v0-seed0-") and ":" not in run.name
    assert config_of(run)["env_id"] == "corridor:Corridor-v0"
    ev = cli("evaluate", run / "last.npz", "--episodes", "2", cwd=tmp_path)
    assert ev.returncode == 0 and "corridor:Corridor-v0: mean" in ev.stdout, ev.stderr
    again = cli("train", "--resume", run / "last.npz", "--steps", "450", "--progress-interval", "0", cwd=tmp_path)
    assert again.returncode == 0 and "450" in again.stdout, again.stderr


def test_a_missing_env_module_is_one_line(tmp_path):
    out = cli("train", "--env", "no_such_module:Thing-v0", cwd=tmp_path)
    assert out.returncode == 1 and "module 'no_such_module' cannot be imported" in out.stderr
    assert "Traceback" not in out.stderr and "training on" not in out.stderr


# -- 5. one BLAS thread while training ----------------------------------------------------------------

class ThreadProbe(gym.Env):
    """Records how many BLAS threads NumPy may use while the loop steps it."""
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.seen = set()

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        from threadpoolctl import threadpool_info
        self.seen.update(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return np.zeros(2, np.float32), 0.0, False, False, {}


@pytest.mark.parametrize("threads", [1, 2])
def test_training_runs_with_the_configured_blas_threads(threads):
    pytest.importorskip("threadpoolctl")
    from numpy_ddqn.config import Config
    from numpy_ddqn.run.loop import train
    env = ThreadProbe()
    train(Config(total_steps=50, learning_starts=16, batch_size=16, hidden_sizes=(8,), eval_interval=0,
                 progress_interval=0.0, threads=threads), env=env)
    assert env.seen == {threads}


# -- 6. a missing renderer or display: one line --------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("ck") / "r"
    assert cli("train", "--out", run, "--steps", "200", *FAST).returncode == 0
    return run / "last.npz"


def cli_without_pygame(args, env=None):
    code = ("import sys; sys.modules['pygame'] = None; from numpy_ddqn.cli.main import main; "
            f"sys.exit(main({[str(a) for a in args]!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_render_without_pygame_or_without_a_display(checkpoint, tmp_path):
    with_display = {**os.environ, "DISPLAY": ":99"}
    out = cli_without_pygame(["evaluate", checkpoint, "--render", "--episodes", "1"], with_display)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == "numpy-ddqn: error: rendering needs the 'pygame' package: " \
                                 "pip install 'numpy_ddqn[render]'"
    no_display = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-m", "numpy_ddqn", "evaluate", str(checkpoint), "--render"],
                         capture_output=True, text=True, env=no_display)
    assert out.returncode == 1 and "needs a display" in out.stderr and "XDG_RUNTIME_DIR" not in out.stderr
    out = cli_without_pygame(["record", checkpoint, "--out", tmp_path / "x.gif", "--max-steps", "5"])
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "pip install 'numpy_ddqn[record]'" in out.stderr


# -- 9, 12. held-out evaluation seeds; nothing printed before an error ---------------------------------

def test_evaluate_uses_held_out_seeds_and_says_which(checkpoint):
    out = cli("evaluate", checkpoint, "--episodes", "3")
    assert out.returncode == 0 and "reset seeds 1000000..1000002" in out.stdout


@pytest.mark.parametrize("args", [["--batch-size", "100", "--buffer-size", "50"], ["--env", "Nope-v3"],
                                  ["--hidden-sizes", "64,,64"], ["--out", ""]])
def test_nothing_says_training_before_a_config_error(tmp_path, args):
    out = cli("train", *args, cwd=tmp_path)
    assert out.returncode != 0 and "training on" not in out.stderr
    assert not (tmp_path / "runs").exists()


# -- custom envs by entry point, with kwargs, or by a module that registers ids ------------------------

ENTRY = CORRIDOR.replace('gym.register("Corridor-v0"', 'NOT_AN_ENV = 42\ngym.register("Corridor-v0"')


@pytest.fixture()
def envs_folder(tmp_path):
    (tmp_path / "my_envs.py").write_text(ENTRY)
    return tmp_path


def test_an_env_class_by_entry_point_with_kwargs_trains_evaluates_and_resumes(envs_folder):
    out = cli("train", "--env", "my_envs:Corridor", "--env-kwargs", '{"length": 3}', "--steps", "300",
              "--eval-interval", "150", "--eval-episodes", "2", "--out", "run", *NO_EVAL_FLAG, cwd=envs_folder)
    assert out.returncode == 0, out.stderr
    config = config_of(envs_folder / "run")
    assert config["env_id"] == "my_envs:Corridor" and json.loads(config["env_kwargs"]) == {"length": 3}
    episodes = [r for r in read_log(envs_folder / "run") if r["kind"] == "episode"]
    assert min(r["length"] for r in episodes) == 3              # the kwargs reached the env
    ev = cli("evaluate", "run/last.npz", "--episodes", "2", cwd=envs_folder)
    assert ev.returncode == 0 and "my_envs:Corridor: mean" in ev.stdout, ev.stderr
    again = cli("train", "--resume", "run/last.npz", "--steps", "400", "--progress-interval", "0", cwd=envs_folder)
    assert again.returncode == 0, again.stderr


def test_env_module_registers_the_id_before_the_env_is_made(envs_folder):
    out = cli("train", "--env-module", "my_envs", "--env", "Corridor-v0", "--steps", "200", "--out", "r", *FAST,
              cwd=envs_folder)
    assert out.returncode == 0, out.stderr
    assert cli("evaluate", "r/last.npz", "--episodes", "1", cwd=envs_folder).returncode == 0


@pytest.mark.parametrize("args, message", [
    (["--env", "nowhere_mod:Thing"], "module 'nowhere_mod' cannot be imported"),
    (["--env", "my_envs:Nothing"], "module 'my_envs' has no 'Nothing'"),
    (["--env", "my_envs:NOT_AN_ENV"], "NOT_AN_ENV is not a gymnasium.Env subclass"),
    (["--env", "my_envs:Corridor", "--env-kwargs", '{"lenght": 3}'], "with env_kwargs"),
    (["--env", "my_envs:Corridor", "--env-kwargs", "[3]"], "'env_kwargs' = '[3]' is invalid"),
    (["--env-module", "nowhere_mod", "--env", "Corridor-v0"], "--env-module 'nowhere_mod' cannot be imported"),
])
def test_custom_env_errors_are_one_line(envs_folder, args, message):
    out = cli("train", *args, "--steps", "10", cwd=envs_folder)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("numpy-ddqn: error: ") and message in line


def test_a_box2d_env_without_box2d_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['Box2D'] = None; from numpy_ddqn.cli import main; "
            "sys.exit(main(['train', '--env', 'LunarLander-v3', '--steps', '10']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == ("numpy-ddqn: error: cannot make environment 'LunarLander-v3': it needs a package "
                                  "that is not installed: pip install 'numpy_ddqn[box2d]'")
