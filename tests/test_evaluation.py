"""Evaluation: the batched episodes give the sequential returns exactly; a cap ends episodes of envs without a
time limit; a stop request ends an evaluation promptly; ``evaluate_policy`` in SB3's shape."""
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from helpers import QUICK  # noqa: E402

from numpy_ddqn import DDQN, Config, DDQNAgent, evaluate_policy, train  # noqa: E402
from numpy_ddqn.run.envs import check_spaces, make_env  # noqa: E402
from numpy_ddqn.run.evaluate import CONFIRM_SEED, EVAL_SEED, HELDOUT_SEED, play  # noqa: E402


def sequential_returns(agent, env, episodes, seed):
    """The evaluation as it was before batching: one env, one episode after the other, one observation
    at a time through the agent's own greedy action."""
    returns, lengths = [], []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        total, done, n = 0.0, False, 0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.greedy_action(obs))
            total += reward
            n += 1
            done = terminated or truncated
        returns.append(total)
        lengths.append(n)
    return np.array(returns), np.array(lengths)


CASES = [("CartPole-v1", {}), ("Acrobot-v1", {}), ("CartPole-v1", {"dueling": True}),
         ("Acrobot-v1", {"hidden_sizes": (32,), "activation": "relu", "dueling": True}),
         ("MountainCar-v0", {"dtype": "float64"})]


@pytest.mark.parametrize("env_id, fields", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_episodes_give_the_sequential_returns_exactly(env_id, fields, seed):
    env = make_env(env_id)
    agent = DDQNAgent(*check_spaces(env), Config.for_env(env_id, seed=seed, **fields))
    if env_id == "CartPole-v1":                    # a trained-looking net: episodes of many lengths
        agent.online.flat[:] *= 4
    expected, lengths = sequential_returns(agent, env, 7, EVAL_SEED + 100 * seed)
    for copies in (1, 3, 7):                       # one episode at a time, in waves, all at once
        got = play(lambda x: agent.online(x).argmax(axis=1), [make_env(env_id) for _ in range(copies)], 7,
                   EVAL_SEED + 100 * seed)
        np.testing.assert_array_equal(got.returns, expected)
        np.testing.assert_array_equal(got.lengths, lengths)
        assert got.cut == 0 and not got.stopped


def test_batched_episodes_of_a_conv_network_on_minatar_give_the_sequential_returns():
    pytest.importorskip("minatar")
    env_id = "MinAtar/Breakout-v1"
    for seed in (0, 1):
        config = Config.for_env(env_id, seed=seed)
        agent = DDQNAgent(*check_spaces(make_env(env_id)), config, "bool")
        expected, _ = sequential_returns(agent, make_env(env_id), 6, CONFIRM_SEED)
        got = play(lambda x: agent.online(x).argmax(axis=1), [make_env(env_id) for _ in range(3)], 6, CONFIRM_SEED)
        np.testing.assert_array_equal(got.returns, expected)


def test_a_trained_run_logs_the_evaluations_the_sequential_evaluation_gives(tmp_path):
    h = train(Config(seed=0, total_steps=3000, eval_interval=1000, progress_interval=0, stop_when_solved=False),
              out_dir=tmp_path / "r")
    agent = DDQNAgent.from_checkpoint(tmp_path / "r" / "last.npz")
    returns, _ = sequential_returns(agent, make_env("CartPole-v1"), 10, EVAL_SEED)
    assert h.evals[-1]["mean"] == returns.mean() and h.evals[-1]["std"] == returns.std()


NO_TIME_LIMIT = textwrap.dedent('''
    import gymnasium as gym
    import numpy as np

    class GoLeft(gym.Env):
        """SB3's custom-env tutorial env: reach cell 0 by going left; no time limit at all."""

        def __init__(self, size=10):
            self.size = size
            self.observation_space = gym.spaces.Box(0, size, (1,), np.float32)
            self.action_space = gym.spaces.Discrete(2)

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.pos = self.size - 1
            return np.array([self.pos], np.float32), {}

        def step(self, action):
            self.pos = min(max(self.pos + (-1 if action == 0 else 1), 0), self.size)
            done = self.pos == 0
            return np.array([self.pos], np.float32), float(done), done, False, {}

    class Forever(GoLeft):
        """Never ends, whatever the agent does; says when an evaluation episode (seed >= 10000) starts."""

        def reset(self, seed=None, options=None):
            if seed is not None and seed >= 10_000:
                open("evaluating", "w").close()
            return super().reset(seed=seed, options=options)

        def step(self, action):
            return np.array([self.pos], np.float32), 0.0, False, False, {}

    gym.register("GoLeft-v0", entry_point=GoLeft)
    gym.register("Forever-v0", entry_point=Forever)
''')


@pytest.fixture
def envs_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                         # Forever's marker file goes there
    (tmp_path / "my_envs.py").write_text(NO_TIME_LIMIT)
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("my_envs", None)


def test_an_env_without_a_time_limit_has_its_evaluation_episodes_cut_and_reported(envs_folder, capsys):
    # before: evaluation played 'while not done' for ever on an episode that never ends
    config = Config(**{**QUICK, "env_id": "my_envs:Forever-v0", "total_steps": 200, "eval_interval": 100,
                       "eval_episodes": 3, "eval_max_steps": 300})                 # silent progress: warned anyway
    h = train(config, out_dir=envs_folder / "r")
    assert [e["cut"] for e in h.evals] == [3, 3] and h.steps == 200
    assert "3 evaluation episode(s) at step 100 were cut at eval_max_steps = 300 steps" in capsys.readouterr().err
    # the default cap ends them too
    assert Config().eval_max_steps > 0
    h = DDQN("my_envs:GoLeft-v0", **{**QUICK, "total_steps": 100, "eval_interval": 100, "eval_episodes": 2}).learn(100)
    assert h.history.evals and h.history.steps == 100


RUN_FOREVER = """
import sys
sys.path.insert(0, sys.argv[1])
from numpy_ddqn import Config, train
h = train(Config(env_id="my_envs:Forever-v0", total_steps=1000, learning_starts=16, batch_size=16, hidden_sizes=(8,),
                 eval_interval=50, eval_max_steps=0, progress_interval=0.01), out_dir=sys.argv[2])
print("reason", h.reason, h.steps)
"""


def test_a_stop_request_ends_an_endless_evaluation_promptly(envs_folder):
    # eval_max_steps=0: the evaluation would never end; SIGINT must still stop the run within a step
    proc = subprocess.Popen([sys.executable, "-c", RUN_FOREVER, str(envs_folder), str(envs_folder / "r")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=envs_folder)
    deadline = time.monotonic() + 60
    while not (envs_folder / "evaluating").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)                                     # inside the endless evaluation at step 50
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10, err
    assert proc.returncode == 0 and "reason interrupted 50" in out, err
    assert (envs_folder / "r" / "last.npz").is_file()


def test_evaluate_policy_has_sb3s_shape_and_held_out_seeds():
    model = DDQN("CartPole-v1", **{**QUICK, "total_steps": 200}).learn(200)
    mean, std = evaluate_policy(model, "CartPole-v1", n_eval_episodes=5)
    returns, lengths = evaluate_policy(model, gym.make("CartPole-v1"), n_eval_episodes=5, return_episode_rewards=True)
    expected, expected_lengths = sequential_returns(model.agent, make_env("CartPole-v1"), 5, HELDOUT_SEED)
    assert returns == expected.tolist() and lengths == expected_lengths.tolist()
    assert (mean, std) == (pytest.approx(expected.mean()), pytest.approx(expected.std()))
    assert evaluate_policy.__defaults__ is not None and HELDOUT_SEED not in (EVAL_SEED, CONFIRM_SEED)
    vector = gym.make_vec("CartPole-v1", num_envs=3)
    assert evaluate_policy(model, vector, n_eval_episodes=5)[0] == pytest.approx(expected.mean())
    with pytest.raises(ValueError, match="below the reward threshold"):
        evaluate_policy(model, "CartPole-v1", n_eval_episodes=2, reward_threshold=10_000)
