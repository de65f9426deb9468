"""The training loop on real Gymnasium envs: smoke, solve, seeding, logs, checkpoints, resume."""
import json

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from helpers import QUICK as BASE  # noqa: E402

from numpy_ddqn.config import Config  # noqa: E402
from numpy_ddqn.rl.agent import DDQNAgent  # noqa: E402
from numpy_ddqn.run.loop import train  # noqa: E402
from numpy_ddqn.run.runlog import read_log  # noqa: E402

QUICK = {**BASE, "total_steps": 600, "learning_starts": 100, "batch_size": 32, "eval_interval": 300,
         "eval_episodes": 2, "hidden_sizes": (16,), "log_interval": 300}

# A fixed seed with the default config: it solves CartPole-v1 (the full 10 + 100 episode check of
# bench/BENCHMARK.md) well inside this budget; bench/bench_solve.py has every seed's figure.
SOLVE_SEED, SOLVE_BUDGET = 6, 25_000



def test_smoke_run_writes_its_files(tmp_path):
    h = train(Config(**QUICK), out_dir=tmp_path)
    assert h.steps == 600 and h.reason == "budget" and h.episodes == len(h.episode_returns) > 0
    assert [e["step"] for e in h.evals] == [300, 600]
    assert json.loads((tmp_path / "config.json").read_text())["total_steps"] == 600
    kinds = [r["kind"] for r in read_log(tmp_path)]
    assert {"event", "episode", "eval", "update", "summary"} <= set(kinds)
    episodes = [r for r in read_log(tmp_path) if r["kind"] == "episode"]
    assert [r["ret"] for r in episodes] == h.episode_returns
    agent = DDQNAgent.from_checkpoint(tmp_path / "last.npz", 4, 2)
    np.testing.assert_array_equal(agent.online.flat, h.agent.online.flat)
    assert (tmp_path / "best.npz").is_file()


def test_solves_cartpole_with_a_fixed_seed():
    h = train(Config(seed=SOLVE_SEED, total_steps=SOLVE_BUDGET, progress_interval=0.0))
    assert h.solved and h.reason == "solved", f"best evaluation {h.best_eval} in {h.steps} steps"
    assert h.evals[-1]["confirm_mean"] >= 475
    # the greedy policy really balances the pole on fresh start states
    env = gym.make("CartPole-v1")
    from numpy_ddqn.run.evaluate import evaluate
    assert evaluate(h.agent.greedy_action, env, 5, seed=777).mean() >= 475


def test_same_seed_same_run_different_seed_different_run(tmp_path):
    a = train(Config(**QUICK, seed=3), out_dir=tmp_path / "a")
    b = train(Config(**QUICK, seed=3), out_dir=tmp_path / "b")
    c = train(Config(**QUICK, seed=4))
    np.testing.assert_array_equal(a.agent.online.flat, b.agent.online.flat)
    strip = lambda rows: [{k: v for k, v in r.items() if "wall" not in k and k not in ("steps_per_s", "out_dir",
                          "last_checkpoint", "best_checkpoint")} for r in rows if r["kind"] != "summary"]
    assert strip(read_log(tmp_path / "a")) == strip(read_log(tmp_path / "b"))
    assert not np.array_equal(a.agent.online.flat, c.agent.online.flat)


def test_env_instance_and_other_envs():
    env = gym.make("Acrobot-v1")
    h = train(Config.for_env("Acrobot-v1", **{**QUICK, "batch_size": 32}), env=env)
    assert h.steps == 600 and h.agent.n_actions == 3 and h.agent.obs_dim == 6


def episode_boundaries(run_dir):
    return [r["step"] for r in read_log(run_dir) if r["kind"] == "episode"]


def test_resume_from_an_episode_boundary_is_bit_exact(tmp_path):
    config = Config(**{**QUICK, "total_steps": 1500, "eval_interval": 500}, save_replay=True)
    full = train(config, out_dir=tmp_path / "full")
    boundary = next(s for s in episode_boundaries(tmp_path / "full") if 700 < s < 1200)
    first = train(config.replace(total_steps=boundary), out_dir=tmp_path / "part")
    assert first.steps == boundary
    resumed = train(config, out_dir=tmp_path / "part", resume=tmp_path / "part" / "last.npz")
    assert resumed.steps == 1500
    np.testing.assert_array_equal(resumed.agent.online.flat, full.agent.online.flat)
    np.testing.assert_array_equal(resumed.agent.target.flat, full.agent.target.flat)
    assert episode_boundaries(tmp_path / "part") == episode_boundaries(tmp_path / "full")
