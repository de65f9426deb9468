"""Noisy layers and LayerNorm in the agent: the noise stream and schedule, epsilon off, exact resume, export of the
mean weights and of LayerNorm, the memory plan and the config's errors."""
import numpy as np
import pytest

from numpy_ddqn import Config
from numpy_ddqn.checkpoint import agent_policy, load_checkpoint, save_checkpoint
from numpy_ddqn.errors import ConfigError
from numpy_ddqn.policy import Policy
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.rl.seeding import make_rngs
from numpy_ddqn.run.report import start_line

SMALL = dict(hidden_sizes=(8, 8), batch_size=8, learning_starts=16, buffer_size=500, n_step=3, train_freq=1,
             target_update_interval=10)


def drive(agent, steps, seed):
    """``steps`` acting-and-learning steps on random observations (a fixed sequence per seed)."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        obs, next_obs = rng.normal(size=(2, agent.obs_dim)).astype(np.float32)
        a = agent.act(obs)
        agent.observe(obs, a, float(rng.normal()), next_obs, bool(rng.random() < 0.1))


def test_the_noise_stream_leaves_the_other_streams_as_they_were():
    old = [np.random.default_rng(s) for s in np.random.SeedSequence(11).spawn(3)]   # make_rngs before noise
    new = make_rngs(11)
    for a, b in zip(old, new[:3]):
        assert a.bit_generator.state == b.bit_generator.state
    assert new.noise.bit_generator.state != new.init.bit_generator.state


def test_noisy_agent_acts_on_new_noise_each_step_and_evaluates_on_the_mean():
    agent = DDQNAgent(3, 4, Config(noisy=True, **SMALL))
    assert agent.epsilon == 0.0
    obs = np.array([0.3, -1.0, 2.0], np.float32)
    before = agent.rngs.noise.bit_generator.state
    mean_action = int(agent.online(obs[None]).argmax())
    assert agent.act(obs, greedy=True) == mean_action
    assert agent.rngs.noise.bit_generator.state == before             # greedy: no draw
    actions = {agent.act(obs) for _ in range(40)}
    assert agent.rngs.noise.bit_generator.state != before             # acting: a draw per step
    assert len(actions) > 1                                           # the noise changes the greedy action
    assert int(agent.online(obs[None]).argmax()) == mean_action       # and is gone after acting
    keep = DDQNAgent(3, 4, Config(noisy=True, noisy_epsilon=True, **SMALL))
    assert keep.epsilon == 1.0


def test_each_update_draws_the_online_then_the_target_noise():
    agent = DDQNAgent(3, 2, Config(noisy=True, **SMALL))
    drive(agent, 20, 0)
    batch = agent.replay.sample(8, agent.rngs.replay)
    copy = np.random.default_rng()
    copy.bit_generator.state = agent.rngs.noise.bit_generator.state
    sizes = agent.online.sizes                                        # per layer n_in + 1 + n_out normals
    online_noise, target_noise = (copy.standard_normal(sum(m + 1 + n for m, n in zip(sizes, sizes[1:])), np.float32)
                                  for _ in range(2))
    assert not np.array_equal(online_noise, target_noise)             # independent draws
    agent.update(batch)
    assert agent.rngs.noise.bit_generator.state == copy.bit_generator.state   # exactly two draws
    x = np.ones((2, 3), np.float32)                                   # the nets are back on their means
    W0, b0, W1, b1, W2, b2 = agent.online.params[:6]
    np.testing.assert_allclose(agent.online(x), np.tanh(np.tanh(x @ W0 + b0) @ W1 + b1) @ W2 + b2, rtol=1e-5)


@pytest.mark.parametrize("fields", [dict(), dict(layers="dense8,relu,dense8,relu")])
def test_the_updates_one_draw_is_the_online_draw_then_the_target_draw(fields):
    """The update draws both networks' noise in one Generator call: the same noise as ``online.sample_noise`` then
    ``target.sample_noise`` from the same stream (so the learned weights are those of two draws, bit for bit)."""
    agent = DDQNAgent(3, 2, Config(noisy=True, **{**SMALL, **fields}))
    drive(agent, 20, 0)
    copy = np.random.default_rng()
    copy.bit_generator.state = agent.rngs.noise.bit_generator.state
    agent.gradient(agent.replay.sample(8, agent.rngs.replay))
    twin = DDQNAgent(3, 2, Config(noisy=True, **{**SMALL, **fields}))
    twin.online.sample_noise(copy)
    twin.target.sample_noise(copy)
    for net, twin_net in ((agent.online, twin.online), (agent.target, twin.target)):
        assert len(net.noise_blocks) == 3
        for block, twin_block in zip(net.noise_blocks, twin_net.noise_blocks):
            np.testing.assert_array_equal(block, twin_block)
    assert copy.bit_generator.state == agent.rngs.noise.bit_generator.state


@pytest.mark.parametrize("fields", [dict(noisy=True), dict(layer_norm=True), dict(noisy=True, layer_norm=True,
                                                                                     dueling=True),
                                    dict(noisy=True, layers="dense8,layernorm,relu", dueling=True)])
def test_resume_through_a_checkpoint_file_continues_exactly(fields, tmp_path):
    config = Config(**SMALL, **fields)
    agent = DDQNAgent(3, 2, config)
    drive(agent, 60, 1)
    path = save_checkpoint(tmp_path / "c.npz", {"config": config.to_dict(),
                                                "agent": agent.state_dict(include_replay=True)})
    clone = DDQNAgent(3, 2, config)
    clone.load_state_dict(load_checkpoint(path)["agent"])
    assert clone.rngs.noise.bit_generator.state == agent.rngs.noise.bit_generator.state
    for a in (agent, clone):
        drive(a, 60, 2)
    np.testing.assert_array_equal(agent.online.flat, clone.online.flat)   # sigmas, gains, optimizer: all followed
    np.testing.assert_array_equal(agent.target.flat, clone.target.flat)
    assert agent.rngs.noise.bit_generator.state == clone.rngs.noise.bit_generator.state


def test_a_state_from_before_the_noise_stream_still_loads():
    agent = DDQNAgent(3, 2, Config(**SMALL))
    state = agent.state_dict()
    del state["rngs"]["noise"]
    DDQNAgent(3, 2, Config(**SMALL)).load_state_dict(state)


@pytest.mark.parametrize("fields", [dict(noisy=True), dict(noisy=True, dueling=True)])
def test_a_noisy_agent_exports_its_mean_weights_as_a_plain_policy(fields, tmp_path):
    agent = DDQNAgent(3, 3, Config(**SMALL, **fields))
    drive(agent, 40, 3)
    policy = agent_policy(agent)
    assert policy.layer_list is None and len(policy.weights()) == 6   # W, b of three layers, no sigma
    for exported, mu in zip(policy.weights(), agent.online.params[:6]):
        np.testing.assert_array_equal(exported, mu)
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    np.testing.assert_allclose(policy.q_values(obs), agent.online(obs), rtol=1e-6)
    again = Policy.load(policy.save(tmp_path / "p.npz"))
    np.testing.assert_array_equal(again.act(obs), agent.online(obs).argmax(axis=1))


@pytest.mark.parametrize("fields", [dict(layer_norm=True), dict(layer_norm=True, dueling=True, activation="relu")])
def test_a_layernorm_agent_exports_a_policy_of_layers(fields, tmp_path):
    agent = DDQNAgent(3, 3, Config(**SMALL, **fields))
    drive(agent, 40, 4)
    policy = agent_policy(agent)
    assert policy.layer_list == f"dense8,layernorm,{agent.config.activation},dense8,layernorm,{agent.config.activation}"
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    np.testing.assert_allclose(policy.q_values(obs), agent.online(obs), rtol=1e-4, atol=1e-5)
    again = Policy.load(policy.save(tmp_path / "p.npz"))
    np.testing.assert_array_equal(again.q_values(obs), policy.q_values(obs))


@pytest.mark.parametrize("fields", [dict(noisy=True), dict(layer_norm=True), dict(noisy=True, layer_norm=True,
                                                                                     dueling=True)])
def test_the_memory_plan_counts_gains_and_sigmas(fields):
    agent = DDQNAgent(5, 3, Config(**SMALL, **fields))
    assert agent.memory.n_params == agent.online.n_params == agent.target.n_params
    assert agent.online.n_params > DDQNAgent(5, 3, Config(**SMALL, dueling=fields.get("dueling", False))).online.n_params


@pytest.mark.parametrize("fields, match", [
    (dict(layer_norm=True, layers="dense8,relu"), "'layer_norm' = True is invalid: .*layernorm in the list"),
    (dict(noisy_sigma0=-0.1), "'noisy_sigma0' = -0.1 is invalid: must be >= 0"),
    (dict(layers="conv16x3,layernorm,relu"), "layer layernorm needs a vector of features; it gets shape"),
])
def test_bad_noisy_and_layernorm_settings_fail_in_one_line(fields, match):
    with pytest.raises(ConfigError, match=match) as info:
        DDQNAgent((6, 6, 2), 2, Config(**fields))
    assert "\n" not in str(info.value)


def test_the_start_line_says_epsilon_is_off():
    assert "epsilon-greedy is off" in start_line(Config(noisy=True), None, None)
    assert "stays on" in start_line(Config(noisy=True, noisy_epsilon=True), None, None)
    assert "noisy" not in start_line(Config(), None, None)


@pytest.mark.parametrize("noisy", [False, True])
def test_a_network_of_layers_with_layernorm_and_noise_trains_and_exports_its_means(noisy):
    agent = DDQNAgent(3, 2, Config(**{**SMALL, "layers": "dense8,layernorm,relu", "noisy": noisy}))
    assert agent.memory.n_params == agent.online.n_params
    drive(agent, 40, 5)
    policy = agent_policy(agent)
    assert policy.layer_list == "dense8,layernorm,relu" and len(policy.weights()) == 6   # no sigma exported
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    np.testing.assert_allclose(policy.q_values(obs), agent.online(obs), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["mlp-layernorm", "conv-layernorm-dueling"])
def test_the_layernorm_rounding_bound_holds_and_still_flags_a_wrong_gain(name):
    from export_nets import policies
    from numpy_ddqn.export import check_parity
    policy = policies()[name]
    obs = (2 * np.random.default_rng(1).normal(size=(500, *policy.obs_shape))).astype(np.float32)
    weights = policy.weights()
    exact = Policy([a.astype(np.float64) for a in weights], policy.activation, policy.env_id, policy.head,
                   policy.layer_list, policy.obs_shape)
    report = check_parity(policy, lambda x: (exact.q_values(x.astype(np.float64)), exact.act(x.astype(np.float64))),
                          [("random", obs)], "float64")
    assert report.ok, str(report)                                 # float64 is within the float32 bound
    gain = next(i for i, op in enumerate(t for t in policy.layer_list.split(",") if t.startswith(("dense", "conv",
                                                                                                 "layernorm")))
                if op == "layernorm")
    wrong = [a * np.float32(1.01) if i == 2 * gain else a for i, a in enumerate(weights)]   # a 1% wrong gain
    bad = Policy(wrong, policy.activation, policy.env_id, policy.head, policy.layer_list, policy.obs_shape)
    report = check_parity(policy, lambda x: (bad.q_values(x), bad.act(x)), [("random", obs)], "wrong")
    assert not report.ok
