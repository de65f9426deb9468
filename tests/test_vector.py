"""Vector envs (gymnasium.vector, next-step autoreset): the replay holds exactly the transitions that
happened, none across a reset; truncated ones bootstrap from their real final observation; terminated
alone stops bootstrapping. Proved on an env whose correct replay content is known by construction."""
import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from numpy_ddqn.config import Config  # noqa: E402
from numpy_ddqn.run.loop import train  # noqa: E402


def length(k):
    """Episode k of a Ledger lasts 2, 3 or 4 steps."""
    return 2 + k % 3


class Ledger(gym.Env):
    """obs = [tag, episode k, step t]; the reward is 10k + t; episode k ends terminated if k is even,
    truncated (a time limit) if odd. ``tag`` is the seed of its first reset: one per env of a vector env."""
    observation_space = gym.spaces.Box(-1e6, 1e6, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.tag, self.k = seed, -1
        self.k, self.t = self.k + 1, 0
        return self._obs(), {}

    def _obs(self):
        return np.array([self.tag, self.k, self.t], np.float32)

    def step(self, action):
        self.t += 1
        end = self.t >= length(self.k)
        return self._obs(), 10.0 * self.k + self.t, end and self.k % 2 == 0, end and self.k % 2 == 1, {}


def replay_of(num_envs, steps=200, vector="sync", seed=7):
    config = Config(num_envs=num_envs, vector=vector, total_steps=steps, learning_starts=steps, batch_size=8, n_step=1,
                    buffer_size=1000, eval_interval=0, progress_interval=0.0, hidden_sizes=(4,), seed=seed)
    env = (Ledger() if num_envs == 1 else
           (gym.vector.SyncVectorEnv if vector == "sync" else gym.vector.AsyncVectorEnv)([Ledger] * num_envs))
    h = train(config, env=env)
    r = h.agent.replay
    return h, r.obs[:r.size], r.action[:r.size], r.reward[:r.size], r.next_obs[:r.size], r.terminated[:r.size]


@pytest.mark.parametrize("num_envs", [1, 2, 5])
def test_the_replay_holds_exactly_the_transitions_that_happened(num_envs):
    h, obs, action, reward, next_obs, terminated = replay_of(num_envs)
    assert h.steps == 200 and len(obs) == 200
    tag, k, t = obs.T.astype(int)
    # no transition crosses a reset: s' is the next step of the same episode of the same env
    np.testing.assert_array_equal(next_obs[:, 0], obs[:, 0])
    np.testing.assert_array_equal(next_obs[:, 1], obs[:, 1])
    np.testing.assert_array_equal(next_obs[:, 2], obs[:, 2] + 1)
    np.testing.assert_array_equal(reward, 10.0 * k + t + 1)
    ends = t + 1 == np.array([length(e) for e in k])
    # terminated only where an even episode ended; a truncated (odd) one is stored as not terminal, and
    # its s' is the real final observation (t = length), which it bootstraps from
    np.testing.assert_array_equal(terminated, (ends & (k % 2 == 0)).astype(np.float32))
    assert np.any(ends & (k % 2 == 1)) and np.all(next_obs[ends][:, 2] == [length(e) for e in k[ends]])
    # nothing lost, nothing twice: each env's transitions are all those of its episodes so far, in order
    assert sorted(set(tag)) == list(range(7, 7 + num_envs))
    for env_tag in set(tag):
        mine = [(e, s) for e, s in zip(k[tag == env_tag], t[tag == env_tag])]
        expected = [(e, s) for e in range(100) for s in range(length(e))][:len(mine)]
        assert mine == expected
    # the episodes the run counted are the ones that ended
    assert h.episodes == int(ends.sum())


def test_async_vector_envs_store_the_same_transitions_as_sync():
    sync = replay_of(3, steps=90)
    async_ = replay_of(3, steps=90, vector="async")
    for a, b in zip(sync[1:], async_[1:]):
        np.testing.assert_array_equal(a, b)


def test_vector_envs_from_the_config_learn_and_evaluate(tmp_path):
    from numpy_ddqn.run.runlog import read_log
    h = train(Config(num_envs=4, total_steps=2000, learning_starts=200, batch_size=32, hidden_sizes=(16,),
                     eval_interval=1000, eval_episodes=2, progress_interval=0.0, stop_when_solved=False),
              out_dir=tmp_path)
    assert h.steps == 2000 and [e["step"] for e in h.evals] == [1000, 2000] and h.agent.updates > 0
    envs = {r["env"] for r in read_log(tmp_path) if r["kind"] == "episode"}
    assert envs == {0, 1, 2, 3}
