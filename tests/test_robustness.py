"""Bad input gets a clear error; faults lose nothing. Each case here is listed in README's table."""
import json
import math
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

gym = pytest.importorskip("gymnasium")
from gymnasium import spaces  # noqa: E402
from helpers import QUICK, cli  # noqa: E402

from numpy_ddqn.checkpoint import load_checkpoint  # noqa: E402
from numpy_ddqn.config import FIELDS, Config, ConfigError, load_config_file  # noqa: E402
from numpy_ddqn.errors import CheckpointError, DivergenceError, EnvError  # noqa: E402
from numpy_ddqn.rl.agent import DDQNAgent  # noqa: E402
from numpy_ddqn.run.loop import train  # noqa: E402


class ToyEnv(gym.Env):
    """A tiny env whose spaces and faults a test chooses."""

    def __init__(self, observation_space=None, action_space=None, bad_at=None, bad="nan_obs", length=20):
        self.observation_space = observation_space or spaces.Box(-1, 1, (3,), np.float32)
        self.action_space = action_space or spaces.Discrete(2)
        self.bad_at, self.bad, self.length, self.t, self.total = bad_at, bad, length, 0, 0

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        self.total += 1
        obs, reward = np.zeros(self.observation_space.shape, np.float32), 1.0
        if self.bad_at is not None and self.total >= self.bad_at:
            if self.bad == "nan_obs":
                obs[0] = np.nan
            elif self.bad == "inf_reward":
                reward = math.inf
            elif self.bad == "huge_reward":
                reward = 1e30
        return obs, reward, False, self.t >= self.length, {}


@pytest.mark.parametrize("env, message", [
    (ToyEnv(action_space=spaces.Box(-1, 1, (1,))), "continuous actions"),
    (ToyEnv(action_space=spaces.MultiDiscrete([2, 3])), "Discrete action space"),
    (ToyEnv(action_space=spaces.Discrete(3, start=1)), "must start at 0"),
    (ToyEnv(observation_space=spaces.Dict({"a": spaces.Box(-1, 1, (2,))})), "FlattenObservation"),
    (ToyEnv(observation_space=spaces.Tuple([spaces.Discrete(2), spaces.Discrete(2)])), "FlattenObservation"),
    (ToyEnv(observation_space=spaces.Box(0, 255, (8, 8), np.uint8)), r"flat \(1-D\) Box or an image \(H, W, C\)"),
    (ToyEnv(observation_space=spaces.Discrete(5)), "flat Box is needed"),
])
def test_unsupported_spaces_are_refused_before_training(env, message):
    with pytest.raises(EnvError, match=message):
        train(Config(**QUICK), env=env, eval_env=env)


def test_image_observations_need_conv_layers():
    env = ToyEnv(observation_space=spaces.Box(0, 255, (8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match=r"observations of shape \(8, 8, 3\) need a network of layers: set layers"):
        train(Config(**QUICK), env=env, eval_env=env)


def test_spec_less_env_needs_an_eval_env_and_eval_env_must_match():
    with pytest.raises(EnvError, match="pass eval_env"):
        train(Config(**{**QUICK, "eval_interval": 100}), env=ToyEnv())
    with pytest.raises(EnvError, match="eval_env has"):
        train(Config(**{**QUICK, "eval_interval": 100}), env=ToyEnv(), eval_env=gym.make("CartPole-v1"))
    h = train(Config(**QUICK), env=ToyEnv())                     # eval_interval=0: no eval env needed
    assert h.steps == 300


def test_eval_copy_keeps_the_env_kwargs():
    env = gym.make("CartPole-v1", max_episode_steps=50)
    h = train(Config(**{**QUICK, "eval_interval": 100, "eval_episodes": 3}), env=env)
    assert all(e["mean"] <= 50 for e in h.evals)                # the copy has the same 50-step limit


def test_unknown_env_id():
    with pytest.raises(EnvError, match="NoSuchEnv-v9"):
        train(Config(**QUICK, env_id="NoSuchEnv-v9"))


@pytest.mark.parametrize("bad, what", [("nan_obs", "observation"), ("inf_reward", "reward")])
def test_non_finite_env_output_is_named(bad, what):
    env = ToyEnv(bad_at=123, bad=bad)
    with pytest.raises(EnvError, match=f"non-finite {what} at env step 123"):
        train(Config(**QUICK), env=env, eval_env=env)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")   # the overflow is the point
def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    env = ToyEnv(bad_at=260, bad="huge_reward")           # finite reward, but its square overflows
    config = Config(**{**QUICK, "eval_interval": 100, "eval_episodes": 1}, max_grad_norm=0.0, loss="mse")
    with pytest.raises(DivergenceError, match=r"diverged at env step 2\d\d.*last good checkpoint is .*last.npz"):
        train(config, env=env, eval_env=ToyEnv(), out_dir=tmp_path)
    agent, state = DDQNAgent.from_checkpoint(tmp_path / "last.npz"), load_checkpoint(tmp_path / "last.npz")
    assert state["agent"]["steps"] == 200 and np.all(np.isfinite(agent.online.flat))
    events = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "diverged"


# -- config -------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("learning_rate", 0.0), ("learning_rate", -1e-3), ("batch_size", 0), ("batch_size", -5),
    ("gamma", -0.1), ("gamma", 1.01), ("epsilon_start", 1.5), ("epsilon_end", -0.1),
    ("activation", "gelu"), ("optimizer", "rmsprop"), ("loss", "l1"), ("dtype", "float16"),
    ("target_update_interval", -1), ("train_freq", 0), ("eval_interval", -1), ("exploration_steps", -1),
    ("tau", 0.0), ("momentum", 1.0), ("max_grad_norm", -1.0), ("hidden_sizes", (0,)), ("hidden_sizes", ()),
    ("learning_rate", math.nan), ("gamma", math.inf), ("epsilon_schedule", "cosine"), ("env_id", ""),
])
def test_each_bad_config_value_names_field_value_and_range(field, value):
    with pytest.raises(ConfigError, match=f"'{field}'") as e:
        Config(**{field: value})
    assert "invalid" in str(e.value) or "must" in str(e.value)


def test_batch_larger_than_capacity_and_nesterov_without_momentum():
    with pytest.raises(ConfigError, match="buffer_size"):
        Config(batch_size=128, buffer_size=64, learning_starts=10)
    with pytest.raises(ConfigError, match="nesterov"):
        Config(optimizer="sgd", nesterov=True)


@pytest.mark.parametrize("text, suffix, message", [
    ('{"learning_rat": 0.1}', ".json", "unknown config field 'learning_rat'"),
    ('{"batch_size": "64"}', ".json", "'batch_size' must be int"),
    ('{"double": 1}', ".json", "'double' must be bool"),
    ('gamma = "high"\n', ".toml", "'gamma' must be float"),
    ('{"gamma": 0.9', ".json", "not valid JSON"),
    ('gamma = = 1', ".toml", "not valid TOML"),
    ('[1, 2]', ".json", "mapping"),
])
def test_bad_config_files(tmp_path, text, suffix, message):
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config_file(path)


values = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                   st.text(max_size=8), st.lists(st.integers(-3, 300), max_size=3), st.sampled_from(
                       ["tanh", "relu", "adam", "sgd", "huber", "mse", "linear", "exponential", "float32"]))


@given(st.dictionaries(st.sampled_from(list(FIELDS) + ["bogus"]), values, max_size=6))
def test_fuzzed_configs_are_valid_or_refused_cleanly(data):
    try:
        config = Config.from_dict(data)
    except ConfigError:
        return
    for name, value in data.items():                     # accepted: every value arrived as given
        got = getattr(config, name)
        assert got == (tuple(value) if isinstance(value, list) else value)
    assert 0 <= config.gamma <= 1 and config.learning_rate > 0 and config.batch_size <= config.buffer_size


# -- checkpoints ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "last.npz"
    h = train(Config(**{**QUICK, "total_steps": 120, "learning_starts": 30}), out_dir=path.parent)
    return path, h.agent.online.flat.copy()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_checkpoint_bytes_never_load_wrongly(good_checkpoint, tmp_path_factory, data):
    path, weights = good_checkpoint
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[i]))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    bad = tmp_path_factory.mktemp("bad") / "c.npz"
    bad.write_bytes(bytes(raw))
    try:
        agent = DDQNAgent.from_checkpoint(bad, 4, 2)
    except CheckpointError:
        return
    np.testing.assert_array_equal(agent.online.flat, weights)   # if it loads, it loads right


def test_kill_during_checkpoint_writes_never_damages_the_last_good_one(tmp_path):
    path = tmp_path / "c.npz"
    writer = textwrap.dedent(f"""
        import numpy as np
        from numpy_ddqn.checkpoint import save_checkpoint
        big = np.random.default_rng(0).normal(size=2_000_000)
        i = 0
        while True:
            i += 1
            save_checkpoint({str(path)!r}, {{"i": i, "x": big + i}})
    """)
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", writer])
        deadline = time.time() + 30
        while not path.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3 + 0.2 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = load_checkpoint(path)                     # always a complete checkpoint
        assert state["x"][0] - np.random.default_rng(0).normal(size=1)[0] == pytest.approx(state["i"])


# -- the CLI --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["train", "--gamma", "2"], ["train", "--env", "MountainCarContinuous-v0"], ["train", "--env", "Nope-v1"],
    ["train", "--config", "missing.toml"], ["evaluate", "missing.npz"], ["summary", "."], ["plot", "nowhere"],
])
def test_cli_errors_are_one_line_without_traceback_and_debug_shows_it(tmp_path, args):
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("numpy-ddqn: error: ")
    debug = cli("--debug", *args, cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_cli_bad_checkpoints(tmp_path, good_checkpoint):
    (tmp_path / "junk.npz").write_bytes(b"junk")
    out = cli("evaluate", tmp_path / "junk.npz")
    assert out.returncode == 1 and "truncated or corrupt" in out.stderr
    out = cli("evaluate", good_checkpoint[0], "--env", "Acrobot-v1")
    assert out.returncode == 1 and "4 observations and 2 actions" in out.stderr
