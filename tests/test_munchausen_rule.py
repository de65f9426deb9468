"""Munchausen DQN as the agent's learning rule, end to end: the agent feeds the rule Q_target at s and s' (one stacked
forward) and gamma^m; config, CLI, model API, presets and checkpoints name it. The pure target is tested in
tests/test_munchausen.py."""
import json

import numpy as np
import pytest

from helpers import QUICK, cli, quick_flags

from numpy_ddqn import Config
from numpy_ddqn.errors import ConfigError
from numpy_ddqn.nn.losses import td_loss
from numpy_ddqn.presets import NAMED_PRESETS
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.rl.munchausen import munchausen_targets
from numpy_ddqn.rl.registry import rule_name, rule_params


def filled_agent(**fields):
    agent = DDQNAgent(3, 4, Config(batch_size=16, learning_starts=16, buffer_size=200, hidden_sizes=(8,),
                                   munchausen=True, dtype="float64", **fields))
    rng = np.random.default_rng(1)
    obs = rng.normal(size=3)
    for t in range(150):
        nxt = rng.normal(size=3)
        agent.store(obs, int(rng.integers(4)), float(rng.normal()), nxt, t % 17 == 16, t % 23 == 22)
        obs = nxt
    agent.target.flat[...] = np.random.default_rng(2).normal(size=agent.target.n_params)   # target != online
    return agent


@pytest.mark.parametrize("fields", [dict(n_step=1), dict(n_step=3, prioritized=True)])
def test_the_agent_learns_from_the_munchausen_target_of_its_target_network_at_s_and_s_prime(fields):
    agent = filled_agent(m_alpha=0.5, m_tau=0.1, m_l0=-2.0, **fields)
    batch = agent.replay.sample(16, np.random.default_rng(3), 0.5)
    loss, grad, q, td = agent.gradient(batch)
    discount = agent.config.gamma if batch.discount is None else batch.discount     # gamma^m per transition
    y = munchausen_targets(batch.reward, batch.terminated, discount, batch.action, agent.target(batch.obs),
                           agent.target(batch.next_obs), alpha=0.5, tau=0.1, l0=-2.0)
    expected_loss, _, expected_td = td_loss(agent.online(batch.obs), batch.action, y, "huber", batch.weights)
    np.testing.assert_allclose(td, expected_td, rtol=1e-12, atol=1e-12)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    metrics = agent.update(batch)                 # and a full update with priorities runs
    assert np.isfinite(metrics["loss"])


def test_the_config_selects_munchausen_and_binds_its_settings():
    config = Config(munchausen=True, m_alpha=0.7, m_tau=0.05, m_l0=-0.5)
    assert rule_name(config) == "munchausen" and rule_params(config) == {"alpha": 0.7, "tau": 0.05, "l0": -0.5}
    assert rule_name(Config()) == "double" and rule_params(Config()) == {}
    assert Config(**NAMED_PRESETS["munchausen"]).munchausen


def test_a_preset_with_munchausen_takes_the_rainbow_preset_and_says_how_to_take_a_distribution():
    # the classic-control presets have Munchausen's targets (bench/PRESETS.md); they are for Q-values, so a
    # distribution needs them off
    assert all(Config.for_env(env).munchausen for env in ("Acrobot-v1", "MountainCar-v0", "LunarLander-v3"))
    assert not Config.for_env("CartPole-v1").munchausen
    rainbow = Config.for_env("LunarLander-v3", **NAMED_PRESETS["rainbow"])
    assert rainbow.distribution == "categorical" and not rainbow.munchausen
    with pytest.raises(ConfigError, match="munchausen=false, flag --no-munchausen"):
        Config.for_env("LunarLander-v3", distribution="quantile")
    assert Config.for_env("LunarLander-v3", distribution="quantile", munchausen=False).distribution == "quantile"


@pytest.mark.parametrize("field, value", [("m_tau", 0.0), ("m_tau", -1.0), ("m_l0", 0.5), ("m_alpha", -0.1),
                                          ("m_tau", float("nan"))])
def test_bad_munchausen_settings_are_one_line_config_errors(field, value):
    with pytest.raises(ConfigError, match=f"config field '{field}'"):
        Config(munchausen=True, **{field: value})


def test_munchausen_trains_from_the_cli_and_its_checkpoint_loads_with_it(tmp_path):
    pytest.importorskip("gymnasium")
    out = tmp_path / "run"
    result = cli("train", *quick_flags(n_step=3), "--munchausen", "--m-tau", "0.05", "--prioritized", "--out", out)
    assert result.returncode == 0, result.stderr
    saved = json.loads((out / "config.json").read_text())
    assert saved["munchausen"] is True and saved["m_tau"] == 0.05
    agent = DDQNAgent.from_checkpoint(out / "last.npz")
    assert agent.config.munchausen and agent.rule.target_obs and agent.steps == QUICK["total_steps"]


def test_munchausen_from_the_model_api():
    pytest.importorskip("gymnasium")
    from numpy_ddqn.model import DDQN
    model = DDQN("CartPole-v1", munchausen=True, **{k: v for k, v in QUICK.items() if k != "total_steps"})
    model.learn(300)
    assert model.agent.rule.target_obs and model.num_timesteps == 300
