"""IQN end to end: the implicit quantile network (``nn/implicit.py``) against a naive per-sample, per-tau loop and its
backward against float64 central differences on hypothesis shapes; the rule on sampled taus against a naive loop;
the agent's draws and its whole gradient; the config fields, refusals and CLI flag; the model API, the exported
policy (``policy.py``) and ``numpy-ddqn export`` (bit-exact resume: ``test_learn_more.py``; IQN with Double, n-step,
prioritized and dueling learning, priorities = per-sample losses, fitting a fixed batch: ``test_distributional.py``)."""
import importlib.util

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gradients import assert_grad_close
from helpers import QUICK, cli, quick_flags
from numpy_ddqn.checkpoint import agent_policy
from numpy_ddqn.config import Config
from numpy_ddqn.errors import ConfigError
from numpy_ddqn.nn import numeric_grad
from numpy_ddqn.nn.implicit import ImplicitQuantileMLP
from numpy_ddqn.policy import Policy
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.rl.forwards import sampled_tau_forwards
from numpy_ddqn.rl.registry import head_name, rule_name
from numpy_ddqn.rl.targets import RULES

IQN = dict(distribution="implicit", n_taus=4, n_target_taus=5, n_policy_taus=3, n_cos=6)
ACT = {"tanh": np.tanh, "relu": lambda z: max(z, 0.0), "identity": lambda z: z}


def make_net(n_in, hidden, A, activation, dueling, layer_norm, n_cos, seed):
    rng = np.random.default_rng(seed)
    net = ImplicitQuantileMLP((n_in, *hidden, A), activation, np.float64, rng, "dueling" if dueling else "linear",
                              layer_norm, n_cos=n_cos, n_policy_taus=3)
    net.flat[:] = rng.normal(scale=0.7, size=net.n_params)     # every parameter away from its init (LN gains too)
    return net, rng


def naive_z(net, x, taus):                          # one sample, one tau, one unit at a time -> (B, A, N)
    """Z_tau(s, a) by loops: the trunk unit by unit, phi by eq. 4's sum, the output layer and the row head."""
    p = dict(zip(net.param_names, net.params))
    L, H = net.n_layers - 1, net.sizes[-2]
    B, N = taus.shape
    z = np.zeros((B, net.n_actions, N))
    for b in range(B):
        h = list(x[b])
        for i in range(L):
            W, bias = p[f"W{i}"], p[f"b{i}"]
            pre = [sum(h[k] * W[k, j] for k in range(len(h))) + bias[j] for j in range(W.shape[1])]
            if net.layer_norm:
                mu = sum(pre) / len(pre)
                var = sum((v - mu) ** 2 for v in pre) / len(pre)
                pre = [(v - mu) / np.sqrt(var + 1e-5) * p[f"ln_gain{i}"][j] + p[f"ln_bias{i}"][j]
                       for j, v in enumerate(pre)]
            h = [ACT[net.activation](v) for v in pre]
        for n in range(N):
            phi = [max(sum(np.cos(np.pi * j * taus[b, n]) * p["cos_W"][j - 1, u] for j in range(1, net.n_cos + 1))
                       + p["cos_b"][u], 0.0) for u in range(H)]
            row = [h[u] * phi[u] for u in range(H)]
            W, bias = p[f"W{L}"], p[f"b{L}"]
            out = [sum(row[u] * W[u, k] for u in range(H)) + bias[k] for k in range(W.shape[1])]
            if net.head_name == "dueling":             # V_tau + A_tau - mean_a A_tau on this tau's row
                adv = out[1:]
                out = [out[0] + a - sum(adv) / len(adv) for a in adv]
            z[b, :, n] = out
    return z


nets = dict(n_in=st.integers(1, 3), hidden=st.lists(st.integers(1, 4), min_size=1, max_size=2), A=st.integers(2, 3),
            activation=st.sampled_from(["tanh", "relu", "identity"]), dueling=st.booleans(), layer_norm=st.booleans(),
            n_cos=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))


@settings(deadline=None, max_examples=25)
@given(B=st.integers(1, 3), N=st.integers(1, 4), **nets)
def test_the_network_is_a_naive_per_sample_per_tau_loop(B, N, n_in, hidden, A, activation, dueling, layer_norm,
                                                         n_cos, seed):
    net, rng = make_net(n_in, hidden, A, activation, dueling, layer_norm, n_cos, seed)
    x, taus = rng.normal(size=(B, n_in)), rng.random((B, N))
    z = net.forward(x, raw=True, taus=taus)[0]
    assert z.shape == (B, A, N)
    np.testing.assert_allclose(z, naive_z(net, x, taus), rtol=1e-9, atol=1e-10)
    # Q: the mean over the K fixed taus (2k - 1) / 2K, by the K rows and by the mean embedding alike
    fixed = np.tile([1 / 6, 3 / 6, 5 / 6], (B, 1))
    np.testing.assert_allclose(net.forward(x, raw=True)[0], naive_z(net, x, fixed), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(net.q_values(x), naive_z(net, x, fixed).mean(axis=2), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(net.forward(x)[0], net(x), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(net.forward_one(x[0]), net(x[:1])[0], rtol=1e-12, atol=1e-12)


@settings(deadline=None, max_examples=25)
@given(B=st.integers(1, 3), N=st.integers(1, 4), fixed=st.booleans(), **nets)
def test_the_networks_backward_matches_finite_differences(B, N, fixed, n_in, hidden, A, activation, dueling,
                                                          layer_norm, n_cos, seed):
    """dL/dZ (B, A, N) through the row head, the output layer on the B * N rows, the product psi * phi, the cosine
    embedding (cos_W, cos_b) and the trunk, against central differences of sum(Z * g) over every parameter;
    ``fixed``: the K fixed taus, whose embedding the B states share."""
    net, rng = make_net(n_in, hidden, A, activation, dueling, layer_norm, n_cos, seed)
    x, taus = rng.normal(size=(B, n_in)), (None if fixed else rng.random((B, N)))
    cos = np.cos(np.pi * np.arange(1, n_cos + 1) * (net.fixed_taus if fixed else taus)[..., None])
    pre = cos @ net.params[net.param_names.index("cos_W")] + net.params[net.param_names.index("cos_b")]
    assume(np.min(np.abs(pre)) > 1e-4)                            # away from phi's ReLU kink
    z, cache = net.forward(x, raw=True, taus=taus)
    g = rng.normal(size=z.shape)
    grad = net.backward(g, cache)[1].copy()
    numeric = numeric_grad(lambda: float(np.sum(net.forward(x, raw=True, taus=taus)[0] * g)), net.flat)
    assert_grad_close(grad, numeric, "implicit network parameters", atol=1e-6)


@pytest.mark.parametrize("double", [True, False])
@given(B=st.integers(1, 4), A=st.integers(1, 3), N=st.integers(1, 4), N2=st.integers(1, 4),
       kappa=st.sampled_from([0.0, 0.5, 1.0]), weighted=st.booleans(), terminal=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_the_rule_on_sampled_taus_is_a_naive_per_sample_per_pair_loop(double, B, A, N, N2, kappa, weighted, terminal,
                                                                      seed):
    """a* by the online mean at s' (Double; else the target's mean over its N' sampled taus), T_j = r + gamma^m
    (1 - terminated) Z'_j(s', a*), and l_b = sum_i mean_j |tau_bi - 1{u < 0}| L_kappa(u) / kappa with each sample's
    own taus, a loop over samples and pairs; and its gradient against central differences."""
    rng = np.random.default_rng(seed)
    rule = RULES["double_implicit" if double else "implicit"]
    assert rule.forwards is sampled_tau_forwards and rule.raw and rule.online_next == double
    z, z_next_target = rng.normal(size=(B, A, N)), rng.normal(size=(B, A, N2))
    q_next_online = rng.normal(size=(B, A, 1))
    taus, action = rng.random((B, N)), rng.integers(0, A, B)
    reward, gamma = rng.normal(size=B), 0.9 ** rng.integers(1, 4, B)
    terminated = (rng.random(B) < 0.5).astype(float) if terminal else np.zeros(B)
    weights = rng.random(B) + 0.1 if weighted else None
    learn = lambda: rule.learn(z, action, reward, terminated, gamma, q_next_online, z_next_target, "huber",
                               weights, taus=taus, kappa=kappa)
    loss, dz, per_sample = learn()
    for b in range(B):
        means = [(q_next_online if double else z_next_target)[b, a].mean() for a in range(A)]
        a_star = int(np.argmax(means))
        target = [reward[b] + gamma[b] * (1 - terminated[b]) * z_next_target[b, a_star, j] for j in range(N2)]
        expected = 0.0
        for i in range(N):
            for j in range(N2):
                u = target[j] - z[b, action[b], i]
                huber = (0.5 * u * u if abs(u) <= kappa else kappa * (abs(u) - 0.5 * kappa)) / kappa if kappa else abs(u)
                expected += abs(taus[b, i] - (u < 0)) * huber / N2
        assert per_sample[b] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert loss == pytest.approx(np.mean(per_sample * (1.0 if weights is None else weights)), rel=1e-12)
    assert_grad_close(dz, numeric_grad(lambda: learn()[0], z), "dL/dZ")


def filled_agent(config, n=40, seed=0):
    agent = DDQNAgent(3, 2, config)
    rng = np.random.default_rng(seed)
    agent.online.flat[:] = rng.normal(scale=0.5, size=agent.online.n_params)
    agent.target.flat[:] = rng.normal(scale=0.5, size=agent.target.n_params)
    for t in range(n):
        agent.replay.add(rng.normal(size=3), t % 2, rng.normal(), rng.normal(size=3), t % 7 == 6, 0.99 ** (1 + t % 3))
    return agent


@pytest.mark.parametrize("fields", [dict(), dict(dueling=True), dict(layer_norm=True, double=False)])
def test_the_agents_gradient_matches_finite_differences_with_its_taus_drawn_again(fields):
    """float64, 3-step discounts, importance weights: the agent's flat gradient on a batch, the taus redrawn from
    the same state of its noise stream for every evaluation of the loss."""
    agent = filled_agent(Config(dtype="float64", hidden_sizes=(5,), prioritized=True, **IQN, **fields))
    batch = agent.replay.sample(8, np.random.default_rng(1), beta=0.5)
    state = agent.rngs.noise.bit_generator.state

    def loss():
        agent.rngs.noise.bit_generator.state = state
        return agent.gradient(batch)[0]

    loss()
    grad = agent._grad.copy()
    q, priority = agent.gradient(batch)[2:]
    assert q.shape == (8, 2) and priority.shape == (8,) and np.all(priority >= 0)
    assert_grad_close(grad, numeric_grad(loss, agent.online.flat), "the agent's gradient")


def test_an_update_draws_independent_taus_for_the_online_and_the_target_net_from_the_noise_stream():
    agent = filled_agent(Config(hidden_sizes=(5,), **IQN))
    batch = agent.replay.sample(6, np.random.default_rng(1))
    replica = np.random.default_rng(0)
    replica.bit_generator.state = agent.rngs.noise.bit_generator.state
    z, _, q_next, z_next, taus = agent.online.learning_forwards(agent.target, batch.obs, batch.next_obs,
                                                                 agent.rngs.noise)
    expected = replica.random((6, 4), dtype=np.float32)               # N = 4 for the online net at s
    expected_next = replica.random((6, 5), dtype=np.float32)          # then N' = 5 for the target at s'
    np.testing.assert_array_equal(taus, expected)
    np.testing.assert_array_equal(z, agent.online.forward(batch.obs, raw=True, taus=expected)[0])
    np.testing.assert_array_equal(z_next, agent.target.forward(batch.next_obs, raw=True, taus=expected_next)[0])
    np.testing.assert_allclose(q_next[:, :, 0], agent.online.forward(batch.next_obs, raw=True)[0].mean(axis=2),
                               rtol=1e-5, atol=1e-6)                  # selection: the K fixed taus' mean
    before = {name: rng.bit_generator.state for name, rng in agent.rngs._asdict().items() if name != "noise"}
    agent.update(batch)
    assert before == {name: rng.bit_generator.state for name, rng in agent.rngs._asdict().items() if name != "noise"}


@pytest.mark.parametrize("fields, head, rule", [(dict(distribution="implicit"), "linear", "double_implicit"),
                                                (dict(distribution="iqn", dueling=True, double=False), "dueling",
                                                 "implicit")])
def test_the_distribution_field_selects_the_network_rule_and_the_memory_plan_counts_it(fields, head, rule):
    config = Config(buffer_size=200, learning_starts=64, **fields)
    assert config.distribution == "implicit" and (head_name(config), rule_name(config)) == (head, rule)
    agent = DDQNAgent(4, 3, config)
    assert isinstance(agent.online, ImplicitQuantileMLP) and agent.online.head_name == head
    assert agent.rule.learn.func is RULES[rule].learn and agent.rule.learn.keywords == {"kappa": 1.0}
    assert (agent.online.n_taus, agent.online.n_target_taus, agent.online.n_policy_taus, agent.online.n_cos) == (
        8, 8, 32, 64)
    assert agent.memory.n_params == agent.online.n_params
    assert agent.online(np.zeros((2, 4))).shape == (2, 3)


@pytest.mark.parametrize("fields, message", [
    (dict(layers="dense8,relu"), "'layers' = 'dense8,relu' is invalid: is not supported with distribution=implicit"),
    (dict(noisy=True), "'noisy' = True is invalid: is not supported with distribution=implicit"),
    (dict(munchausen=True), "'munchausen' = True is invalid: is a target for Q-values"),
    (dict(loss="mse"), "'loss' = 'mse' is invalid: is not read with distribution=implicit"),
    (dict(n_taus=0), "'n_taus' = 0 is invalid: must be an integer >= 1"),
    (dict(n_target_taus=0), "'n_target_taus' = 0 is invalid"),
    (dict(n_policy_taus=0), "'n_policy_taus' = 0 is invalid"),
    (dict(n_cos=0), "'n_cos' = 0 is invalid"),
    (dict(kappa=-1.0), "'kappa' = -1.0 is invalid"),
])
def test_combinations_iqn_does_not_support_are_refused_in_one_line(fields, message):
    with pytest.raises(ConfigError) as e:
        Config(distribution="iqn", **fields)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("fields", [dict(), dict(dueling=True, layer_norm=True, activation="relu")])
def test_the_exported_policy_file_acts_as_the_agent_greedily(tmp_path, fields):
    agent = DDQNAgent(4, 3, Config(hidden_sizes=(8, 6), **IQN, **fields))
    agent.online.flat += np.random.default_rng(0).normal(size=agent.online.n_params).astype(np.float32)
    obs = np.random.default_rng(1).normal(size=(200, 4)).astype(np.float32)
    agent_policy(agent).save(tmp_path / "policy.npz")
    policy = Policy.load(tmp_path / "policy.npz")
    assert policy.layer_list.endswith(",iqn3") and policy.head == agent.online.head_name
    np.testing.assert_allclose(policy.q_values(obs), agent.online(obs), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(policy.q_values(obs), agent.online.forward(obs)[0], rtol=1e-5, atol=1e-5)
    assert [policy.act(o) for o in obs] == [agent.greedy_action(o) for o in obs]
    assert policy.act(obs).tolist() == policy.act(obs).tolist()     # no taus drawn: deterministic


def test_cli_trains_an_iqn_agent_and_exports_it_with_parity(tmp_path):
    pytest.importorskip("gymnasium")
    from numpy_ddqn.export.c import find_compiler
    run = tmp_path / "run"
    out = cli("train", "--out", run, *quick_flags(), "--distribution", "iqn", "--n-taus", "4", "--n-policy-taus", "5")
    assert out.returncode == 0, out.stderr
    assert '"distribution": "implicit"' in (run / "config.json").read_text()
    formats = ["npz"]
    try:
        find_compiler()
        formats.append("c")
    except Exception:
        pass
    formats += ["onnx"] if all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")) else []
    for suffix in formats:
        out = cli("export", run / "last.npz", tmp_path / f"policy.{suffix}", "--check", "50")
        assert out.returncode == 0 and "parity: OK" in out.stdout and "iqn5" in out.stdout, out.stdout + out.stderr


def test_an_iqn_policy_folds_into_the_plain_network_it_equals():
    """C and ONNX get head(psi @ (m W) + b), m the mean embedding: equal to policy.py's to rounding; an iqn op
    anywhere but last is refused in one line."""
    from export_nets import implicit_policy
    from numpy_ddqn.export.graph import fold_implicit
    policy = implicit_policy(0, "tanh", "dueling", True)
    folded = fold_implicit(policy)
    assert "iqn" not in folded.layer_list and len(folded.layers) == len(policy.layers) - 1
    obs = np.random.default_rng(2).normal(size=(100, 4)).astype(np.float32)
    np.testing.assert_allclose(folded.q_values(obs), policy.q_values(obs), rtol=1e-5, atol=1e-5)
    rng = np.random.default_rng(3)
    moved = Policy([rng.normal(size=shape).astype(np.float32) for shape in ((4, 24), (24,), (3, 24), (24,), (24, 3),
                                                                             (3,))], "tanh", None, "linear",
                   "dense24,iqn2,tanh", (4,))             # a tanh after the product: no longer linear in it
    assert moved.q_values(obs).shape == (100, 3)
    with pytest.raises(ValueError, match="only as the last op"):
        fold_implicit(moved)


def test_the_model_api_takes_the_distribution_by_its_alias(tmp_path):
    pytest.importorskip("gymnasium")
    from numpy_ddqn import DDQN
    small = {k: v for k, v in QUICK.items() if k not in ("total_steps", "progress_interval")}
    model = DDQN("CartPole-v1", distribution="iqn", n_taus=4, **small).learn(200)
    assert model.config.distribution == "implicit" and isinstance(model.agent.online, ImplicitQuantileMLP)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    model.save(tmp_path / "m.npz")
    loaded = DDQN.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])


def test_an_iqn_agent_with_action_masks_never_takes_an_illegal_action(tmp_path):
    """Masks reach IQN as every raw rule (``mask_next`` in its Double selection; the rule itself: test_action_masks.py):
    training and evaluation on the masked chain take no illegal action."""
    pytest.importorskip("gymnasium")
    from masked_envs import MaskedChain
    from numpy_ddqn.run.loop import train
    env, eval_env = MaskedChain(), MaskedChain()
    config = Config(env_id="MaskedChain-v0", action_masks=True, learning_starts=100, batch_size=16, buffer_size=2_000,
                    hidden_sizes=(16,), total_steps=1_200, eval_interval=600, eval_episodes=2, confirm_episodes=2,
                    stop_when_solved=False, progress_interval=0, **IQN)
    history = train(config, env=env, eval_env=eval_env, out_dir=tmp_path / "run")
    assert history.agent.updates > 500 and env.illegal == 0 and eval_env.illegal == 0
