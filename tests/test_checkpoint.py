"""Checkpoints: round trip, atomic replace, and clear errors for bad files."""

import numpy as np
import pytest

from numpy_ddqn.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from numpy_ddqn.config import Config
from numpy_ddqn.errors import CheckpointError
from numpy_ddqn.rl.agent import DDQNAgent


def agent_state(config=None, obs_dim=4, n_actions=2):
    agent = DDQNAgent(obs_dim, n_actions, config or Config(hidden_sizes=(8,), learning_starts=8, batch_size=8))
    obs = np.ones(obs_dim)
    for i in range(20):
        agent.observe(obs * i, i % n_actions, 1.0, obs, False)
    return agent, {"config": agent.config.to_dict(), "env_id": agent.config.env_id, "obs_dim": obs_dim,
                   "n_actions": n_actions, "agent": agent.state_dict(include_replay=True)}


def test_round_trip(tmp_path):
    agent, state = agent_state()
    save_checkpoint(tmp_path / "c.npz", state)
    loaded = DDQNAgent.from_checkpoint(tmp_path / "c.npz", 4, 2)
    np.testing.assert_array_equal(loaded.online.flat, agent.online.flat)
    np.testing.assert_array_equal(loaded.replay.obs, agent.replay.obs)
    assert loaded.steps == agent.steps and loaded.optimizer.t == agent.optimizer.t
    assert load_checkpoint(tmp_path / "c.npz")["format_version"] == FORMAT_VERSION
    with np.load(tmp_path / "c.npz", allow_pickle=False) as data:     # plain npz, no pickle
        assert "agent/online" in data.files


def test_a_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    agent, state = agent_state()
    path = save_checkpoint(tmp_path / "c.npz", state)
    good = path.read_bytes()
    import numpy_ddqn.policy as writer                                 # write_atomic, the checkpoints' writer
    def crash(*a):
        raise OSError("disk full")
    monkeypatch.setattr(writer.os, "fsync", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, {**state, "env_id": "Other"})
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]          # no temp file left behind


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "truncated or corrupt"),
    (lambda b: b"not a checkpoint at all", "truncated or corrupt"),
    (lambda b: b"", "truncated or corrupt"),
])
def test_damaged_files_get_a_clear_error(tmp_path, damage, message):
    agent, state = agent_state()
    path = save_checkpoint(tmp_path / "c.npz", state)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        DDQNAgent.from_checkpoint(path)


def test_a_plain_npz_is_not_a_checkpoint(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a numpy_ddqn checkpoint"):
        load_checkpoint(tmp_path / "x.npz")


def test_a_newer_format_is_refused(tmp_path):
    _, state = agent_state()
    save_checkpoint(tmp_path / "c.npz", state)
    import numpy_ddqn.checkpoint as ck
    path = tmp_path / "new.npz"
    original = ck.FORMAT_VERSION
    try:
        ck.FORMAT_VERSION = original + 1
        save_checkpoint(path, state)
    finally:
        ck.FORMAT_VERSION = original
    with pytest.raises(CheckpointError, match="upgrade"):
        load_checkpoint(path)


def test_other_env_spaces_are_refused(tmp_path):
    _, state = agent_state()
    save_checkpoint(tmp_path / "c.npz", state)
    with pytest.raises(CheckpointError, match="4 observations and 2 actions"):
        DDQNAgent.from_checkpoint(tmp_path / "c.npz", 6, 3)


def test_other_architecture_is_refused(tmp_path):
    _, state = agent_state()
    state["config"]["hidden_sizes"] = [9]                               # config no longer fits weights
    save_checkpoint(tmp_path / "c.npz", state)
    with pytest.raises(CheckpointError, match="does not fit"):
        DDQNAgent.from_checkpoint(tmp_path / "c.npz")


def test_missing_file():
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint("/nonexistent/c.npz")


def test_a_checkpoint_written_by_numpy_ddqn_0_2_loads_acts_alike_and_trains_on(tmp_path):
    """tests/fixtures/checkpoint-0.2-*.npz: written at e45ef66 (before the registries) by a dueling, prioritized,
    3-step agent with its replay, 2 steps into an episode; its Q-values on 16 observations were saved beside it."""
    import shutil
    from pathlib import Path

    from numpy_ddqn import train
    fixtures = Path(__file__).parent / "fixtures"
    path = fixtures / "checkpoint-0.2-dueling-per-nstep.npz"
    expected = np.load(fixtures / "checkpoint-0.2-dueling-per-nstep-q.npz")
    agent = DDQNAgent.from_checkpoint(path, 4, 2)
    assert agent.online.head_name == "dueling" and agent.steps == int(expected["steps"])
    assert agent.updates == int(expected["updates"]) and agent.replay.size == int(expected["replay_size"])
    assert agent.replay.tree.total > 0 and len(agent.writer.accumulators[0].pending) == 2   # its n-step window
    np.testing.assert_allclose(agent.online(expected["obs"]), expected["q"], rtol=1e-5, atol=1e-6)
    shutil.copy(path, tmp_path / "last.npz")
    history = train(agent.config.replace(total_steps=agent.steps + 300), out_dir=tmp_path, resume=tmp_path / "last.npz")
    assert history.steps == agent.steps + 300
