"""A Stable-Baselines3 user's first hour (issue 22): each defect they hit, and each SB3 habit, which works or
is refused in one line naming what to write instead."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from helpers import QUICK, cli  # noqa: E402

from numpy_ddqn import DDQN, CheckpointError, Config, ConfigError, EnvError, TrainingError, train  # noqa: E402

SMALL = {k: v for k, v in QUICK.items() if k not in ("total_steps", "progress_interval")}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "m.npz"
    DDQN("CartPole-v1", **SMALL).learn(100).save(path)
    return path


# -- the defects ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("vector", ["sync", "async"])
def test_num_envs_in_the_model_api_trains_on_a_vector_env_and_evaluates(vector):
    model = DDQN("CartPole-v1", num_envs=4, vector=vector, **{**SMALL, "eval_interval": 100, "eval_episodes": 2})
    model.learn(200)
    assert model.get_env().num_envs == 4 and model.num_timesteps == 200 and len(model.history.evals) == 2
    model.get_env().close()


@pytest.mark.parametrize("mode", ["vector_entry_point", "sync"])
def test_a_make_vec_env_trains_and_is_evaluated_on_single_env_copies(mode):
    envs = gym.make_vec("CartPole-v1", num_envs=4, vectorization_mode=mode)
    model = DDQN(envs, **{**SMALL, "eval_interval": 100, "eval_episodes": 2}).learn(100)
    assert model.num_timesteps == 100 and len(model.history.evals) == 1


def test_the_python_api_refuses_a_folder_that_holds_a_run(tmp_path):
    train(Config(**QUICK), out_dir=tmp_path / "demo")
    with pytest.raises(ConfigError, match="demo already holds a run; choose another out_dir, or continue it"):
        train(Config(**QUICK), out_dir=tmp_path / "demo")
    with pytest.raises(ConfigError, match="already holds a run"):
        DDQN("CartPole-v1", out_dir=tmp_path / "demo", **SMALL).learn(100)
    model = DDQN("CartPole-v1", out_dir=tmp_path / "m", **SMALL).learn(100)
    model.learn(100)                                    # the same model goes on in its own folder
    events = [line for line in (tmp_path / "m" / "log.jsonl").read_text().splitlines() if '"event"' in line]
    assert len(events) == 4 and '"continue"' in events[2]


CONSOLE_SCRIPT = """
import sys
sys.path = [p for p in sys.path if p not in ("", ".")]    # what the numpy-ddqn console script sees
sys.argv[0] = "numpy-ddqn"
from numpy_ddqn.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_console_script_imports_a_custom_env_module_from_the_current_folder(tmp_path):
    (tmp_path / "my_envs.py").write_text(textwrap.dedent('''
        import gymnasium as gym
        gym.register("Corridor-v0", entry_point="gymnasium.envs.classic_control:CartPoleEnv", max_episode_steps=50)
    '''))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and "my_envs" not in p)}
    out = subprocess.run([sys.executable, "-c", CONSOLE_SCRIPT, "train", "--env", "my_envs:Corridor-v0",
                          "--steps", "60", "--eval-interval", "0", "--learning-starts", "16", "--batch-size", "16",
                          "--out", str(tmp_path / "r")], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def test_load_checks_the_env_at_load(saved):
    with pytest.raises(CheckpointError, match=r"was trained on CartPole-v1 with 4 observations and 2 actions; "
                                              r"this env has 6 and 3"):
        DDQN.load(saved, env=gym.make("Acrobot-v1"))
    with pytest.raises(CheckpointError, match="this env has 6 and 3"):
        DDQN.load(saved, env="Acrobot-v1")
    assert DDQN.load(saved, env=gym.make("CartPole-v1")).learn(50).num_timesteps == 150


def test_sb3s_call_shape_works_and_an_env_as_out_dir_is_refused():
    model = DDQN("MlpPolicy", gym.make("CartPole-v1"), **SMALL).learn(60)
    assert model.config.env_id == "CartPole-v1" and model.out_dir is None
    assert DDQN("MlpPolicy", "Acrobot-v1").config.env_id == "Acrobot-v1"
    assert DDQN(policy="MlpPolicy", env="Acrobot-v1").config.env_id == "Acrobot-v1"
    with pytest.raises(ConfigError, match=r"DDQN\('MlpPolicy'\): give the env too"):
        DDQN("MlpPolicy")
    with pytest.raises(ConfigError, match="MultiInputPolicy: Dict observations are not supported"):
        DDQN(policy="MultiInputPolicy", env="CartPole-v1")
    with pytest.raises(ConfigError, match="out_dir must be a folder path, got a TimeLimit"):
        DDQN("CartPole-v1", gym.make("CartPole-v1"))
    with pytest.raises(ConfigError, match="CnnPolicy: give the conv network as layers="):
        DDQN("CnnPolicy", "CartPole-v1")


EASY = """
import gymnasium as gym
import numpy as np

class Easy(gym.Env):
    '''Every episode returns 1: solved at the first evaluation.'''
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, True, False, {}

gym.register("Easy-v0", entry_point=Easy, reward_threshold=0.5, max_episode_steps=10)
"""


@pytest.fixture
def easy(tmp_path):
    (tmp_path / "easy_env.py").write_text(EASY)
    sys.path.insert(0, str(tmp_path))
    yield "easy_env:Easy-v0"
    sys.path.remove(str(tmp_path))


def test_callbacks_of_every_sb3_shape_are_called_at_the_solving_step_too(easy, capsys):
    calls = []

    class SB3Style:                                     # stable_baselines3.common.callbacks.BaseCallback's shape
        def _on_step(self):
            calls.append(("sb3", self.num_timesteps, self.model.num_timesteps))
            return True

    class NoArgument:
        def on_step(self):
            calls.append(("no-arg", self.n_calls))

    model = DDQN(easy, **{**SMALL, "eval_interval": 100, "eval_episodes": 2, "confirm_episodes": 2,
                          "stop_when_solved": True})
    model.learn(3000, callback=[SB3Style(), NoArgument(), lambda info: calls.append(("f", info.step))])
    assert model.history.reason == "solved" and model.num_timesteps == 100
    assert len(calls) == 300 and calls[-3:] == [("sb3", 100, 100), ("no-arg", 100), ("f", 100)]
    assert "solved at step 100" in capsys.readouterr().err           # learn() says why it stopped early
    with pytest.raises(ConfigError, match="callback must be a function f"):
        DDQN("CartPole-v1", **SMALL).learn(100, callback=[object()])


def test_a_callback_that_raises_does_not_lose_the_trained_steps():
    def fail_at_70(info):
        if info.step == 70:
            raise RuntimeError("a bug in my callback")

    model = DDQN("CartPole-v1", **SMALL)
    with pytest.raises(TrainingError, match="a bug in my callback"):
        model.learn(200, callback=fail_at_70)
    assert model.num_timesteps == 70 and model.agent.replay.size > 0
    model.learn(30)                                     # and it trains on from there
    assert model.num_timesteps == 100


def test_load_refuses_changes_it_would_ignore(saved):
    with pytest.raises(ConfigError, match=r"DDQN.load keeps the checkpoint's config; only .*progress_interval.* "
                                          r"may change \(got learning_rate\)"):
        DDQN.load(saved, learning_rate=1e-4)
    assert DDQN.load(saved, threads=1).config.threads == 1


def test_a_non_env_object_and_an_obs_info_tuple_are_one_line_errors(saved):
    with pytest.raises(EnvError, match="expected a Gymnasium env .* got a dict"):
        DDQN({"not": "an env"})
    model = DDQN.load(saved)
    with pytest.raises(ValueError, match=r"got a tuple \(obs, info\), as env.reset\(\) returns"):
        model.predict(gym.make("CartPole-v1").reset(seed=0))


def test_the_cli_takes_a_run_folder_names_what_a_config_file_is_and_makes_the_export_folder(tmp_path):
    run = tmp_path / "r"
    assert cli("train", "--out", run, "--steps", "60", "--eval-interval", "0", "--learning-starts", "16",
               "--batch-size", "16").returncode == 0
    out = cli("evaluate", run, "--episodes", "2")
    assert out.returncode == 0 and str(run / "last.npz") in out.stdout and "mean" in out.stdout, out.stderr
    out = cli("evaluate", run / "config.json")
    assert out.returncode == 1 and "config.json is not a checkpoint: give a run's last.npz" in out.stderr
    out = cli("export", run / "last.npz", tmp_path / "new" / "policy.npz")
    assert out.returncode == 0 and (tmp_path / "new" / "policy.npz").is_file(), out.stderr
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("numpy-ddqn 0.")


def test_record_on_a_headless_machine_prints_no_sdl_error(tmp_path):
    pytest.importorskip("pygame")
    pytest.importorskip("imageio")
    run = tmp_path / "r"
    assert cli("train", "--out", run, "--steps", "60", "--eval-interval", "0", "--learning-starts", "16",
               "--batch-size", "16").returncode == 0
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "DISPLAY", "SDL_VIDEODRIVER")}
    out = subprocess.run([sys.executable, "-m", "numpy_ddqn", "record", str(run), "--out", str(tmp_path / "v.gif"),
                          "--max-steps", "20"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "XDG_RUNTIME_DIR" not in out.stderr + out.stdout, out.stderr


# -- SB3's names and habits ---------------------------------------------------------------------------------

def test_sb3_constructor_names_are_translated():
    model = DDQN("CartPole-v1", verbose=0, policy_kwargs=dict(net_arch=[32, 32]), exploration_fraction=0.5,
                 exploration_initial_eps=0.9, exploration_final_eps=0.02, tensorboard_log=None, device="cpu")
    c = model.config
    assert c.hidden_sizes == (32, 32) and c.epsilon_start == 0.9 and c.epsilon_end == 0.02
    assert c.progress_interval == 0 and c.tensorboard == ""
    assert DDQN("CartPole-v1", train_freq=(4, "step")).config.train_freq == 4
    assert isinstance(DDQN("CartPole-v1", seed=None).config.seed, int)          # SB3's unseeded model
    with pytest.raises(ConfigError, match="only steps are counted here"):
        DDQN("CartPole-v1", train_freq=(1, "episode"))
    model = DDQN("CartPole-v1", exploration_fraction=0.5, **SMALL).learn(1e2)    # a float, as SB3 allows
    assert model.config.exploration_steps == 50 and model.num_timesteps == 100
    assert 0.0 <= model.exploration_rate <= 1.0


@pytest.mark.parametrize("kwargs, message", [
    ({"device": "cuda"}, "device='cuda': numpy_ddqn runs on the CPU with NumPy"),
    ({"policy_kwargs": {"activation_fn": "tanh"}}, "only net_arch is understood"),
    ({"learning_rat": 1e-3}, "unknown config field 'learning_rat'; did you mean 'learning_rate'"),
    ({"target_update_intrval": 5}, "did you mean 'target_update_interval'"),
    ({"replay_buffer_class": None}, "a Stable-Baselines3 name\\); here it is prioritized"),
])
def test_unknown_and_sb3_only_names_get_one_line_naming_the_equivalent(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DDQN("CartPole-v1", **kwargs)


def test_config_files_get_the_same_hints(tmp_path):
    (tmp_path / "c.toml").write_text("exploration_final_eps = 0.1\n")
    out = cli("train", "--config", tmp_path / "c.toml")
    assert out.returncode == 1 and "here it is epsilon_end" in out.stderr


def test_sb3_learn_arguments_work_or_say_what_to_write(tmp_path):
    model = DDQN("CartPole-v1", tensorboard_log=str(tmp_path / "tb"), **SMALL)
    with pytest.raises(ConfigError, match="progress line here is timed"):
        model.learn(100, log_interval=4)
    pytest.importorskip("tensorboard")
    model.learn(100, tb_log_name="first", reset_num_timesteps=True)
    model.learn(100, tb_log_name="second", reset_num_timesteps=False)
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["first", "second"]
    with pytest.raises(ConfigError, match="a second learn\\(\\) goes on counting from step 200"):
        model.learn(100, reset_num_timesteps=True)
    with pytest.raises(ConfigError, match="tb_log_name=...\\) needs a TensorBoard folder"):
        DDQN("CartPole-v1", **SMALL).learn(100, tb_log_name="x")


def test_sb3_attributes_and_predict_signature(saved):
    model = DDQN.load(saved)
    assert model.get_env() is None
    assert model.observation_space.shape == (4,) and model.action_space.n == 2
    model.set_env(gym.make("CartPole-v1"))
    with pytest.raises(EnvError, match="set_env: this env has"):
        model.set_env(gym.make("Acrobot-v1"))
    assert model.learning_rate == model.config.learning_rate and model.gamma == model.config.gamma
    assert model.replay_buffer.size > 0 and model.q_net is model.agent.online and model.q_net_target is model.agent.target
    assert model.num_timesteps == 100 and model.env is model.get_env()
    obs = np.zeros((3, 4), np.float32)
    actions, state = model.predict(obs, state=("kept",), episode_start=np.ones(3, bool))
    assert actions.shape == (3,) and state == ("kept",)
    np.testing.assert_array_equal(actions, model.predict(obs, deterministic=True)[0])


def test_the_confirmation_gets_a_line_while_training(easy, capsys):
    DDQN(easy, verbose=1, **{**SMALL, "eval_interval": 100, "eval_episodes": 2, "confirm_episodes": 3,
                             "stop_when_solved": True}).learn(1000)
    err = capsys.readouterr().err
    assert "evaluation at step 100: mean 1.0 >= 0.5; confirming on 3 more episodes" in err
