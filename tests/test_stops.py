"""Stops and losses: a hung env stopped by a second signal, an atomic policy export, a killed run resumed."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from helpers import cli

pytest.importorskip("gymnasium")

from numpy_ddqn.checkpoint import load_checkpoint  # noqa: E402
from numpy_ddqn.policy import Policy  # noqa: E402
from numpy_ddqn.rl.agent import DDQNAgent  # noqa: E402
from numpy_ddqn.run.runlog import read_log  # noqa: E402

HANG_ENV = textwrap.dedent('''
    import os, time
    import numpy as np
    import gymnasium as gym


    class Hanging(gym.Env):
        """Episodes of 20 steps; from its HANG_AT-th step() call on (counted per process) step() never returns."""
        observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        action_space = gym.spaces.Discrete(2)
        calls = 0

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.zeros(2, np.float32), {}

        def step(self, action):
            Hanging.calls += 1
            if Hanging.calls >= int(os.environ.get("HANG_AT") or 10**12):
                open(os.environ["HANG_MARK"], "w").close()
                while True:                       # hung: only a signal gets out of here
                    time.sleep(0.05)
            self.t += 1
            return np.full(2, self.t / 20, np.float32), 1.0, self.t >= 20, False, {}
''')

HANG_AT = 300


@pytest.fixture
def hang_env(tmp_path):
    (tmp_path / "hang_env.py").write_text(HANG_ENV)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def started():
    """Processes a test started in their own process group: whatever is left of them is killed after it."""
    procs = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_hung(tmp_path, env, started, *flags):
    """``numpy-ddqn train`` on the hanging env (in its own process group); returns once step() hangs."""
    mark = tmp_path / "hung"
    env = {**env, "HANG_AT": str(HANG_AT), "HANG_MARK": str(mark)}
    proc = subprocess.Popen([sys.executable, "-m", "numpy_ddqn", "train", "--env", "hang_env:Hanging", "--steps",
                             "100000", "--eval-interval", "0", "--learning-starts", "50", "--out",
                             str(tmp_path / "run"), *flags], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    started.append(proc)
    deadline = time.monotonic() + 120
    while not mark.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_stops_a_hung_env_and_saves_the_agent_between_two_steps(tmp_path, hang_env, second, started):
    proc = start_hung(tmp_path, hang_env, started)
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert proc.poll() is None                           # the first one only asks: step() still hangs
    proc.send_signal(second)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGINT, err   # the first signal names the stop
    assert "stopping after this step (last.npz is saved); Ctrl-C again to stop now" in err
    assert "Traceback" not in err and "Interrupted at step" in out
    run = tmp_path / "run"
    stop = [r for r in read_log(run) if r.get("event") == "stop"]
    assert stop == [{"kind": "event", "event": "stop", "step": HANG_AT - 1, "reason": "interrupted", "signal": 2,
                     "forced": True}]
    # the agent as it was after its last completed step: every transition stored, loadable, resumable
    agent = DDQNAgent.from_checkpoint(run / "last.npz")
    assert agent.steps == HANG_AT - 1 and agent.updates > 0
    # every completed step's transition is in the replay, but the last n - 1 of the running episode (pending)
    assert agent.replay.size == agent.steps - (agent.config.n_step - 1)
    state = load_checkpoint(run / "last.npz")
    assert state["loop"]["mid_episode"] is True
    resumed = subprocess.run([sys.executable, "-m", "numpy_ddqn", "train", "--resume", str(run / "last.npz"),
                              "--steps", str(HANG_AT + 100), "--progress-interval", "0"], env=hang_env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert DDQNAgent.from_checkpoint(run / "last.npz").steps == HANG_AT + 100


def test_ctrl_c_with_async_envs_saves_last_npz_even_when_a_worker_hangs(tmp_path, hang_env, started):
    """A terminal's Ctrl-C reaches the whole process group: the workers ignore it, training stops and saves."""
    proc = start_hung(tmp_path, hang_env, started, "--num-envs", "2", "--vector", "async")
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(1.0)
    assert proc.poll() is None
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "WARN" not in err and "Interrupted at step" in out
    agent = DDQNAgent.from_checkpoint(tmp_path / "run" / "last.npz")
    assert 0 < agent.steps < 2 * HANG_AT
    assert read_log(tmp_path / "run")[-2]["event"] == "stop"


def test_one_ctrl_c_to_the_process_group_with_async_envs_saves_last_npz(tmp_path, started):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "numpy_ddqn", "train", "--num-envs", "2", "--vector", "async",
                             "--steps", "1000000", "--eval-interval", "0", "--progress-interval", "0", "--out",
                             str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    started.append(proc)
    deadline = time.monotonic() + 120
    while not (run / "log.jsonl").exists() or (run / "log.jsonl").stat().st_size < 2000:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted at step" in out
    assert DDQNAgent.from_checkpoint(run / "last.npz").steps > 0
    assert [r["reason"] for r in read_log(run) if r.get("event") == "stop"] == ["interrupted"]


# -- an exported file on a full disk ---------------------------------------------------------------

def small_policy():
    rng = np.random.default_rng(0)
    return Policy([rng.normal(size=(4, 8)).astype(np.float32), np.zeros(8, np.float32),
                   rng.normal(size=(8, 2)).astype(np.float32), np.zeros(2, np.float32)])


def test_policy_save_on_a_full_disk_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "policy.npz"
    old = small_policy()
    old.save(path)
    before = path.read_bytes()
    real_open = open

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(bytes(data)[:1000])       # part of it reached the disk, then the disk was full
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    def full_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return FullDisk(f) if "w" in mode and str(file).startswith(str(tmp_path)) else f

    import builtins
    monkeypatch.setattr(builtins, "open", full_open)
    new = Policy([w * 2 for W_b in small_policy().layers for w in W_b])
    with pytest.raises(OSError, match="No space left"):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before                   # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.npz"]    # no temporary file left
    assert Policy.load(path).act(np.ones(4, np.float32)) == old.act(np.ones(4, np.float32))


@pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"), reason="needs root to mount a tmpfs")
def test_policy_save_on_a_real_full_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        path = mount / "policy.npz"
        small_policy().save(path)
        before = path.read_bytes()
        rng = np.random.default_rng(1)
        big = Policy([rng.normal(size=(4, 4096)).astype(np.float32), np.zeros(4096, np.float32),
                      rng.normal(size=(4096, 2)).astype(np.float32), np.zeros(2, np.float32)])   # ~80 KB
        with pytest.raises(OSError):
            big.save(path)
        assert path.read_bytes() == before and [p.name for p in mount.iterdir()] == ["policy.npz"]
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_the_export_command_is_atomic_too(tmp_path, monkeypatch):
    import numpy_ddqn.policy as policy_module
    calls = []
    real = policy_module.write_atomic
    monkeypatch.setattr(policy_module, "write_atomic", lambda path, data: calls.append(path) or real(path, data))
    small_policy().save(tmp_path / "p.npz")
    assert calls == [tmp_path / "p.npz"]


# -- SIGKILL, then --resume: one history -----------------------------------------------------------

def test_a_killed_run_resumed_logs_one_history(tmp_path, started):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "numpy_ddqn", "train", "--steps", "1000000", "--eval-interval",
                             "500", "--eval-episodes", "1", "--confirm-episodes", "1", "--no-stop-when-solved",
                             "--progress-interval", "0", "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    started.append(proc)
    deadline = time.monotonic() + 120
    while True:                                          # until the log holds episodes past the checkpoint
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
        if (run / "last.npz").exists():
            saved = load_checkpoint(run / "last.npz")["agent"]["steps"]
            if any(r["kind"] == "episode" and r["step"] > saved for r in read_log(run)):
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    checkpoint = load_checkpoint(run / "last.npz")["agent"]["steps"]
    resumed = cli("train", "--resume", run / "last.npz", "--steps", checkpoint + 600, "--progress-interval", "0")
    assert resumed.returncode == 0, resumed.stderr
    rows = read_log(run)
    episodes = [r for r in rows if r["kind"] == "episode"]
    assert [r["episode"] for r in episodes] == list(range(1, len(episodes) + 1))   # none twice, none missing
    steps = [r["step"] for r in rows if "step" in r]
    assert steps == sorted(steps)                        # never backwards
    resume = [r for r in rows if r.get("event") == "resume"]
    assert len(resume) == 1 and resume[0]["step"] == checkpoint and resume[0]["discarded_rows"] > 0
    summary = [r for r in rows if r["kind"] == "summary"]
    assert summary[-1]["episodes"] == len(episodes)


def test_cut_log_keeps_rows_up_to_the_step_and_drops_a_torn_line(tmp_path):
    from numpy_ddqn.run.runlog import cut_log
    rows = [{"kind": "event", "event": "start", "step": 0}, {"kind": "episode", "step": 10, "episode": 1},
            {"kind": "eval", "step": 20}, {"kind": "episode", "step": 30, "episode": 2}]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"kind": "epi')
    assert cut_log(tmp_path, 20) == 2
    assert read_log(tmp_path) == rows[:3]
    assert cut_log(tmp_path, 20) == 0 and cut_log(tmp_path / "nothing", 5) == 0
