"""Bad inputs taken silently or answered with a traceback before: each is now one line (or a warning).

Channels-first images, observation values outside their declared dtype, NaN/inf/object/complex observations
to act on, a million envs, instances with different spaces, a crashing async worker, a video name with
another suffix, a path as a module name, deeply nested env kwargs, a tampered policy file.
"""
import io
import json
import os
import textwrap

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from helpers import QUICK, cli  # noqa: E402

from numpy_ddqn import DDQN  # noqa: E402
from numpy_ddqn.config import Config  # noqa: E402
from numpy_ddqn.errors import ConfigError, EnvError  # noqa: E402
from numpy_ddqn.policy import FORMAT, Policy  # noqa: E402
from numpy_ddqn.run.envs import check_vector_size, observation_warnings  # noqa: E402
from numpy_ddqn.run.loop import train  # noqa: E402

CONV = dict(QUICK, layers="conv4x3,relu,flatten", total_steps=60, learning_starts=20, batch_size=8)


class Frames(gym.Env):
    """Image observations of ``shape`` and declared ``dtype``; ``values(t)`` gives step t's frame values."""
    action_space = gym.spaces.Discrete(2)

    def __init__(self, shape=(6, 6, 2), dtype=np.uint8, high=255, values=None):
        self.observation_space = gym.spaces.Box(0, high, shape, dtype)
        self.values = values or (lambda t: 1)
        self.t = 0

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(self.observation_space.shape, self.observation_space.dtype), {}

    def step(self, action):
        self.t += 1
        obs = np.full(self.observation_space.shape, self.values(self.t))
        return obs, 0.0, False, self.t % 10 == 0, {}


# -- 4, 5: images read the wrong way round, values their dtype cannot hold ------------------------

def test_a_channels_first_image_is_warned_about_naming_the_fix(capsys):
    train(Config(**{**CONV, "progress_interval": 60.0}), Frames((3, 10, 10), np.float32, 1.0))
    err = capsys.readouterr().err
    assert ("warning: Frames's observations (3, 10, 10) look channels-first (C, H, W) but are read as (H, W, C) = "
            "(3, 10, 10); if so, make them channels-last with gymnasium.wrappers.TransformObservation") in err
    for shape in [(10, 10, 3), (10, 10, 4), (210, 160, 3), (4, 4, 4), (10, 10, 12)]:
        assert observation_warnings(Frames(shape, np.float32, 1.0)) == [], shape


@pytest.mark.parametrize("dtype, values, bad, stored", [
    (bool, lambda t: 2 if t >= 7 else 1, "2", "True"),                 # a bool Box returning 0 and 2..255
    (np.uint8, lambda t: np.int64(511) if t >= 7 else np.int64(3), "511", "255"),   # int64 values that wrap
    (np.uint8, lambda t: 1.5 if t >= 7 else 1.0, "1.5", "1"),
])
def test_observation_values_their_declared_dtype_cannot_hold_are_refused(dtype, values, bad, stored):
    env = Frames((6, 6, 2), dtype, 1 if dtype is bool else 255, values)
    with pytest.raises(EnvError, match=rf"Frames returned an observation holding {bad} at env step 7, "
                                       rf"which its observation space's dtype {np.dtype(dtype)} cannot hold \(it would "
                                       rf"be stored as {stored}\); fix the env's values or declare a wider dtype"):
        train(Config(**CONV), env)


def test_values_a_cast_keeps_are_taken():
    history = train(Config(**CONV), Frames((6, 6, 2), bool, 1, lambda t: 1.0))      # 0.0 / 1.0 for a bool Box
    assert history.steps == CONV["total_steps"]
    assert train(Config(**CONV), Frames((6, 6, 2), np.uint8, 255, lambda t: np.int64(200))).steps == 60


def test_a_uint16_image_is_said_to_be_trained_unscaled(capsys):
    train(Config(**{**CONV, "progress_interval": 60.0}), Frames((6, 6, 2), np.uint16, 65535, lambda t: 40000))
    assert ("warning: Frames's observations are uint16 with values up to 65,535, and are trained unscaled; scale "
            "them to about [0, 1]") in capsys.readouterr().err


# -- 6: acting on NaN, inf, objects, complex numbers ----------------------------------------------

BAD_OBSERVATIONS = [
    (np.array([0.1, np.nan, 0.0, 0.0]), "observations must be finite"),
    ([0.1, np.inf, 0.0, 0.0], "observations must be finite"),
    (np.array([[0.1, 0.2, 0.0, 0.0], [0.0, 0.0, -np.inf, 0.0]], np.float32), "observations must be finite"),
    (np.array([1e39, 0.0, 0.0, 0.0]), "observations must be finite"),          # overflows float32
    (np.array([0.1, 0.2, 0.3, None], dtype=object), "must be real numbers, got an array of dtype object"),
    (np.array([0.1, 0.2, 0.3, 0.4]) + 1j, "must be real numbers, got an array of dtype complex128"),
    (["a", "b", "c", "d"], "must be real numbers, got an array of dtype <U1"),
]


@pytest.fixture(scope="module")
def model():
    m = DDQN("CartPole-v1", **{**QUICK, "total_steps": 100})
    return m.learn(100)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")      # 1e39 as float32, then refused
@pytest.mark.parametrize("obs, message", BAD_OBSERVATIONS)
def test_acting_refuses_observations_that_are_not_finite_real_numbers(model, obs, message):
    policy = model.policy()
    for act in (model.predict, model.q_values, policy.act, policy.q_values):
        with pytest.raises(ValueError, match=message):
            act(obs)


def test_acting_on_good_observations_is_unchanged(model):
    obs = np.array([0.01, -0.02, 0.03, 0.04], np.float32)
    assert model.predict(obs)[0] == model.policy().act(obs) == int(model.q_values(obs).argmax())
    with np.errstate(over="ignore"):                    # finite values whose sum overflows: still taken
        assert model.predict(np.full(4, 3e38, np.float32))[0] in (0, 1)
    assert model.predict([[0, 0, 0, 0], [1, 1, 1, 1]])[0].shape == (2,)      # ints and lists


# -- 7, 8, 9: vector envs ---------------------------------------------------------------------------

def test_a_million_envs_are_refused_before_any_is_made(tmp_path):
    with pytest.raises(ConfigError, match=r"num_envs = 1,000,000 \(sync\) needs about 64.0 GB for its envs "
                                          r"\(64.0 kB each\), but only 8.0 GB is available; lower num_envs"):
        check_vector_size(Config(num_envs=1_000_000), available=8 * 10**9)
    with pytest.raises(ConfigError, match=r"num_envs = 1,000 with --vector async starts one process per env, but "
                                          r"this machine allows 500 more; lower num_envs \(or use --vector sync\)"):
        check_vector_size(Config(num_envs=1000, vector="async"), available=10**15, max_processes=500)
    check_vector_size(Config(num_envs=8, vector="async"), available=8 * 2**30, max_processes=500)
    out = cli("train", "--num-envs", "1000000", "--vector", "async", "--out", tmp_path / "r", timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("numpy-ddqn: error: num_envs = 1,000,000 ")
    assert not (tmp_path / "r").exists()


ODD_ENVS = textwrap.dedent('''
    import numpy as np
    import gymnasium as gym

    class Growing(gym.Env):
        """Each instance made in a process observes one more value than the one before."""
        made = 0
        action_space = gym.spaces.Discrete(2)

        def __init__(self):
            Growing.made += 1
            self.observation_space = gym.spaces.Box(-1, 1, (Growing.made,), np.float32)

        def reset(self, seed=None, options=None):
            return np.zeros(self.observation_space.shape, np.float32), {}

        def step(self, action):
            return np.zeros(self.observation_space.shape, np.float32), 0.0, False, False, {}

    class Crashing(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def reset(self, seed=None, options=None):
            self.t = 0
            return np.zeros(2, np.float32), {}

        def step(self, action):
            self.t += 1
            if self.t == 30:
                raise ConnectionError("simulator connection lost")
            return np.zeros(2, np.float32), 0.0, False, False, {}
''')


@pytest.fixture
def odd_envs(tmp_path, monkeypatch):
    (tmp_path / "odd_envs.py").write_text(ODD_ENVS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    return tmp_path


@pytest.mark.parametrize("vector", ["sync", "async"])
def test_instances_with_different_spaces_are_one_line(odd_envs, vector):
    out = cli("train", "--env", "odd_envs:Growing", "--num-envs", "2", "--vector", vector, "--eval-interval", "0",
              "--steps", "100", "--out", odd_envs / vector, cwd=odd_envs)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines() == [
        out.stderr.strip().splitlines()[0]] and "numpy-ddqn: error: the 2 instances of odd_envs:Growing have " \
        "different spaces, so they cannot be stepped as one vector env" in out.stderr


def test_a_crashing_async_worker_is_one_line_and_debug_shows_its_trace(odd_envs):
    flags = ["train", "--env", "odd_envs:Crashing", "--num-envs", "2", "--vector", "async", "--eval-interval", "0",
             "--steps", "1000", "--progress-interval", "0"]
    out = cli(*flags, "--out", odd_envs / "r", cwd=odd_envs)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("numpy-ddqn: error: odd_envs:Crashing.step() raised at env step ")
    assert "ConnectionError: simulator connection lost; saved at that step" in lines[0]
    debug = cli("--debug", *flags, "--out", odd_envs / "d", cwd=odd_envs)
    assert "Traceback" in debug.stderr and 'raise ConnectionError("simulator connection lost")' in debug.stderr


# -- 10, 11, 12: the CLI ----------------------------------------------------------------------------

def test_record_refuses_a_file_name_it_cannot_write_before_playing(tmp_path):
    assert cli("train", "--out", tmp_path / "r", "--steps", 100, "--eval-interval", 0, "--learning-starts", 50,
               "--progress-interval", 0).returncode == 0
    out = cli("record", tmp_path / "r" / "last.npz", "--out", tmp_path / "v.txt")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (f"numpy-ddqn: error: record writes .mp4 or .gif files, not '.txt' ({tmp_path / 'v.txt'}); "
                                  f"name the output like video.mp4 or video.gif")


@pytest.mark.parametrize("env_id", ["../../etc/passwd:X-v0", "/etc/passwd:X-v0", "a b:X-v0"])
def test_a_path_is_not_a_module_name(tmp_path, env_id):
    out = cli("train", "--env", env_id, "--steps", 10, cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    module = env_id.rsplit(":", 1)[0]
    assert out.stderr.strip() == (f"numpy-ddqn: error: cannot make environment '{env_id}': module {module!r} is not a "
                                  f"Python module name (dotted identifiers, like my_package.envs)")
    out = cli("train", "--env-module", "../x", "--steps", 10, cwd=tmp_path)
    assert out.returncode == 1 and "--env-module '../x' module '../x' is not a Python module name" in out.stderr


def test_deeply_nested_env_kwargs_are_one_line(tmp_path):
    deep = '{"a": ' * 5000 + "1" + "}" * 5000
    out = cli("train", "--env-kwargs", deep, "--steps", 10, cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == ("numpy-ddqn: error: config field 'env_kwargs' (35,001 characters) is invalid: "
                                  "nested too deeply to be read")
    for suffix, text in [(".toml", "env_kwargs = " + "{a = " * 3000 + "1" + "}" * 3000),
                         (".json", '{"env_kwargs": ' + deep + "}")]:
        path = tmp_path / f"deep{suffix}"
        path.write_text(text + "\n")
        out = cli("train", "--config", path, "--steps", 10, cwd=tmp_path)
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert out.stderr.strip() == f"numpy-ddqn: error: config file {path} is nested too deeply to be read"


# -- 13: the standalone policy file, tampered ----------------------------------------------------

def write_policy(path, meta, arrays):
    buf = io.BytesIO()
    np.savez(buf, **({"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)} if meta is not None else {}),
             **arrays)
    path.write_bytes(buf.getvalue())
    return path


def mlp_arrays(sizes=(4, 8, 2), dtype=np.float32):
    rng = np.random.default_rng(0)
    out = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        out[f"W{i}"], out[f"b{i}"] = rng.normal(size=(a, b)).astype(dtype), np.zeros(b, dtype)
    return out


MLP_META = {"format": FORMAT, "activation": "tanh", "env_id": "CartPole-v1", "head": "linear", "sizes": [4, 8, 2]}
CONV_META = {"format": FORMAT, "activation": "tanh", "env_id": None, "head": "linear", "sizes": [36, 4, 2],
             "layers": "conv4x3,relu,flatten", "obs_shape": [3, 3, 4]}
CONV_ARRAYS = {"W0": np.zeros((3, 3, 4, 4), np.float32), "b0": np.zeros(4, np.float32),
               "W1": np.zeros((4, 2), np.float32), "b1": np.zeros(2, np.float32)}


@pytest.mark.parametrize("meta, arrays, message", [
    ({**CONV_META, "sizes": [36, 2]}, {k: CONV_ARRAYS[k] for k in ("W0", "b0")},
     r"layers 'conv4x3,relu,flatten' need 2 weight pairs, the file has 1"),       # fewer arrays than layers
    ({k: v for k, v in MLP_META.items() if k != "sizes"}, mlp_arrays(),
     r"meta 'sizes' must be a list of at least two positive layer widths, got None"),
    ([1, 2, 3], mlp_arrays(), r"its meta entry is a list, not a JSON object"),
    ({**MLP_META, "sizes": "abc"}, mlp_arrays(), r"meta 'sizes' must be a list .* got 'abc'"),
    ({**MLP_META, "sizes": [4, 64]}, mlp_arrays((4, 64, 2)), r"meta 'sizes' \[4, 64\] names 1 layers, but the file "
                                                             r"also holds W1, b1"),
    (MLP_META, {k: v for k, v in mlp_arrays().items() if k != "W1"}, r"meta 'sizes' \[4, 8, 2\] names 2 layers, but "
                                                                    r"the file has no W1"),
    ({**MLP_META, "sizes": [4, 8, 3]}, mlp_arrays(), r"W1 \(8, 2\) and b1 \(2,\) do not match meta 'sizes' \[4, 8, 3\]"),
    (MLP_META, {**mlp_arrays(), "W1": np.zeros((8, 2), np.int64)}, r"weights must share one floating dtype, got "
                                                                   r"\['float32', 'int64'\]"),
    (MLP_META, mlp_arrays(dtype=np.complex64), r"weights must share one floating dtype, got \['complex64'\]"),
    ({**MLP_META, "format": "other/1"}, mlp_arrays(), r"has format 'other/1'"),
    (None, mlp_arrays(), r"not a numpy_ddqn policy file \(no meta entry\)"),
    ({**CONV_META, "obs_shape": "x"}, CONV_ARRAYS, r"meta 'obs_shape' must be a list of positive sizes, got 'x'"),
])
def test_a_tampered_policy_file_is_refused_in_one_line(tmp_path, meta, arrays, message):
    path = write_policy(tmp_path / "p.npz", meta, arrays)
    with pytest.raises(ValueError, match=message) as caught:
        Policy.load(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_sound_policy_files_still_load(tmp_path):
    policy = Policy.load(write_policy(tmp_path / "p.npz", MLP_META, mlp_arrays()))
    assert policy.n_actions == 2 and policy.act(np.zeros(4)) in (0, 1)
    conv = Policy.load(write_policy(tmp_path / "c.npz", CONV_META, CONV_ARRAYS))
    assert conv.act(np.zeros((3, 3, 4))) == 0


class Unpickled:
    """Creates a file when unpickled: a policy file must never get that far."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_policy_file_is_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    evil = np.empty(1, dtype=object)
    evil[0] = Unpickled(str(marker))
    for name in ("W0", "meta"):
        arrays = {**mlp_arrays(), name: evil}
        buf = io.BytesIO()
        np.savez(buf, **({"meta": np.frombuffer(json.dumps(MLP_META).encode(), np.uint8)} if name != "meta" else {}),
                 **arrays)
        path = tmp_path / f"evil-{name}.npz"
        path.write_bytes(buf.getvalue())
        with pytest.raises(ValueError, match="is not a sound policy file: Object arrays cannot be loaded"):
            Policy.load(path)
        assert not marker.exists()
    np.save(tmp_path / "one.npy", evil, allow_pickle=True)
    with pytest.raises(ValueError, match="cannot be read as a policy file"):
        Policy.load(tmp_path / "one.npy")
    assert not marker.exists()
