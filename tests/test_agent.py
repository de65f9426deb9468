"""The agent's learning step: gradient of one update, a bandit, target sync, determinism, state."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.config import Config
from numpy_ddqn.nn import numeric_grad, td_loss
from numpy_ddqn.rl.agent import DDQNAgent, DivergenceError
from numpy_ddqn.rl.replay import Batch
from numpy_ddqn.rl.schedules import ExponentialSchedule, LinearSchedule
from numpy_ddqn.rl.targets import double_dqn_targets, dqn_targets


def random_batch(rng, B, obs_dim, A):
    return Batch(rng.normal(size=(B, obs_dim)), rng.integers(0, A, size=B), rng.normal(size=B),
                 rng.normal(size=(B, obs_dim)), (rng.random(B) < 0.3).astype(float))


@given(B=st.integers(1, 8), obs_dim=st.integers(1, 5), A=st.integers(1, 4), double=st.booleans(),
       loss=st.sampled_from(["huber", "mse"]), seed=st.integers(0, 2**32 - 1))
def test_update_gradient_matches_finite_differences(B, obs_dim, A, double, loss, seed):
    rng = np.random.default_rng(seed)
    config = Config(seed=seed % 1000, dtype="float64", hidden_sizes=(5, 4), double=double, loss=loss,
                    batch_size=1, learning_starts=0)
    agent = DDQNAgent(obs_dim, A, config)
    agent.target.flat += 0.1 * rng.normal(size=agent.target.n_params)     # target != online
    batch = random_batch(rng, B, obs_dim, A)
    # the targets, from the paper's formula, held fixed while the online weights move
    if double:
        y = double_dqn_targets(batch.reward, batch.terminated, agent.online(batch.next_obs),
                               agent.target(batch.next_obs), config.gamma)
    else:
        y = dqn_targets(batch.reward, batch.terminated, agent.target(batch.next_obs), config.gamma)
    loss_value, grad, _, _ = agent.gradient(batch)
    numeric = numeric_grad(lambda: td_loss(agent.online(batch.obs), batch.action, y, loss)[0],
                           agent.online.flat)
    assert loss_value == pytest.approx(td_loss(agent.online(batch.obs), batch.action, y, loss)[0], rel=1e-12)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8, err_msg="mine vs numeric")


def test_update_is_an_sgd_step_on_that_gradient():
    config = Config(optimizer="sgd", learning_rate=0.01, max_grad_norm=0.0, dtype="float64", hidden_sizes=(8,))
    agent = DDQNAgent(3, 2, config)
    batch = random_batch(np.random.default_rng(0), 16, 3, 2)
    before = agent.online.flat.copy()
    grad = agent.gradient(batch)[1].copy()
    metrics = agent.update(batch)
    np.testing.assert_array_equal(agent.online.flat, before - 0.01 * grad)
    assert set(metrics) == {"loss", "q_mean", "q_max", "td_abs_mean", "grad_norm"}
    assert metrics["grad_norm"] == pytest.approx(np.linalg.norm(grad))


def bandit_agent(**kw):
    return DDQNAgent(1, 2, Config(gamma=0.0, learning_starts=32, batch_size=32, buffer_size=1000,
                                  hidden_sizes=(8,), learning_rate=0.01, **{"gradient_steps": 1, **kw}))


def test_learns_a_two_armed_bandit_with_gamma_zero():
    """With gamma = 0 the target is the reward, so Q(s, a) converges to each arm's mean reward."""
    agent, rng, obs = bandit_agent(), np.random.default_rng(0), np.ones(1)
    means = {0: 0.2, 1: 0.8}
    for _ in range(3000):
        a = agent.act(obs)
        agent.observe(obs, a, means[a] + 0.1 * rng.normal(), obs, terminated=True)
    q = agent.online(obs[None])[0]
    np.testing.assert_allclose(q, [0.2, 0.8], atol=0.05)
    assert agent.act(obs, greedy=True) == 1


def test_target_changes_only_at_sync_points():
    agent, obs = bandit_agent(target_update_interval=50), np.ones(1)
    snapshot, changes = agent.target.flat.copy(), []
    for step in range(1, 301):
        agent.observe(obs, step % 2, 1.0, obs, terminated=True)
        if not np.array_equal(agent.target.flat, snapshot):
            changes.append(step)
            np.testing.assert_array_equal(agent.target.flat, agent.online.flat)
            snapshot = agent.target.flat.copy()
    assert changes == [50, 100, 150, 200, 250, 300]


def test_polyak_target_update():
    agent, obs = bandit_agent(tau=0.1, target_update_interval=1), np.ones(1)
    for step in range(40):
        agent.observe(obs, step % 2, 1.0, obs, terminated=True)
    before_t, online = agent.target.flat.copy(), agent.online.flat.copy()
    agent.sync_target()
    np.testing.assert_allclose(agent.target.flat, 0.9 * before_t + 0.1 * online, rtol=1e-6)


def run_bandit(seed, steps=200):
    agent, obs = DDQNAgent(1, 2, Config(seed=seed, gamma=0.5, learning_starts=32, batch_size=16,
                                        hidden_sizes=(8,))), np.ones(1)
    log = []
    for _ in range(steps):
        a = agent.act(obs)
        m = agent.observe(obs, a, float(a), obs, terminated=False)
        log.append((a, None if m is None else m["loss"]))
    return agent, log


def test_same_seed_same_updates_bit_for_bit():
    (a1, log1), (a2, log2) = run_bandit(7), run_bandit(7)
    assert log1 == log2
    np.testing.assert_array_equal(a1.online.flat, a2.online.flat)
    a3, log3 = run_bandit(8)
    assert log3 != log1 and not np.array_equal(a3.online.flat, a1.online.flat)


@pytest.mark.parametrize("fields", [{}, {"double": False, "loss": "mse"}, {"dueling": True},
                                    {"optimizer": "sgd", "momentum": 0.9, "nesterov": True}])
def test_the_allocation_free_update_learns_exactly_what_the_allocating_one_does(fields):
    """The agent's updates write into arrays the networks keep (reuse=True) and act through forward_one; with
    both switched off (every array new, acting by a one-row forward) 100 updates end on the same weights."""
    def trained(fast):
        agent = DDQNAgent(4, 3, Config(learning_starts=32, batch_size=32, hidden_sizes=(16, 8), seed=5, train_freq=2,
                                     gradient_steps=1, **fields))
        if not fast:
            agent.reuse = False
        rng = np.random.default_rng(0)
        obs = rng.normal(size=4)
        for _ in range(232):
            nxt = rng.normal(size=4)
            agent.observe(obs, agent.act(obs), float(rng.normal()), nxt, bool(rng.random() < 0.1))
            obs = nxt
        return agent
    fast, slow = trained(True), trained(False)
    assert fast.updates == slow.updates == 100          # an update every 2 steps from step 32 on
    np.testing.assert_array_equal(fast.online.flat, slow.online.flat)


def test_state_dict_round_trip_continues_exactly():
    agent, _ = run_bandit(3, steps=100)
    state = agent.state_dict(include_replay=True)
    clone = DDQNAgent(1, 2, agent.config)
    clone.load_state_dict(state)
    obs = np.ones(1)
    for _ in range(50):
        for ag in (agent, clone):
            a = ag.act(obs)
            ag.observe(obs, a, float(a), obs, terminated=False)
    np.testing.assert_array_equal(agent.online.flat, clone.online.flat)
    np.testing.assert_array_equal(agent.target.flat, clone.target.flat)


def test_divergence_stops_with_the_step_named():
    agent = DDQNAgent(2, 2, Config(learning_starts=4, batch_size=4, max_grad_norm=0.0, n_step=1))
    obs = np.ones(2)
    for _ in range(3):
        agent.observe(obs, 0, 1.0, obs, False)
    with pytest.raises(DivergenceError, match="env step 4"):
        agent.observe(obs, 0, float("nan"), obs, False)


def test_schedules():
    lin = LinearSchedule(1.0, 0.1, 100)
    assert lin(0) == 1.0 and lin(50) == pytest.approx(0.55) and lin(100) == lin(10_000) == 0.1
    exp = ExponentialSchedule(1.0, 0.05, 0.01)
    assert exp(0) == 1.0 and exp(100) == pytest.approx(0.05 + 0.95 * math.exp(-1))
    agent = DDQNAgent(2, 2, Config(epsilon_schedule="exponential", epsilon_decay=0.01))
    agent.steps = 100
    assert agent.epsilon == pytest.approx(0.05 + 0.95 * math.exp(-1))
    lr_agent = DDQNAgent(2, 2, Config(learning_rate=1e-3, learning_rate_end=1e-4, total_steps=1000, learning_starts=8,
                                      batch_size=8))
    assert lr_agent.learning_rate_schedule(500) == pytest.approx(5.5e-4)


def test_greedy_act_is_the_argmax_and_epsilon_one_is_uniform():
    agent = DDQNAgent(3, 4, Config(epsilon_start=1.0, epsilon_end=1.0))
    obs = np.array([0.1, -0.2, 0.3])
    assert agent.act(obs, greedy=True) == int(np.argmax(agent.online(obs[None])))
    counts = np.bincount([agent.act(obs) for _ in range(4000)], minlength=4)
    assert counts.min() > 850
