"""n-step returns, prioritized replay and the dueling head inside the agent, the loop and checkpoints."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.checkpoint import agent_policy
from numpy_ddqn.config import Config
from numpy_ddqn.errors import ConfigError
from numpy_ddqn.nn import numeric_grad
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.rl.prioritized import PrioritizedReplayBuffer
from numpy_ddqn.rl.replay import Batch


def naive_loss(q, actions, y, weights, kind):
    td = q[np.arange(len(actions)), actions] - y
    h = td ** 2 if kind == "mse" else np.where(np.abs(td) <= 1, 0.5 * td ** 2, np.abs(td) - 0.5)
    return float(np.mean(weights * h))


@given(B=st.integers(1, 8), A=st.integers(2, 4), loss=st.sampled_from(["huber", "mse"]), dueling=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_weighted_n_step_dueling_gradient_matches_finite_differences(B, A, loss, dueling, seed):
    rng = np.random.default_rng(seed)
    agent = DDQNAgent(3, A, Config(dtype="float64", hidden_sizes=(5,), loss=loss, dueling=dueling, n_step=3,
                                   prioritized=True, batch_size=1, learning_starts=0, seed=seed % 100))
    agent.target.flat += 0.1 * rng.normal(size=agent.target.n_params)
    discount = 0.99 ** rng.integers(1, 4, size=B)
    batch = Batch(rng.normal(size=(B, 3)), rng.integers(0, A, B), 3 * rng.normal(size=B), rng.normal(size=(B, 3)),
                  (rng.random(B) < 0.3).astype(float), discount)
    w = rng.random(B) + 0.1
    a_star = agent.online(batch.next_obs).argmax(axis=1)            # the Double-DQN target, by hand
    y = batch.reward + discount * (1 - batch.terminated) * agent.target(batch.next_obs)[np.arange(B), a_star]
    value, grad, _, _ = agent.gradient(batch._replace(weights=w))
    assert value == pytest.approx(naive_loss(agent.online(batch.obs), batch.action, y, w, loss), rel=1e-10)
    numeric = numeric_grad(lambda: naive_loss(agent.online(batch.obs), batch.action, y, w, loss), agent.online.flat)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8, err_msg="mine vs numeric")


def test_the_agent_stores_n_step_transitions_per_env():
    gamma, agent = 0.5, DDQNAgent(2, 2, Config(n_step=3, gamma=0.5, buffer_size=100, learning_starts=100))
    steps = [(t, env) for t in range(5) for env in (0, 1)]
    for t, env in steps:                     # episode of 5 steps in each env, terminated at the end
        agent.observe(np.array([env, t]), 0, float(t + 1), np.array([env, t + 1]), t == 4, False, env_index=env)
    r = agent.replay
    rows = sorted(zip(r.obs[:r.size, 0], r.obs[:r.size, 1], r.next_obs[:r.size, 1], r.reward[:r.size],
                      r.discount[:r.size], r.terminated[:r.size]))
    expected = []
    for env in (0, 1):
        for t in range(5):
            m = min(3, 5 - t)
            expected.append((env, t, t + m, sum(gamma ** k * (t + 1 + k) for k in range(m)), gamma ** m,
                             float(t + m == 5)))
    assert len(rows) == 10
    for got, want in zip(rows, sorted(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_prioritized_learning_updates_the_priorities_of_what_it_learned_from():
    agent = DDQNAgent(2, 2, Config(prioritized=True, n_step=1, buffer_size=200, learning_starts=64, batch_size=16,
                                   train_freq=1, gradient_steps=1, total_steps=1000))
    assert isinstance(agent.replay, PrioritizedReplayBuffer)
    rng = np.random.default_rng(0)
    for t in range(63):
        agent.observe(rng.normal(size=2), t % 2, rng.normal(), rng.normal(size=2), False)
    assert np.all(agent.replay.tree.leaves[:63] == 1.0) and agent.updates == 0   # new: the max priority
    agent.observe(rng.normal(size=2), 0, 0.0, rng.normal(size=2), False)   # the 64th step learns once
    changed = agent.replay.tree.leaves[:64] != 1.0                 # the learned-from rows: |td| + eps)^alpha
    assert 1 <= changed.sum() <= 16 and agent.updates == 1
    assert agent.beta_schedule(0) == 0.4 and agent.beta_schedule(1000) == 1.0


@pytest.mark.parametrize("pieces", [dict(n_step=3), dict(prioritized=True), dict(dueling=True),
                                    dict(n_step=3, prioritized=True, dueling=True),
                                    dict(distribution="categorical", n_step=3, prioritized=True, dueling=True),
                                    dict(distribution="quantile", n_quantiles=8),
                                    dict(distribution="implicit", n_step=3, prioritized=True, dueling=True),
                                    dict(distribution="iqn", layer_norm=True, n_taus=4, n_target_taus=6)])
def test_resume_is_bit_exact_with_each_piece(tmp_path, pieces):
    pytest.importorskip("gymnasium")
    from numpy_ddqn.run.loop import train
    from numpy_ddqn.run.runlog import read_log
    config = Config(total_steps=1500, learning_starts=100, batch_size=32, hidden_sizes=(16,), eval_interval=500,
                    eval_episodes=2, progress_interval=0.0, stop_when_solved=False, **pieces)
    full = train(config, out_dir=tmp_path / "full")
    boundary = next(r["step"] for r in read_log(tmp_path / "full") if r["kind"] == "episode" and 700 < r["step"])
    # interrupted at an episode boundary, same budget (PER's beta anneals over the budget)
    part = train(config, out_dir=tmp_path / "part", callback=lambda info: info.step < boundary)
    assert part.steps == boundary and part.reason == "callback"
    resumed = train(config, out_dir=tmp_path / "part", resume=tmp_path / "part" / "last.npz")
    np.testing.assert_array_equal(resumed.agent.online.flat, full.agent.online.flat)
    if pieces.get("prioritized"):
        np.testing.assert_array_equal(resumed.agent.replay.tree.leaves, full.agent.replay.tree.leaves)


def test_a_dueling_agents_exported_policy_acts_like_it():
    agent = DDQNAgent(4, 3, Config(dueling=True, hidden_sizes=(8,)))
    agent.online.flat += np.random.default_rng(0).normal(size=agent.online.n_params)
    obs = np.random.default_rng(1).normal(size=(200, 4)).astype(np.float32)
    policy = agent_policy(agent)
    assert policy.head == "dueling" and policy.n_actions == 3
    np.testing.assert_array_equal(policy.q_values(obs), agent.online(obs))
    assert [policy.act(o) for o in obs] == [agent.greedy_action(o) for o in obs]


@pytest.mark.parametrize("field, value, message", [
    ("n_step", 0, "'n_step' = 0 is invalid: must be an integer >= 1"),
    ("per_alpha", -0.5, "'per_alpha' = -0.5 is invalid: must be >= 0"),
    ("per_beta", 1.5, "'per_beta' = 1.5 is invalid: must be in [0, 1]"),
    ("per_eps", 0.0, "'per_eps' = 0.0 is invalid: must be > 0"),
])
def test_bad_values_are_refused_in_one_line(field, value, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Config(**{field: value})


def test_a_dueling_head_with_one_action_is_refused():
    with pytest.raises(ConfigError, match="dueling head needs >= 2 actions, this env has 1"):
        DDQNAgent(4, 1, Config(dueling=True))
