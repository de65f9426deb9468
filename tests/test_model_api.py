"""The model API as a Stable-Baselines3 user would use it, and the NumPy-only exported policy."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from helpers import QUICK, cli  # noqa: E402

import numpy_ddqn  # noqa: E402
from numpy_ddqn import DDQN, ConfigError, Policy, StepInfo  # noqa: E402

SMALL = {k: v for k, v in QUICK.items() if k not in ("total_steps", "progress_interval")}
SMALL.update(seed=3, learning_starts=100, batch_size=32, hidden_sizes=(16,))


@pytest.fixture(scope="module")
def model():
    return DDQN("CartPole-v1", **SMALL).learn(total_timesteps=600)


def observations(n=1000, seed=0):
    return np.random.default_rng(seed).normal(0, [1.0, 1.5, 0.1, 1.0], size=(n, 4)).astype(np.float32)


def test_learn_save_load_predict_round_trip(model, tmp_path):
    assert model.num_timesteps == 600 and model.history.steps == 600
    path = model.save(tmp_path / "m.npz")
    loaded = DDQN.load(path)
    obs = observations(50)
    actions, state = model.predict(obs, deterministic=True)
    assert state is None and actions.shape == (50,) and actions.dtype == np.int64
    np.testing.assert_array_equal(loaded.predict(obs)[0], actions)
    np.testing.assert_array_equal(loaded.q_values(obs), model.q_values(obs))
    single, _ = loaded.predict(obs[0])
    assert isinstance(single, int) and single == actions[0] == model.agent.greedy_action(obs[0])
    assert loaded.config == model.config and loaded.num_timesteps == 600


def test_a_second_learn_continues_and_a_loaded_model_learns_on(tmp_path):
    m = DDQN("CartPole-v1", **SMALL).learn(300)
    first = m.history.episodes
    m.learn(200)
    assert m.num_timesteps == 500 and m.history.episodes > first
    loaded = DDQN.load(m.save(tmp_path / "m.npz"))
    loaded.learn(100)
    assert loaded.num_timesteps == 600 and loaded.history.episodes > m.history.episodes


def test_callbacks_see_each_step_and_stop_training():
    seen = []

    def stop_at_150(info):
        seen.append(info)
        return info.step < 150

    m = DDQN("CartPole-v1", **SMALL).learn(1000, callback=stop_at_150)
    assert m.num_timesteps == 150 and m.history.reason == "callback"
    assert [i.step for i in seen] == list(range(1, 151)) and all(isinstance(i, StepInfo) for i in seen)
    ended = [i for i in seen if i.episode_return is not None]
    assert ended and all(i.episode_return == m.history.episode_returns[k] for k, i in enumerate(ended))
    assert seen[-1].last_metrics is not None and "loss" in seen[-1].last_metrics   # updates from step 100 on

    class Counter:
        def __init__(self):
            self.n = 0

        def on_step(self, info):
            self.n += 1

    counter = Counter()
    DDQN("CartPole-v1", **SMALL).learn(120, callback=counter)
    assert counter.n == 120


def test_an_env_instance_and_bad_arguments():
    m = DDQN(gym.make("Acrobot-v1"), **{**SMALL, "batch_size": 16, "learning_starts": 32}).learn(64)
    assert m.config.env_id == "Acrobot-v1" and m.predict(np.zeros(6))[0] in (0, 1, 2)
    with pytest.raises(ConfigError, match="'learning_rate'"):
        DDQN("CartPole-v1", learning_rate=-1)
    with pytest.raises(ConfigError, match="unknown config field 'learning_rat'"):
        DDQN("CartPole-v1", learning_rat=1e-3)
    with pytest.raises(ConfigError, match="call learn"):
        DDQN("CartPole-v1").predict(np.zeros(4))
    with pytest.raises(ConfigError, match="total_timesteps"):
        DDQN("CartPole-v1").learn(0)
    with pytest.raises(ValueError, match=r"shape \(6,\) or a batch \(B, 6\), got \(4,\)"):
        m.q_values(np.zeros(4))


def test_exploring_predictions_are_valid_actions(model):
    actions, _ = model.predict(observations(200), deterministic=False)
    assert set(np.unique(actions)) <= {0, 1}


def test_the_package_root_exports_the_public_names():
    for name in ("DDQN", "DDQNAgent", "Config", "MLP", "Policy", "train", "ReplayBuffer", "ConfigError"):
        assert hasattr(numpy_ddqn, name) and name in numpy_ddqn.__all__
    assert numpy_ddqn.__version__.count(".") >= 2
    assert (Path(numpy_ddqn.__file__).parent / "py.typed").is_file()


# -- the exported policy -------------------------------------------------------------------------------

def numpy_only_python(tmp_path):
    """A Python that can import NumPy and nothing else outside the standard library: isolated mode
    (-I: no user site, no PYTHONPATH from the environment) without site-packages (-S), and a folder
    holding only numpy (linked from this environment) put on sys.path by the script itself."""
    only = tmp_path / "numpy_only"
    only.mkdir()
    numpy_dir = Path(np.__file__).parent
    for path in [numpy_dir, *numpy_dir.parent.glob("numpy.libs")]:
        (only / path.name).symlink_to(path)
    return [sys.executable, "-I", "-S"], only


def test_exported_policy_alone_with_numpy_acts_exactly_like_the_agent(model, tmp_path):
    run = tmp_path / "run"
    assert cli("train", "--out", run, "--steps", "700", "--seed", "2", "--learning-starts", "100",
               "--batch-size", "32", "--eval-interval", "0", "--progress-interval", "0").returncode == 0
    out = cli("export", run / "last.npz", tmp_path / "policy.npz")
    assert out.returncode == 0 and "policy.npz" in out.stdout, out.stderr
    from numpy_ddqn.rl.agent import DDQNAgent
    agent = DDQNAgent.from_checkpoint(run / "last.npz")
    obs = observations(1000, seed=1)
    np.save(tmp_path / "obs.npy", obs)
    expected = np.array([agent.greedy_action(o) for o in obs])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(Path(numpy_ddqn.__file__).parent / "policy.py", elsewhere / "policy.py")
    python, only = numpy_only_python(tmp_path)
    script = (f"import sys; sys.path[:0] = [{str(only)!r}, {str(elsewhere)!r}]\n"
              "import numpy as np\n"
              "from policy import Policy\n"
              "assert not any(m.startswith(('numpy_ddqn', 'gymnasium')) for m in sys.modules), 'not alone'\n"
              f"policy = Policy.load({str(tmp_path / 'policy.npz')!r})\n"
              f"obs = np.load({str(tmp_path / 'obs.npy')!r})\n"
              "one_by_one = np.array([policy.act(o) for o in obs])\n"
              "np.save(sys.argv[1], np.stack([one_by_one, policy.act(obs)]))\n")
    result = subprocess.run([*python, "-c", script, str(tmp_path / "actions.npy")], capture_output=True,
                            text=True, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    one_by_one, batch = np.load(tmp_path / "actions.npy")
    np.testing.assert_array_equal(one_by_one, expected)           # exactly the agent's greedy actions
    np.testing.assert_array_equal(batch, agent.online(obs).argmax(axis=1))
    assert len(np.unique(expected)) == 2                          # both actions occur: a real check


def test_policy_round_trip_and_bad_files(model, tmp_path):
    policy = model.policy()
    policy.save(tmp_path / "p.npz")
    again = Policy.load(tmp_path / "p.npz")
    obs = observations(20)
    np.testing.assert_array_equal(again.q_values(obs), model.q_values(obs))
    assert again.env_id == "CartPole-v1" and again.act(obs[0]) == model.predict(obs[0])[0]
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a numpy_ddqn policy"):
        Policy.load(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="do not chain"):
        Policy([np.zeros((4, 3)), np.zeros(3), np.zeros((2, 2)), np.zeros(2)])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        again.act(np.zeros(5))
