"""Faults mid-run and malformed env output: nothing lost, the right thing blamed, one line each.

The env here misbehaves on request: it raises in ``step()``, returns NaN from ``reset()``, values that
overflow float32, a reward that is an array or ``None``, an observation of the wrong shape.
"""
import textwrap

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from helpers import QUICK, cli  # noqa: E402

from numpy_ddqn.checkpoint import load_checkpoint  # noqa: E402
from numpy_ddqn.config import Config  # noqa: E402
from numpy_ddqn.errors import EnvError, TrainingError  # noqa: E402
from numpy_ddqn.run.loop import train  # noqa: E402
from numpy_ddqn.run.report import format_summary  # noqa: E402
from numpy_ddqn.run.runlog import read_log  # noqa: E402

FAULTY = textwrap.dedent('''
    import gymnasium as gym
    import numpy as np

    class Faulty(gym.Env):
        """3 observations, 2 actions, 20-step episodes; ``fault`` happens from env step ``at`` on."""
        observation_space = gym.spaces.Box(-1, 1, (3,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def __init__(self, fault=None, at=10**9):
            self.fault, self.at, self.total, self.t = fault, at, 0, 0

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            obs = self.np_random.uniform(-1, 1, 3).astype(np.float32)
            if self.fault == "nan_reset" and self.total >= self.at:
                obs[1] = np.nan
            return obs, {}

        def step(self, action):
            self.t += 1
            self.total += 1
            obs, reward = self.np_random.uniform(-1, 1, 3).astype(np.float32), 1.0
            if self.total >= self.at:
                if self.fault == "raise":
                    raise ConnectionError("simulator connection lost")
                if self.fault == "huge_obs":
                    obs = np.array([1e39, 0, 0])
                if self.fault == "array_reward":
                    reward = np.array([0.5, 0.5])
                if self.fault == "size1_reward":
                    reward = np.array([0.5])
                if self.fault == "none_reward":
                    reward = None
                if self.fault == "bad_shape":
                    obs = np.zeros(4, np.float32)
            return obs, reward, False, self.t >= 20, {}

    for name, fault, at in [("Crash", "raise", 150), ("NanReset", "nan_reset", 100), ("Huge", "huge_obs", 70),
                            ("ArrayReward", "array_reward", 55), ("NoneReward", "none_reward", 55),
                            ("BadShape", "bad_shape", 33), ("Fine", None, 10**9)]:
        gym.register(f"{name}-v0", entry_point=Faulty, kwargs={"fault": fault, "at": at})
''')



@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """The module's folder (on sys.path for the in-process tests; the cwd of the CLI ones)."""
    import sys
    folder = tmp_path_factory.mktemp("faulty")
    (folder / "faulty.py").write_text(FAULTY)
    sys.path.insert(0, str(folder))
    import faulty as module
    yield folder, module
    sys.path.remove(str(folder))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")   # 1e39 -> float32 is the point
@pytest.mark.parametrize("env_id, message", [
    ("NanReset-v0", r"non-finite reset observation at env step 1\d\d \(in float32\)"),
    ("Huge-v0", r"non-finite observation at env step 70 \(in float32\).*overflow float32"),
    ("ArrayReward-v0", r"reward that is not a number at env step 55: array\(\[0.5, 0.5\]\)"),
    ("NoneReward-v0", r"reward that is not a number at env step 55: None"),
    ("BadShape-v0", r"observation of shape \(4,\) at env step 33; its observation space says \(3,\)"),
])
def test_malformed_env_output_is_named_with_the_step(faulty, env_id, message):
    env = gym.make(f"faulty:{env_id}")
    with pytest.raises(EnvError, match=message) as e:
        train(Config(**QUICK, env_id=f"faulty:{env_id}"), env=env)
    assert env_id in str(e.value)


def test_a_size_1_reward_is_taken_as_a_float(faulty):
    _, module = faulty
    h = train(Config(**QUICK), env=module.Faulty("size1_reward", at=5))
    assert h.steps == 300 and all(isinstance(r, float) for r in h.episode_returns)
    assert h.episode_returns[-1] == pytest.approx(0.5 * 20)


def test_an_env_crash_mid_run_saves_logs_and_resumes(faulty, tmp_path):
    folder, _ = faulty
    run = tmp_path / "crash"
    out = cli("train", "--env", "faulty:Crash-v0", "--out", run, "--steps", "400", "--learning-starts", "50",
              "--batch-size", "16", "--hidden-sizes", "8", "--eval-interval", "0", "--progress-interval", "0",
              cwd=folder)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("numpy-ddqn: error: faulty:Crash-v0.step() raised at env step 150: ConnectionError: "
                           "simulator connection lost; saved at that step: resume with numpy-ddqn train --resume")
    state = load_checkpoint(run / "last.npz")
    assert state["agent"]["steps"] == 149 and state["loop"]["mid_episode"] is True
    stop = [r for r in read_log(run) if r["kind"] == "event"][-1]
    assert stop["event"] == "stop" and stop["reason"] == "error" and "simulator connection lost" in stop["error"]
    summary = [r for r in read_log(run) if r["kind"] == "summary"][-1]
    assert summary["reason"] == "error" and summary["steps"] == 149
    # the crash env crashes again at its 150th step, so resume it with a budget it reaches first
    again = cli("train", "--resume", run / "last.npz", "--steps", "250", "--progress-interval", "0", cwd=folder)
    assert again.returncode == 0 and "Budget spent: 250 steps" in again.stdout, again.stderr


def test_an_unexpected_exception_in_the_loop_is_saved_and_named(faulty, tmp_path, monkeypatch):
    _, module = faulty
    from numpy_ddqn.rl.agent import DDQNAgent
    original = DDQNAgent.store

    def broken(self, *args, **kwargs):
        if self.steps == 120:
            raise RuntimeError("a bug in the agent")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DDQNAgent, "store", broken)
    with pytest.raises(TrainingError, match=r"at env step 120 by an unexpected RuntimeError: a bug in the agent; "
                                            r"saved at that step") as e:
        train(Config(**QUICK), env=module.Faulty(), out_dir=tmp_path)
    assert isinstance(e.value.__cause__, RuntimeError)
    assert load_checkpoint(tmp_path / "last.npz")["agent"]["steps"] == 120


def test_the_headline_of_an_interrupted_run_that_had_solved():
    fields = {"reason": "interrupted", "steps": 45_000, "total_steps": 100_000, "episodes": 400, "solved": True,
              "solved_at": 22_000, "solve_train_wall_s": 2.0, "solve_total_wall_s": 3.0, "best_eval": 500.0,
              "train_wall_s": 5.0, "total_wall_s": 6.0, "out_dir": "runs/x", "last_checkpoint": "runs/x/last.npz"}
    text = format_summary(fields, "CartPole-v1")
    assert text.splitlines()[0] == ("Interrupted at step 45,000, after it had solved CartPole-v1 at step 22,000 "
                                    "(2.0 s of training, 3.0 s with evaluation); a checkpoint was saved.")
    assert "--resume runs/x/last.npz --steps 100000" in text


def test_start_line_names_the_preset_and_warns_for_gamma_1(faulty, tmp_path):
    folder, _ = faulty
    out = cli("train", "--env", "faulty:Fine-v0", "--steps", "60", "--gamma", "1", "--eval-interval", "0",
              "--learning-starts", "16", "--batch-size", "16", "--out", tmp_path / "r", cwd=folder)
    assert out.returncode == 0, out.stderr
    assert "no preset for faulty:Fine-v0: the defaults" in out.stderr
    assert "warning: gamma = 1 does not discount" in out.stderr
    out = cli("train", "--env", "Acrobot-v1", "--steps", "60", "--eval-interval", "0", "--out", tmp_path / "a")
    assert out.returncode == 0 and "preset Acrobot-v1" in out.stderr, out.stderr



# -- 1. two runs into one folder -------------------------------------------------------------------

def test_two_concurrent_runs_into_one_folder_the_second_is_refused(tmp_path):
    import subprocess
    import sys
    args = [sys.executable, "-m", "numpy_ddqn", "train", "--out", str(tmp_path / "same"), "--steps", "4000",
            "--eval-interval", "0", "--progress-interval", "0"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (_, err1), (_, err2) = first.communicate(timeout=120), second.communicate(timeout=120)
    codes = sorted([first.returncode, second.returncode])
    assert codes == [0, 1], (err1, err2)
    refused = err1 if first.returncode else err2
    (line,) = refused.strip().splitlines()
    assert str(tmp_path / "same") in line and ("in use by another numpy-ddqn process" in line or
                                                "already holds a run" in line)
    events = [r["event"] for r in read_log(tmp_path / "same") if r["kind"] == "event"]
    assert events == ["start", "stop"]                       # one run's log, not two interleaved


LOCK_HOLDER = """
import sys, time
from numpy_ddqn.run.runlock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_held_lock_refuses_and_a_killed_holder_leaves_none_behind(tmp_path):
    import signal
    import subprocess
    import sys

    from numpy_ddqn.errors import RunFolderBusy
    from numpy_ddqn.run.runlock import RunLock
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunFolderBusy, match=rf"{tmp_path} is in use by another numpy-ddqn process \(pid {holder.pid}\)"):
        RunLock(tmp_path).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with RunLock(tmp_path):                                  # the kernel released the dead holder's lock
        pass
    with pytest.raises(ZeroDivisionError):                   # released on an exception too
        with RunLock(tmp_path):
            1 / 0
    RunLock(tmp_path).acquire().release()


# -- 5, 6. memory the machine cannot have; resume costs what was saved ------------------------------

def test_memory_is_planned_before_allocating_and_refused_in_one_line(monkeypatch):
    from numpy_ddqn.errors import ConfigError
    from numpy_ddqn.rl import memory
    from numpy_ddqn.rl.agent import DDQNAgent
    with pytest.raises(ConfigError, match=r"needs 520.0 GB \(replay 520.0 GB: 10,000,000,000 transitions x 52 "
                                          r"bytes.*lower buffer_size or hidden_sizes"):
        DDQNAgent(4, 2, Config(buffer_size=10**10))
    with pytest.raises(ConfigError, match=r"needs 240.0 GB \(replay 2.6 MB: .*networks 240.0 GB: 10,000,800,002 parameters\)"):
        DDQNAgent(4, 2, Config(hidden_sizes=(100_000, 100_000)))
    monkeypatch.setattr(memory, "available_memory", lambda: 1_000_000)
    with pytest.raises(ConfigError, match=r"only 1.0 MB is available"):
        DDQNAgent(4, 2, Config(buffer_size=50_000))
    monkeypatch.setattr(memory, "available_memory", lambda: None)    # unknown: nothing refused
    DDQNAgent(4, 2, Config(buffer_size=1000, learning_starts=100))


@pytest.mark.parametrize("optimizer, momentum", [("adam", 0.0), ("sgd", 0.0), ("sgd", 0.9)])
def test_the_plan_is_what_the_agent_allocates(optimizer, momentum):
    from numpy_ddqn.rl.agent import DDQNAgent
    agent = DDQNAgent(5, 3, Config(buffer_size=777, learning_starts=100, hidden_sizes=(7, 9), optimizer=optimizer,
                                   momentum=momentum, learning_rate=1e-2, batch_size=8))
    for i in range(8):
        agent.observe(np.full(5, i / 8), i % 3, 1.0, np.zeros(5), True)   # one-step episodes: stored at once
    agent.update(agent.replay.sample(8, agent.rngs.replay))    # optimizer state is made at its first step
    state = [a for a in agent.optimizer.__dict__.values() if isinstance(a, np.ndarray)]
    actual = (agent.replay.nbytes + agent.online.flat.nbytes + agent.target.flat.nbytes + agent._grad.nbytes
              + sum(a.nbytes for a in state))
    assert agent.memory.total_bytes == actual


def test_the_start_line_shows_the_planned_memory(tmp_path):
    out = cli("train", "--out", tmp_path / "r", "--steps", "50", "--eval-interval", "0", "--learning-starts", "16",
              "--batch-size", "16")
    assert out.returncode == 0 and "memory 2.7 MB (replay 2.6 MB: 50,000 transitions x 52 bytes" in out.stderr


RESUME_PEAK = """
import os, resource, sys
from numpy_ddqn.rl.agent import DDQNAgent
agent = DDQNAgent.from_checkpoint(sys.argv[1])
assert agent.replay.size == 300 and agent.replay.capacity == 30_000_000
# this process's own peak: Linux's VmHWM (ru_maxrss keeps the parent's peak across fork and exec: a large
# pytest process would be counted)
status = "/proc/self/status"
peak = [int(line.split()[1]) for line in open(status) if line.startswith("VmHWM:")] if os.path.exists(status) else []
print((peak[0] if peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024)
"""


def test_resuming_a_large_mostly_empty_replay_costs_what_was_saved(tmp_path):
    import subprocess
    import sys
    h = train(Config(**{**QUICK, "buffer_size": 30_000_000, "n_step": 1}), out_dir=tmp_path)   # 1.44 GB nominal
    assert h.agent.replay.size == 300
    out = subprocess.run([sys.executable, "-c", RESUME_PEAK, str(tmp_path / "last.npz")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) < 300e6, f"peak {int(out.stdout) / 1e6:.0f} MB"   # not the buffer's 1,440 MB


# -- 7, 9. library calls with bad actions and wrongly shaped arrays ----------------------------------

@pytest.mark.parametrize("action, message", [
    (-1, r"action -1 is outside the action space: expected an int in \[0, 2\)"),
    (7, r"action 7 is outside"), (np.int64(2), r"action 2 is outside"),
    (1.5, "action 1.5 is not an integer"), (np.array([0, 1]), "is not an integer"), (True, "not an integer"),
])
def test_observe_refuses_actions_outside_the_space(action, message):
    from numpy_ddqn.rl.agent import DDQNAgent
    agent = DDQNAgent(3, 2, Config(buffer_size=100, learning_starts=10, batch_size=4, n_step=1))
    with pytest.raises(ValueError, match=message):
        agent.observe(np.zeros(3), action, 1.0, np.zeros(3), False)
    assert agent.replay.size == 0 and agent.steps == 0
    agent.observe(np.zeros(3), np.int64(1), 1.0, np.zeros(3), False)   # NumPy ints and 0-d arrays are fine
    agent.observe(np.zeros(3), np.array(0), 1.0, np.zeros(3), False)
    assert list(agent.replay.action[:2]) == [1, 0]


def test_targets_and_td_loss_check_shapes():
    from numpy_ddqn.nn.losses import td_loss
    from numpy_ddqn.rl.targets import double_dqn_targets, dqn_targets
    B, q, r = 5, np.ones((5, 3)), np.ones(5)
    with pytest.raises(ValueError, match=r"reward must be an array of shape \(5,\), got \(5, 1\)"):
        double_dqn_targets(r[:, None], r, q, q, 0.9)
    with pytest.raises(ValueError, match=r"terminated must be an array of shape \(5,\), got \(4,\)"):
        dqn_targets(r, r[:4], q, 0.9)
    with pytest.raises(ValueError, match=r"discount must be an array of shape \(5,\), got \(5, 1\)"):
        dqn_targets(r, r, q, np.full((5, 1), 0.9))
    with pytest.raises(ValueError, match=r"Q-values must be an array of shape \(B, A\), got \(5,\)"):
        dqn_targets(r, r, r, 0.9)
    with pytest.raises(ValueError, match="same shape"):
        double_dqn_targets(r, r, q[:, :2], q, 0.9)
    with pytest.raises(ValueError, match=r"targets must have shape \(B,\) = \(5,\), got \(5, 1\)"):
        td_loss(q, np.zeros(B, np.int64), r[:, None])
    with pytest.raises(ValueError, match=r"actions must be integers of shape \(B,\)"):
        td_loss(q, np.zeros(B), r)
    with pytest.raises(ValueError, match=r"q must have shape \(B, A\)"):
        td_loss(r, np.zeros(B, np.int64), r)
    np.testing.assert_array_equal(dqn_targets(r, r * 0, q, 0.5), np.full(5, 1.5))   # good shapes still work
