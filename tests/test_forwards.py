"""The forwards of a learning step (``rl/forwards.py``) against each network called alone, one batch half at a time."""
import numpy as np
import pytest

from numpy_ddqn.config import Config
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.rl.forwards import sampled_tau_forwards, stacked_forwards

CATEGORICAL = dict(distribution="categorical", n_atoms=11, v_min=-5.0, v_max=5.0)


def agent_and_batch(fields, seed=0):
    agent = DDQNAgent(4, 3, Config(hidden_sizes=(16,), n_step=1, seed=seed, **fields))
    agent.target.init_weights(np.random.default_rng(seed + 1))          # a target unlike the online net
    rng = np.random.default_rng(seed)
    for t in range(48):
        agent.replay.add(rng.normal(size=4), t % 3, float(rng.normal()), rng.normal(size=4), t % 7 == 6)
    return agent, agent.replay.sample(16, np.random.default_rng(seed + 2))


@pytest.mark.parametrize("reuse", [False, True])
@pytest.mark.parametrize("fields", [dict(), dict(double=False), dict(munchausen=True), CATEGORICAL,
                                    dict(CATEGORICAL, double=False), dict(distribution="quantile", dueling=True),
                                    dict(layers="dense16,relu,dense8,tanh")])
def test_stacked_forwards_are_each_network_on_s_and_on_s_next_alone(fields, reuse):
    """Every rule's outputs, from the stacked calls, equal each network called on s and on s' apart."""
    agent, batch = agent_and_batch(fields)
    rule = agent.rule
    assert rule.forwards is stacked_forwards
    f = stacked_forwards(agent.online, agent.target, batch, rule, None, reuse)
    raw_online = lambda x: agent.online.forward(x, raw=rule.raw)[0]
    raw_target = lambda x: agent.target.forward(x, raw=rule.raw)[0]
    np.testing.assert_allclose(f.out, raw_online(batch.obs), rtol=1e-5, atol=1e-6)            # (B, A[, N])
    np.testing.assert_allclose(f.next_target, raw_target(batch.next_obs), rtol=1e-5, atol=1e-6)
    if rule.online_next:                           # Double selection reads Q_online(s'), (B, A) (raw: the mean)
        np.testing.assert_allclose(f.next_online, agent.online(batch.next_obs), rtol=1e-5, atol=1e-6)
    else:
        assert f.next_online is None
    np.testing.assert_allclose(f.q, agent.online(batch.obs), rtol=1e-5, atol=1e-6)   # Q(s), (B, A): raw, the mean
    if rule.target_obs:                            # Munchausen: Q_target(s) too
        np.testing.assert_allclose(f.extra["q_target"], agent.target(batch.obs), rtol=1e-5, atol=1e-6)
    else:
        assert f.extra == {}
    # the cache holds the s rows only (the s' half gets no gradient): the backward through it is the backward of a
    # forward on s alone
    dout = np.random.default_rng(3).normal(size=f.out.shape).astype(f.out.dtype)
    grad = agent.online.backward(dout, f.cache, reuse=reuse)[1].copy()
    alone = agent.online.backward(dout, agent.online.forward(batch.obs, raw=rule.raw)[1])[1]
    np.testing.assert_allclose(grad, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("double", [True, False])
def test_sampled_tau_forwards_are_the_networks_on_the_taus_they_draw(double):
    """IQN's: taus drawn from the rng given, the online net's first, then the target's; Z on those taus."""
    agent, batch = agent_and_batch(dict(distribution="implicit", n_taus=4, n_target_taus=5, n_policy_taus=3,
                                        double=double))
    rule = agent.rule
    assert rule.forwards is sampled_tau_forwards
    f = sampled_tau_forwards(agent.online, agent.target, batch, rule, np.random.default_rng(9), False)
    rng = np.random.default_rng(9)                 # the same draws, in the same order: online's, then target's
    taus = agent.online.sample_taus(16, 4, rng)
    taus_next = agent.online.sample_taus(16, 5, rng)
    np.testing.assert_array_equal(f.extra["taus"], taus)
    np.testing.assert_allclose(f.q, f.out.mean(axis=2), rtol=1e-5, atol=1e-6)   # Q(s): the mean over its N taus
    np.testing.assert_allclose(f.out, agent.online.forward(batch.obs, raw=True, taus=taus)[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f.next_target, agent.target.forward(batch.next_obs, raw=True, taus=taus_next)[0],
                               rtol=1e-5, atol=1e-6)
    if double:
        np.testing.assert_allclose(f.next_online[:, :, 0], agent.online.q_values(batch.next_obs), rtol=1e-5, atol=1e-6)
    else:
        assert f.next_online is None
