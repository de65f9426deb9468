"""The contract every registry entry meets (a new head, learning rule or replay type is checked here as soon as
it is registered), which entry a config selects, and the loop's five stages against ``agent.observe``.

Heads' gradients are checked in ``test_heads.py``; each entry's own maths in its feature's file."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.config import Config
from numpy_ddqn.nn import HEADS, LOSSES, MLP, Network, numeric_grad
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.rl.build import check_agent
from numpy_ddqn.rl.nstep import NStepWriter, OneStepWriter, make_writer
from numpy_ddqn.rl.categorical import categorical_support
from numpy_ddqn.rl.quantile import quantile_midpoints
from numpy_ddqn.rl.registry import REPLAYS, head_name, replay_name, rule_name
from numpy_ddqn.rl.replay import Batch, ReplayBuffer
from numpy_ddqn.rl.munchausen import munchausen_targets
from numpy_ddqn.rl.targets import RULES, double_dqn_targets, dqn_targets


@pytest.mark.parametrize("name", sorted(n for n in RULES if not RULES[n].raw))
@given(B=st.integers(1, 8), A=st.integers(1, 5), loss=st.sampled_from(sorted(LOSSES)), weighted=st.booleans(),
       per_transition_discount=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_every_rule_is_its_loss_on_its_target_per_sample_and_its_gradient_is_right(name, B, A, loss, weighted,
                                                                                   per_transition_discount, seed):
    rule, rng = RULES[name], np.random.default_rng(seed)
    q, q_next_online, q_next_target = (rng.normal(size=(B, A)) for _ in range(3))
    action, reward, terminated = rng.integers(0, A, B), rng.normal(size=B), (rng.random(B) < 0.3).astype(float)
    gamma = 0.99 ** rng.integers(1, 4, B) if per_transition_discount else 0.9
    weights = rng.random(B) + 0.1 if weighted else None
    extra = {"q_target": rng.normal(size=(B, A))} if rule.target_obs else {}   # Q_target(s): Munchausen's bonus
    value, dq, td = rule.learn(q, action, reward, terminated, gamma, q_next_online, q_next_target, loss, weights,
                               **extra)
    y = (munchausen_targets(reward, terminated, gamma, action, extra["q_target"], q_next_target) if rule.target_obs
         else double_dqn_targets(reward, terminated, q_next_online, q_next_target, gamma) if rule.online_next
         else dqn_targets(reward, terminated, q_next_target, gamma))
    naive = 0.0
    for i in range(B):                            # per sample: the loss of Q(s_i, a_i) - y_i, weighted, averaged
        d = q[i, action[i]] - y[i]
        h = d * d if loss == "mse" else (0.5 * d * d if abs(d) <= 1 else abs(d) - 0.5)
        naive += (1.0 if weights is None else weights[i]) * h / B
        assert td[i] == pytest.approx(d, rel=1e-12, abs=1e-12)
    assert value == pytest.approx(naive, rel=1e-10, abs=1e-12)
    f = lambda: rule.learn(q, action, reward, terminated, gamma, q_next_online, q_next_target, loss, weights,
                           **extra)[0]
    np.testing.assert_allclose(dq, numeric_grad(f, q), rtol=1e-5, atol=1e-8, err_msg="dq: mine vs numeric")
    if not rule.online_next:                      # a rule that does not read Q_online(s') ignores it
        again = rule.learn(q, action, reward, terminated, gamma, None, q_next_target, loss, weights, **extra)
        assert again[0] == value


@pytest.mark.parametrize("name", sorted(n for n in RULES if RULES[n].raw))
@given(B=st.integers(1, 6), A=st.integers(1, 4), N=st.integers(2, 6), weighted=st.booleans(),
       per_transition_discount=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_every_raw_rule_weights_its_per_sample_losses_selects_by_the_online_mean_and_its_gradient_is_right(
        name, B, A, N, weighted, per_transition_discount, seed):
    """A rule on a distributional head's raw (B, A, N) outputs: its loss is the (weighted) mean of the per-sample
    losses it returns as priorities, its dL/d outputs matches central differences, and the next action is chosen
    by the online net's mean (Double) or the target net's (an online_next=False rule ignores the online outputs)."""
    rule, rng = RULES[name], np.random.default_rng(seed)
    params = (dict(z=categorical_support(-2.0, 3.0, N, np.float64)) if "categorical" in name
              else dict(taus=quantile_midpoints(N, np.float64), kappa=float(rng.choice([0.5, 1.0]))))
    out, out_next_online, out_next_target = (rng.normal(size=(B, A, N)) for _ in range(3))
    action, reward, terminated = rng.integers(0, A, B), rng.normal(size=B), (rng.random(B) < 0.3).astype(float)
    gamma = 0.99 ** rng.integers(1, 4, B) if per_transition_discount else 0.9
    weights = rng.random(B) + 0.1 if weighted else None
    learn = lambda online: rule.learn(out, action, reward, terminated, gamma, online, out_next_target, "huber",
                                      weights, **params)
    value, dout, per_sample = learn(out_next_online)
    assert dout.shape == out.shape and per_sample.shape == (B,) and np.all(per_sample >= 0)
    assert value == pytest.approx(np.mean(per_sample * (1.0 if weights is None else weights)), rel=1e-12)
    np.testing.assert_allclose(dout, numeric_grad(lambda: learn(out_next_online)[0], out), rtol=1e-5, atol=1e-8,
                               err_msg="dout: mine vs numeric")
    # a* by the mean: online outputs shifted by a constant (the same softmax, means moved alike) rank the actions
    # as the target's do, so they give the target-selected loss
    as_target = learn(out_next_target)[0]
    assert learn(out_next_target + 0.7)[0] == pytest.approx(as_target, rel=1e-12)
    if not rule.online_next:
        assert value == as_target == learn(None)[0]


@pytest.mark.parametrize("name", sorted(REPLAYS))
@pytest.mark.parametrize("n_step", [1, 3])
def test_every_replay_type_samples_a_batch_updates_priorities_and_restores_exactly(name, n_step):
    config = Config(buffer_size=50, batch_size=16, learning_starts=16, prioritized=name == "prioritized", n_step=n_step)
    assert replay_name(config) == name
    buf = REPLAYS[name].from_config(config, 3)
    rng = np.random.default_rng(0)
    for i in range(70):                           # wraps around
        buf.add(rng.normal(size=3), i % 2, float(i), rng.normal(size=3), i % 9 == 8, 0.99 if n_step > 1 else None)
    batch = buf.sample(16, np.random.default_rng(1), beta=0.5)
    assert isinstance(batch, Batch) and batch.obs.shape == (16, 3) and batch.action.shape == (16,)
    assert (batch.discount is not None) == (n_step > 1)
    if batch.indices is not None:                 # prioritized: the rows drawn and their importance weights
        assert batch.weights.shape == (16,) and 0 < batch.weights.max() <= 1
        np.testing.assert_array_equal(buf.reward[batch.indices], batch.reward)
    else:
        assert batch.weights is None
    buf.update_priorities(batch.indices, rng.normal(size=16))   # a no-op where there are no priorities
    other = REPLAYS[name].from_config(config, 3)
    other.load_state_dict(buf.state_dict())
    for a, b in zip(buf.sample(16, np.random.default_rng(2), 0.5), other.sample(16, np.random.default_rng(2), 0.5)):
        np.testing.assert_array_equal(a, b)
    held = buf.nbytes + REPLAYS[name].extra_bytes(buf.capacity)   # what the memory plan counts, from the entry
    assert check_agent(config, (3,), 2).replay_bytes == held
    if name == "prioritized":
        assert REPLAYS[name].extra_bytes(buf.capacity) == sum(level.nbytes for level in buf.tree.levels)


def test_uniform_sampling_ignores_beta_and_prioritized_beta_none_means_full_correction():
    buf = ReplayBuffer(20, 2)
    for i in range(20):
        buf.add(np.full(2, i), 0, float(i), np.full(2, i + 1), False)
    a, b = buf.sample(8, np.random.default_rng(3)), buf.sample(8, np.random.default_rng(3), beta=0.4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    per = REPLAYS["prioritized"](20, 2)
    for i in range(20):
        per.add(np.full(2, i), 0, float(i), np.full(2, i + 1), False)
    per.update_priorities(np.arange(20), np.arange(20.0))
    np.testing.assert_array_equal(per.sample(8, np.random.default_rng(4)).weights,
                                  per.sample(8, np.random.default_rng(4), beta=1.0).weights)


@pytest.mark.parametrize("fields, head, rule, replay, writer", [
    ({}, "linear", "double", "uniform", NStepWriter),
    ({"dueling": True, "double": False, "prioritized": True, "n_step": 1}, "dueling", "dqn", "prioritized",
     OneStepWriter),
    ({"layers": "dense8,relu", "dueling": True}, "dueling", "double", "uniform", NStepWriter),
    ({"munchausen": True, "prioritized": True}, "linear", "munchausen", "prioritized", NStepWriter),
])
def test_the_config_fields_select_the_entries_and_the_builder_uses_them(fields, head, rule, replay, writer):
    config = Config(buffer_size=100, learning_starts=64, **fields)
    assert (head_name(config), rule_name(config), replay_name(config)) == (head, rule, replay)
    agent = DDQNAgent(4, 3, config)
    assert agent.online.head_name == agent.target.head_name == head
    assert isinstance(agent.online, Network if config.layers else MLP)
    bound = agent.rule.learn                      # a rule with settings (Munchausen's) has them bound
    assert getattr(bound, "func", bound) is RULES[rule].learn and agent.rule.target_obs == RULES[rule].target_obs
    assert type(agent.replay) is REPLAYS[replay] and type(agent.writer) is writer
    assert agent.online(np.zeros((2, 4))).shape == (2, 3)
    assert agent.memory.n_params == agent.online.n_params


def test_the_n_step_writer_with_n_1_stores_what_the_one_step_writer_stores_with_gamma_as_its_discount():
    rng = np.random.default_rng(0)
    one, n1 = ReplayBuffer(30, 2), ReplayBuffer(30, 2, store_discount=True)
    w1, wn = make_writer(one, 1, 0.9), NStepWriter(n1, 1, 0.9)
    assert isinstance(w1, OneStepWriter)
    for i in range(25):
        step = (rng.normal(size=2), i % 2, float(rng.normal()), rng.normal(size=2), i % 7 == 6, i % 11 == 10)
        w1.write(*step)
        wn.write(*step)
    for name in ("obs", "action", "reward", "next_obs", "terminated"):
        np.testing.assert_array_equal(getattr(one, name), getattr(n1, name))
    np.testing.assert_allclose(n1.discount[:25], 0.9)


def test_the_loops_five_stages_learn_exactly_what_observe_does():
    """``run/loop.py`` calls store, learn (when due) and sync target (when due) one by one; ``observe`` is the
    same three in one call."""
    config = Config(learning_starts=32, batch_size=16, hidden_sizes=(8,), target_update_interval=20, seed=3,
                    gradient_steps=2, prioritized=True)
    a, b = DDQNAgent(2, 2, config), DDQNAgent(2, 2, config)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=2)
    for t in range(200):
        nxt, r, term, trunc = rng.normal(size=2), float(rng.normal()), t % 13 == 12, t % 29 == 28
        action = a.act(obs)
        assert b.act(obs) == action
        a.observe(obs, action, r, nxt, term, trunc)
        b.store(obs, action, r, nxt, term, trunc)
        if b.learn_due():
            b.learn()
        if b.sync_due():
            b.sync_target()
        obs = nxt
    assert a.updates == b.updates > 0
    np.testing.assert_array_equal(a.online.flat, b.online.flat)
    np.testing.assert_array_equal(a.target.flat, b.target.flat)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_every_head_builds_both_networks_and_they_agree_on_the_same_weights(name):
    """A head plugs into the MLP and the layer-list Network alike: with the same weights they compute the same Q."""
    rng = np.random.default_rng(0)
    mlp = MLP((5, 8, 3), "relu", np.float64, rng, head=name)
    net = Network((5,), "dense8,relu", 3, name, np.float64, rng)
    net.set_weights(mlp.get_weights())
    x = rng.normal(size=(4, 5))
    np.testing.assert_allclose(net(x), mlp(x), rtol=1e-12)
    np.testing.assert_array_equal(mlp.forward_one(x[0]), mlp(x[:1])[0])
    np.testing.assert_allclose(net.forward_one(x[0]), net(x[:1])[0], rtol=1e-12)
