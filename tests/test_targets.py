"""DQN and Double-DQN targets against a naive per-sample loop written straight from the papers."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.rl.targets import double_dqn_targets, dqn_targets

batches = dict(B=st.integers(1, 16), A=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
               gamma=st.floats(0.0, 1.0))


def draw(B, A, seed):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=B), (rng.random(B) < 0.3).astype(float),
            rng.normal(size=(B, A)), rng.normal(size=(B, A)))


@given(**batches)
def test_targets_equal_a_naive_loop(B, A, seed, gamma):
    reward, terminated, q_online, q_target = draw(B, A, seed)
    naive_double, naive_dqn = np.empty(B), np.empty(B)
    for i in range(B):
        bootstrap = 0.0 if terminated[i] else 1.0
        a_star = max(range(A), key=lambda a: q_online[i, a])          # selection: online net
        naive_double[i] = reward[i] + gamma * bootstrap * q_target[i, a_star]   # evaluation: target net
        naive_dqn[i] = reward[i] + gamma * bootstrap * max(q_target[i])
    np.testing.assert_allclose(double_dqn_targets(reward, terminated, q_online, q_target, gamma), naive_double)
    np.testing.assert_allclose(dqn_targets(reward, terminated, q_target, gamma), naive_dqn)


@given(**batches)
def test_with_online_equal_to_target_double_equals_dqn(B, A, seed, gamma):
    reward, terminated, q, _ = draw(B, A, seed)
    np.testing.assert_allclose(double_dqn_targets(reward, terminated, q, q, gamma),
                               dqn_targets(reward, terminated, q, gamma))


def test_double_differs_when_the_argmaxes_differ():
    reward, terminated = np.zeros(1), np.zeros(1)
    q_online = np.array([[1.0, 0.0]])        # online picks action 0
    q_target = np.array([[0.0, 5.0]])        # target's max is action 1
    assert double_dqn_targets(reward, terminated, q_online, q_target, 1.0)[0] == 0.0
    assert dqn_targets(reward, terminated, q_target, 1.0)[0] == 5.0


@given(**batches)
def test_terminated_removes_the_bootstrap_term(B, A, seed, gamma):
    reward, _, q_online, q_target = draw(B, A, seed)
    ones = np.ones(B)
    np.testing.assert_array_equal(double_dqn_targets(reward, ones, q_online, q_target, gamma), reward)
    np.testing.assert_array_equal(dqn_targets(reward, ones, q_target, gamma), reward)


def test_truncation_still_bootstraps_in_the_agent():
    """The agent stores terminated only: a truncated (time-limit) transition keeps its bootstrap."""
    from numpy_ddqn.config import Config
    from numpy_ddqn.rl.agent import DDQNAgent
    agent = DDQNAgent(2, 2, Config(learning_starts=10, batch_size=2, buffer_size=10))
    agent.observe(np.ones(2), 0, 1.0, np.ones(2), terminated=False, truncated=True)
    agent.observe(np.ones(2), 1, 1.0, np.ones(2), terminated=True, truncated=False)
    np.testing.assert_array_equal(agent.replay.terminated[:2], [0.0, 1.0])
