"""Pixels end to end: frame replay (own dtype, bits for 0/1 frames), image spaces, the layers config, MinAtar
(registration, presets, a smoke run that learns), checkpoints and the exported NumPy-only policy of a conv net."""
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn import Config, train
from numpy_ddqn.checkpoint import agent_policy
from numpy_ddqn.errors import ConfigError, EnvError
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.rl.memory import plan_memory
from numpy_ddqn.rl.prioritized import PrioritizedReplayBuffer
from numpy_ddqn.rl.replay import ReplayBuffer

gym = pytest.importorskip("gymnasium")
MINATAR = "MinAtar/Breakout-v1"

def prioritized_sample(buf, batch_size, rng, beta):
    """``(batch, indices, weights)`` of one prioritized ``sample``."""
    batch = buf.sample(batch_size, rng, beta)
    return batch, batch.indices, batch.weights



def frames(n, shape, seed, dtype=bool):
    rng = np.random.default_rng(seed)
    return (rng.random((n, *shape)) < 0.3).astype(dtype)


# -- replay of frames ------------------------------------------------------------------------------


@given(capacity=st.integers(1, 12), n=st.integers(1, 30), shape=st.sampled_from([(3, 3, 2), (10, 10, 4), (5, 7, 1)]),
       obs_dtype=st.sampled_from(["bool", "uint8"]), seed=st.integers(0, 2**32 - 1))
def test_frames_come_back_exactly_as_stored_in_the_network_dtype(capacity, n, shape, obs_dtype, seed):
    buf = ReplayBuffer(capacity, shape, np.float32, obs_dtype=obs_dtype)
    obs, nxt = frames(n, shape, seed, obs_dtype), frames(n, shape, seed + 1, obs_dtype)
    for i in range(n):
        buf.add(obs[i], i % 3, float(i), nxt[i], i % 2 == 0)
    rows = np.arange(min(n, capacity))                 # row r holds the last transition written there
    batch = buf.gather(rows)
    src = [max(i for i in range(n) if i % capacity == r) for r in rows]
    assert batch.obs.dtype == np.float32 and batch.obs.shape == (len(rows), *shape)
    np.testing.assert_array_equal(batch.obs, obs[src].astype(np.float32))
    np.testing.assert_array_equal(batch.next_obs, nxt[src].astype(np.float32))
    np.testing.assert_array_equal(batch.reward, np.array(src, np.float32))


def test_minatar_frames_take_one_bit_a_cell_and_100k_transitions_fit_in_25_mb():
    bits = ReplayBuffer(100_000, (10, 10, 4), np.float32, store_discount=True, obs_dtype="bool")
    assert bits.obs.shape == (100_000, 50) and bits.obs.dtype == np.uint8         # 400 cells in 50 bytes
    assert bits.bytes_per_transition == 2 * 50 + 8 + 3 * 4 == 120
    assert bits.nbytes == 12_000_000 <= 25_000_000
    assert ReplayBuffer(10, (10, 10, 4), obs_dtype="uint8").bytes_per_transition == 2 * 400 + 8 + 2 * 4
    assert ReplayBuffer(10, (10, 10, 4)).bytes_per_transition == 2 * 1600 + 8 + 2 * 4       # as float32
    assert ReplayBuffer(10, 4).bytes_per_transition == 48                                     # CartPole: unchanged
    config = Config.for_env(MINATAR)
    plan = plan_memory(config, (10, 10, 4), 3, "bool")
    assert plan.bytes_per_transition == 120 and plan.capacity == 100_000


def test_prioritized_replay_and_checkpoint_state_of_packed_frames():
    buf = PrioritizedReplayBuffer(8, (4, 4, 3), np.float32, obs_dtype="bool")
    obs = frames(5, (4, 4, 3), 0)
    for i in range(5):
        buf.add(obs[i], 0, 0.0, obs[i], False)
    batch, idx, _ = prioritized_sample(buf, 3, np.random.default_rng(0), 0.4)
    np.testing.assert_array_equal(batch.obs, obs[idx].astype(np.float32))
    other = PrioritizedReplayBuffer(8, (4, 4, 3), np.float32, obs_dtype="bool")
    other.load_state_dict(buf.state_dict())
    np.testing.assert_array_equal(other.gather(np.arange(5)).obs, obs.astype(np.float32))


def test_an_unknown_storage_is_refused():
    with pytest.raises(ValueError, match="obs_dtype"):
        ReplayBuffer(4, (2, 2, 1), obs_dtype="int4")


# -- the layers config and image spaces --------------------------------------------------------------


def test_layers_config_is_validated_in_one_line_and_accepts_a_list():
    with pytest.raises(ConfigError, match=r"config field 'layers' = 'conv16x3,pool' is invalid: unknown layer 'pool'"):
        Config(layers="conv16x3,pool")
    assert Config.from_dict({"layers": ["conv16x3", "relu", "dense128", "relu"]}).layers == "conv16x3,relu,dense128,relu"
    with pytest.raises(ConfigError, match="for observations of shape \\(4,\\).*needs image input"):
        DDQNAgent(4, 2, Config(layers="conv16x3,relu"))
    with pytest.raises(ConfigError, match="need a network of layers"):
        DDQNAgent((10, 10, 4), 3, Config())


class ImageEnv(gym.Env):
    """Frames of 0/1 pixels: the reward is 1 for action 1 when the top-left pixel is lit, else 0."""

    def __init__(self, dtype=bool):
        self.observation_space = gym.spaces.Box(0, 1, (5, 5, 2), dtype)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._frame(), {}

    def _frame(self):
        self.frame = (self.np_random.random((5, 5, 2)) < 0.5).astype(self.observation_space.dtype)
        return self.frame

    def step(self, action):
        reward = float(action == int(self.frame[0, 0, 0]))
        self.t += 1
        return self._frame(), reward, False, self.t >= 20, {}


def test_image_spaces_pass_the_checks_and_a_flat_box_still_goes_to_the_mlp():
    from numpy_ddqn.run.envs import check_spaces, observation_storage
    assert check_spaces(ImageEnv()) == ((5, 5, 2), 2)
    assert observation_storage(ImageEnv()) == "bool" and observation_storage(ImageEnv(np.uint8)) == "uint8"
    cartpole = gym.make("CartPole-v1")
    assert check_spaces(cartpole) == (4, 2) and observation_storage(cartpole) is None
    two_d = ImageEnv()
    two_d.observation_space = gym.spaces.Box(0, 1, (5, 5), np.float32)
    with pytest.raises(EnvError, match=r"observation space has shape \(5, 5\); a flat \(1-D\) Box or an image"):
        check_spaces(two_d)


@pytest.mark.parametrize("dtype", [bool, np.uint8])
def test_a_conv_agent_learns_a_pixel_rule_and_resumes_from_its_checkpoint(dtype, tmp_path):
    config = Config(layers="conv4x3,relu,flatten,dense16,relu", total_steps=1_500, learning_starts=100, batch_size=16,
                    buffer_size=2_000, eval_interval=0, progress_interval=0, stop_when_solved=False,
                    exploration_steps=600, learning_rate=3e-3, n_step=1, gamma=0.0, target_update_interval=50)
    h = train(config, env=ImageEnv(dtype), out_dir=tmp_path / "run")
    agent = h.agent
    assert agent.replay.obs.dtype == np.uint8 and agent.obs_dtype == ("bool" if dtype is bool else "uint8")
    test = (np.random.default_rng(5).random((200, 5, 5, 2)) < 0.5)
    accuracy = np.mean([agent.act(f, greedy=True) == int(f[0, 0, 0]) for f in test])
    assert accuracy > 0.9, accuracy                 # chance is 0.5
    loaded = DDQNAgent.from_checkpoint(tmp_path / "run" / "last.npz", (5, 5, 2), 2)
    np.testing.assert_array_equal(loaded.online.flat, agent.online.flat)
    np.testing.assert_array_equal(loaded.replay.obs, agent.replay.obs)
    from numpy_ddqn.errors import CheckpointError
    with pytest.raises(CheckpointError, match=r"with \(5, 5, 2\) observations and 2 actions; this env has \(5, 5, 3\)"):
        DDQNAgent.from_checkpoint(tmp_path / "run" / "last.npz", (5, 5, 3), 2)
    resumed = train(config.replace(total_steps=1_600), env=ImageEnv(dtype), resume=tmp_path / "run" / "last.npz")
    assert resumed.steps == 1_600


def test_the_exported_policy_of_a_conv_net_acts_like_the_agent_with_numpy_alone(tmp_path):
    from numpy_ddqn.policy import Policy
    for dueling in (False, True):
        config = Config(layers="conv4x3s2same,tanh,conv3x2,relu,flatten,dense8,relu", dueling=dueling)
        agent = DDQNAgent((7, 6, 3), 3, config, "bool")
        agent.online.flat[...] = np.random.default_rng(0).normal(size=agent.online.n_params) * 0.3
        obs = frames(16, (7, 6, 3), 1)
        path = agent_policy(agent).save(tmp_path / f"policy{dueling}.npz")
        code = (f"import sys, numpy as np; sys.modules['gymnasium'] = None; sys.path.insert(0, {str(tmp_path)!r}); "
                f"from policy import Policy; p = Policy.load({str(path)!r}); "
                f"obs = np.load({str(tmp_path / 'obs.npy')!r}); print(p.act(obs).tolist()); print(p.act(obs[0]))")
        np.save(tmp_path / "obs.npy", obs)
        import numpy_ddqn.policy as policy_module
        (tmp_path / "policy.py").write_text(open(policy_module.__file__).read())    # the file alone, copied
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        expected = agent.online(obs).argmax(axis=1)
        batch, single = out.stdout.splitlines()
        assert json.loads(batch) == expected.tolist() and int(single) == expected[0]
        np.testing.assert_allclose(Policy.load(path).q_values(obs), agent.online(obs), rtol=1e-5, atol=1e-6)
        assert Policy.load(path).n_actions == 3               # a dueling conv policy counted one action short
        with pytest.raises(ValueError, match=r"expected an observation of shape \(7, 6, 3\)"):
            Policy.load(path).act(np.zeros(126))


# -- MinAtar -----------------------------------------------------------------------------------------


def test_minatar_ids_are_registered_on_first_use_with_their_preset():
    pytest.importorskip("minatar")
    from numpy_ddqn.config import preset_name
    from numpy_ddqn.run.envs import check_spaces, env_from_config
    env = env_from_config(Config.for_env(MINATAR))
    assert check_spaces(env) == ((10, 10, 4), 3)
    assert check_spaces(env_from_config(Config.for_env("MinAtar/SpaceInvaders-v1"))) == ((10, 10, 6), 4)
    c = Config.for_env(MINATAR)
    assert preset_name(MINATAR) == MINATAR
    assert (c.layers, c.batch_size, c.buffer_size, c.target_update_interval, c.epsilon_end, c.exploration_steps) == (
        "conv16x3,relu,flatten,dense128,relu", 32, 100_000, 1_000, 0.1, 100_000)


def test_without_minatar_the_error_names_the_extra(monkeypatch):
    from numpy_ddqn.errors import MissingDependency
    from numpy_ddqn.run.envs import make_env
    monkeypatch.setitem(sys.modules, "minatar", None)
    monkeypatch.setitem(sys.modules, "minatar.gym", None)
    ids = [k for k in gym.registry if k.startswith("MinAtar/")]
    saved = {k: gym.registry.pop(k) for k in ids}
    try:
        with pytest.raises(MissingDependency, match=r"needs the 'minatar' package: pip install 'numpy_ddqn\[minatar\]'"):
            make_env("MinAtar/Asterix-v1")
    finally:
        gym.registry.update(saved)


def test_minatar_smoke_run_learns_breakout_beyond_random_in_seconds():
    """1,500 frames of a small conv net (seed 0): the greedy agent breaks several times more bricks than chance."""
    pytest.importorskip("minatar")
    from numpy_ddqn.run.envs import make_env
    from numpy_ddqn.run.evaluate import evaluate
    config = Config.for_env(MINATAR, seed=0, total_steps=1_500, learning_starts=300, exploration_steps=750,
                            buffer_size=5_000, eval_interval=0, progress_interval=0, learning_rate=1e-3,
                            target_update_interval=250, layers="conv8x3,relu,flatten,dense32,relu")
    h = train(config)
    env = make_env(MINATAR)
    trained = evaluate(lambda o: h.agent.act(o, greedy=True), env, 20).mean()
    rng = np.random.default_rng(0)
    chance = evaluate(lambda o: int(rng.integers(3)), env, 20).mean()
    assert trained >= 1.0 and trained >= 3 * chance, (trained, chance)


def test_minatar_frames_become_video_frames():
    """MinAtar renders 10x10 float RGB in [0, 1]: as uint8 pixels, each cell a 16x16 block; CartPole's frames pass."""
    from numpy_ddqn.cli.record import as_video_frame
    frame = np.zeros((10, 10, 3))
    frame[2, 3] = (1.0, 0.5, 0.0)
    video = as_video_frame(frame)
    assert video.dtype == np.uint8 and video.shape == (160, 160, 3)
    assert video[2 * 16 + 5, 3 * 16 + 7].tolist() == [255, 128, 0] and video[0, 0].tolist() == [0, 0, 0]
    cartpole = np.full((400, 600, 3), 7, np.uint8)
    assert as_video_frame(cartpole) is cartpole
