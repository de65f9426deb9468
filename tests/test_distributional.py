"""C51 and QR-DQN end to end: the distributional heads (``nn/heads.py``) against naive per-action loops, the
config fields selecting the registry entries, the whole network's gradient through a distributional rule against
central differences, learning on a fixed batch, every combination with Double / n-step / prioritized / dueling,
the exported policy acting as the agent, and the refused combinations (bit-exact resume: ``test_learn_more.py``).

The pure maths (projection, cross-entropy, quantile Huber loss) is tested in ``test_categorical.py`` and
``test_quantile.py``; the registry contract of every head and rule in ``test_heads.py`` and ``test_registries.py``.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.checkpoint import agent_policy
from numpy_ddqn.config import Config
from numpy_ddqn.errors import ConfigError
from numpy_ddqn.nn import MLP, numeric_grad
from numpy_ddqn.nn.heads import HEADS, get_head
from numpy_ddqn.policy import Policy
from numpy_ddqn.presets import NAMED_PRESETS
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.rl.nstep import NStepWriter
from numpy_ddqn.rl.prioritized import PrioritizedReplayBuffer
from numpy_ddqn.rl.registry import head_name, rule_name
from numpy_ddqn.rl.targets import RULES

CATEGORICAL = dict(distribution="categorical", n_atoms=11, v_min=-5.0, v_max=5.0)
QUANTILE = dict(distribution="quantile", n_quantiles=8)
IMPLICIT = dict(distribution="implicit", n_taus=4, n_target_taus=5, n_policy_taus=3, n_cos=6)


@given(B=st.integers(1, 5), A=st.integers(2, 4), N=st.integers(2, 7), dueling=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_the_heads_q_is_the_mean_of_their_distribution_per_action_in_a_naive_loop(B, A, N, dueling, seed):
    rng = np.random.default_rng(seed)
    suffix = "_dueling" if dueling else ""
    cat = get_head("categorical" + suffix, n_atoms=N, v_min=-1.0, v_max=2.0)
    qr = get_head("quantile" + suffix, n_quantiles=N)
    out = rng.normal(size=(B, cat.n_outputs(A)))
    assert cat.n_outputs(A) == qr.n_outputs(A) == (A + dueling) * N
    z = [-1.0 + 3.0 * i / (N - 1) for i in range(N)]
    for b in range(B):
        rows = [[out[b, k * N + i] for i in range(N)] for k in range(A + dueling)]   # one row of N per output
        if dueling:                                    # V row first; Z_i = V_i + A_i - mean_a A_i, atom by atom
            rows = [[rows[0][i] + rows[1 + a][i] - sum(rows[1 + c][i] for c in range(A)) / A for i in range(N)]
                    for a in range(A)]
        for a in range(A):
            e = [np.exp(x - max(rows[a])) for x in rows[a]]
            assert cat.forward(out)[b, a] == pytest.approx(sum(p * zi for p, zi in zip(e, z)) / sum(e), rel=1e-10,
                                                           abs=1e-12)
            assert qr.forward(out)[b, a] == pytest.approx(sum(rows[a]) / N, rel=1e-10, abs=1e-12)
            np.testing.assert_allclose(qr.outputs(out)[b, a], rows[a], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fields, head, rule", [
    (CATEGORICAL, "categorical", "double_categorical"),
    ({**CATEGORICAL, "double": False, "dueling": True}, "categorical_dueling", "categorical"),
    (QUANTILE, "quantile", "double_quantile"),
    ({**QUANTILE, "double": False, "dueling": True}, "quantile_dueling", "quantile"),
    (NAMED_PRESETS["rainbow"], "categorical_dueling", "double_categorical"),
])
def test_the_distribution_field_selects_the_head_and_rule_and_the_memory_plan_counts_the_head(fields, head, rule):
    config = Config(buffer_size=200, learning_starts=64, **fields)
    assert (head_name(config), rule_name(config)) == (head, rule)
    agent = DDQNAgent(4, 3, config)
    assert agent.online.head_name == agent.target.head_name == head and agent.rule.raw
    assert agent.rule.learn.func is RULES[rule].learn              # the entry, its parameters bound
    n = config.n_atoms if config.distribution == "categorical" else config.n_quantiles
    assert agent.online.sizes[-1] == (3 + config.dueling) * n      # the last linear layer: A (or 1 + A) rows of N
    assert agent.memory.n_params == agent.online.n_params          # the plan counts what the head allocates
    assert agent.online(np.zeros((2, 4))).shape == (2, 3)          # acting sees Q


def test_the_rainbow_preset_is_double_dueling_prioritized_three_step_noisy_c51():
    agent = DDQNAgent(4, 2, Config(buffer_size=200, learning_starts=64, **NAMED_PRESETS["rainbow"]))
    assert isinstance(agent.replay, PrioritizedReplayBuffer) and isinstance(agent.writer, NStepWriter)
    assert agent.writer.n == 3 and agent.online.head.params == dict(n_atoms=51, v_min=-10.0, v_max=10.0)
    assert agent.online.noisy and agent.target.noisy and agent.epsilon == 0.0   # noisy layers explore


@pytest.mark.parametrize("fields", [dict(CATEGORICAL, dueling=True), dict(QUANTILE, dueling=True),
                                    dict(CATEGORICAL, layers="dense6,tanh"), dict(QUANTILE, kappa=0.5)])
def test_the_networks_gradient_through_a_distributional_rule_matches_finite_differences(fields):
    """float64, Double, 3-step discounts and importance weights: the agent's flat gradient (rule -> dL/d outputs ->
    the head's backward -> the layers) against central differences of its loss over every parameter."""
    config = Config(dtype="float64", hidden_sizes=(6,), n_atoms=5, n_quantiles=5, prioritized=True,
                    **{k: v for k, v in fields.items() if k not in ("n_atoms", "n_quantiles")})
    agent = DDQNAgent(3, 2, config)
    rng = np.random.default_rng(0)
    agent.online.flat[:] = rng.normal(scale=0.5, size=agent.online.n_params)
    agent.target.flat[:] = rng.normal(scale=0.5, size=agent.target.n_params)
    for t in range(40):
        agent.replay.add(rng.normal(size=3), t % 2, rng.normal(), rng.normal(size=3), t % 7 == 6, 0.99 ** (1 + t % 3))
    batch = agent.replay.sample(8, np.random.default_rng(1), beta=0.5)
    loss, grad, q, priority = agent.gradient(batch)
    assert q.shape == (8, 2) and priority.shape == (8,)
    grad = grad.copy()
    numeric = numeric_grad(lambda: agent.gradient(batch)[0], agent.online.flat)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8, err_msg="network gradient: mine vs numeric")


@pytest.mark.parametrize("fields", [CATEGORICAL, QUANTILE, dict(CATEGORICAL, dueling=True, layers="dense16,relu"),
                                    IMPLICIT])
def test_a_distributional_agent_fits_a_fixed_batch(fields):
    """A few hundred updates on one batch, the target network held still: the loss falls and stays finite (C51's
    cross-entropy only down to the target's entropy, hence a modest factor)."""
    agent = DDQNAgent(4, 2, Config(hidden_sizes=(16,), learning_rate=1e-2, n_step=1, **fields))
    rng = np.random.default_rng(0)
    for t in range(64):
        agent.replay.add(rng.normal(size=4), t % 2, float(rng.integers(0, 2)), rng.normal(size=4), t % 9 == 8)
    batch = agent.replay.sample(32, np.random.default_rng(1))
    losses = [agent.update(batch)["loss"] for _ in range(300)]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.85 * losses[0]


@pytest.mark.parametrize("fields", [CATEGORICAL, QUANTILE, dict(CATEGORICAL, double=False),
                                    dict(QUANTILE, dueling=True), dict(CATEGORICAL, dueling=True, noisy=True)])
def test_the_update_reports_the_mean_q_of_its_batch(fields):
    """q_mean and q_max are the head's mean Q at s (with Double selection computed with Q(s') in one stacked call)."""
    agent = DDQNAgent(4, 3, Config(hidden_sizes=(16,), n_step=1, **fields))
    rng = np.random.default_rng(0)
    for t in range(64):
        agent.replay.add(rng.normal(size=4), t % 3, float(rng.normal()), rng.normal(size=4), t % 9 == 8)
    batch = agent.replay.sample(32, np.random.default_rng(1))
    q = agent.online(batch.obs)                                       # (32, 3) before the step, on the means
    if agent.noisy:                                                   # the update's Q is under its own draw
        state = agent.rngs.noise.bit_generator.state
        agent.online.sample_noise(agent.rngs.noise)
        q = agent.online(batch.obs)
        agent.online.use_mean()
        agent.rngs.noise.bit_generator.state = state
    metrics = agent.update(batch)
    assert metrics["q_mean"] == pytest.approx(float(q.mean()), rel=1e-5, abs=1e-6)
    assert metrics["q_max"] == pytest.approx(float(q.max()), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("distribution", [CATEGORICAL, QUANTILE, IMPLICIT])
@pytest.mark.parametrize("pieces", [dict(double=False, n_step=1), dict(dueling=True, prioritized=True, n_step=3),
                                    dict(prioritized=True, n_step=1, double=False)])
def test_every_combination_learns_and_prioritized_replay_gets_the_per_sample_loss(distribution, pieces):
    config = Config(hidden_sizes=(16,), buffer_size=300, learning_starts=64, batch_size=16, train_freq=1,
                    target_update_interval=50, total_steps=300, **distribution, **pieces)
    agent = DDQNAgent(4, 3, config)
    rng = np.random.default_rng(0)
    for t in range(300):
        obs = rng.normal(size=4)
        metrics = agent.observe(obs, agent.act(obs), float(rng.normal()), rng.normal(size=4), t % 17 == 16,
                                t % 29 == 28)
    assert agent.updates > 200 and all(np.isfinite(v) for v in metrics.values())
    if config.prioritized:                         # the last batch's rows: (per-sample loss + eps)^alpha
        batch = agent.replay.sample(16, np.random.default_rng(5), 1.0)
        per_sample = agent.gradient(batch)[3]
        agent.replay.update_priorities(batch.indices, per_sample)
        expected = (np.abs(per_sample.astype(np.float64)) + config.per_eps) ** config.per_alpha
        np.testing.assert_allclose(agent.replay.tree.leaves[batch.indices], expected, rtol=1e-12)


@pytest.mark.parametrize("fields", [CATEGORICAL, dict(CATEGORICAL, dueling=True), QUANTILE,
                                    dict(QUANTILE, dueling=True, layers="dense8,relu")])
def test_the_exported_policy_file_acts_as_the_agent_greedily(tmp_path, fields):
    agent = DDQNAgent(4, 3, Config(hidden_sizes=(8,), **fields))
    agent.online.flat += np.random.default_rng(0).normal(size=agent.online.n_params)
    obs = np.random.default_rng(1).normal(size=(200, 4)).astype(np.float32)
    agent_policy(agent).save(tmp_path / "policy.npz")
    policy = Policy.load(tmp_path / "policy.npz")
    assert policy.head == agent.online.head_name and policy.head_params == agent.online.head.params
    np.testing.assert_allclose(policy.q_values(obs), agent.online(obs), rtol=1e-6, atol=1e-6)
    assert [policy.act(o) for o in obs] == [agent.greedy_action(o) for o in obs]


def test_a_policy_whose_head_parameters_do_not_fit_its_last_layer_is_refused():
    weights = MLP((4, 8, 3), rng=np.random.default_rng(0), head="quantile", head_params=dict(n_quantiles=4)).get_weights()
    with pytest.raises(ValueError, match="does not fit the last layer"):
        Policy(weights, head="quantile", head_params=dict(n_quantiles=5))
    with pytest.raises(ValueError, match="does not fit the last layer"):
        Policy(weights, head="quantile", head_params=dict(n_atoms=4))


@pytest.mark.parametrize("fields, message", [
    (dict(distribution="categorical", loss="mse"), "loss.*cross-entropy"),
    (dict(distribution="quantile", loss="mse"), "loss.*quantile Huber"),
    (dict(v_min=1.0, v_max=1.0), "v_max.*must be > v_min"),
    (dict(n_atoms=1), "n_atoms.*>= 2"),
    (dict(n_quantiles=0), "n_quantiles.*>= 1"),
    (dict(kappa=-1.0), "kappa.*>= 0"),
    (dict(distribution="gaussian"), "distribution.*none, categorical, quantile"),
])
def test_combinations_that_make_no_sense_are_refused_in_one_line(fields, message):
    with pytest.raises(ConfigError, match=message) as e:
        Config(**fields)
    assert "\n" not in str(e.value)


def test_a_head_refuses_parameters_it_does_not_take():
    with pytest.raises(ValueError, match="takes"):
        get_head("linear", n_atoms=3)
    with pytest.raises(ValueError, match="takes"):
        get_head("quantile", n_atoms=3)
    assert sorted(HEADS) == sorted(["linear", "dueling", "categorical", "categorical_dueling", "quantile",
                                    "quantile_dueling"])


def test_the_cli_trains_the_rainbow_preset_and_exports_a_policy_that_acts_as_its_checkpoint(tmp_path):
    """``numpy-ddqn train --preset rainbow`` with the support set by flags, then ``numpy-ddqn export`` with its
    parity check: the npz policy has the checkpoint's head and greedy actions."""
    pytest.importorskip("gymnasium")
    from helpers import cli, quick_flags
    done = cli("train", "--out", tmp_path / "run", "--preset", "rainbow", "--v-min", "0", "--v-max", "100",
               "--n-atoms", "21", *quick_flags())
    assert done.returncode == 0, done.stderr
    done = cli("export", tmp_path / "run" / "last.npz", tmp_path / "policy.npz", "--check", 2000)
    assert done.returncode == 0, done.stderr
    agent = DDQNAgent.from_checkpoint(tmp_path / "run" / "last.npz", 4, 2)
    policy = Policy.load(tmp_path / "policy.npz")
    assert policy.head == "categorical_dueling" == agent.online.head_name
    assert policy.head_params == dict(n_atoms=21, v_min=0.0, v_max=100.0)
    obs = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    assert policy.act(obs).tolist() == [agent.greedy_action(o) for o in obs]
