"""The command line as a user runs it: real subprocesses, exit codes, one-line errors, signals."""
import json
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("gymnasium")

from helpers import cli, quick_flags, without  # noqa: E402

QUICK = quick_flags(total_steps=400, learning_starts=64, batch_size=32, eval_interval=200, eval_episodes=2,
                    hidden_sizes=(16,))


def test_help_documents_every_config_field():
    from numpy_ddqn.config import FIELDS
    out = cli("train", "--help")
    assert out.returncode == 0
    for name in FIELDS:
        flag = {"env_id": "--env", "total_steps": "--steps"}.get(name, "--" + name.replace("_", "-"))
        assert flag in out.stdout, flag
    for cmd in ("evaluate", "summary", "plot", "record"):
        assert cli(cmd, "--help").returncode == 0


def test_train_then_evaluate_then_summary(tmp_path):
    out = cli("train", "--out", tmp_path / "run", "--seed", "1", "--learning-rate", "0.002", *QUICK)
    assert out.returncode == 0, out.stderr
    assert "Budget spent: 400 steps" in out.stdout and "model:" in out.stdout
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["learning_rate"] == 0.002 and config["seed"] == 1 and config["hidden_sizes"] == [16]
    ev = cli("evaluate", tmp_path / "run" / "last.npz", "--episodes", "3")
    assert ev.returncode == 0, ev.stderr
    assert "mean" in ev.stdout and "over 3 episodes" in ev.stdout
    summary = cli("summary", tmp_path / "run")
    assert summary.returncode == 0 and "Budget spent" in summary.stdout


def test_default_run_folder_is_in_the_current_directory(tmp_path):
    out = cli("train", *QUICK, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("CartPole-v1-seed0-")
    assert (runs[0] / "last.npz").is_file()


def test_config_file_and_flags_precedence(tmp_path):
    (tmp_path / "c.toml").write_text('gamma = 0.9\nlearning_rate = 0.005\nhidden_sizes = [8, 8]\n')
    out = cli("train", "--config", tmp_path / "c.toml", "--learning-rate", "0.001", "--out", tmp_path / "r",
              *without(QUICK, "--hidden-sizes"))
    assert out.returncode == 0, out.stderr
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["gamma"] == 0.9 and config["learning_rate"] == 0.001 and config["hidden_sizes"] == [8, 8]


@pytest.mark.parametrize("args, message", [
    (["train", "--learning-rate", "0"], "learning_rate"),
    (["train", "--batch-size", "100", "--buffer-size", "50", "--learning-starts", "10"], "batch_size"),
    (["train", "--env", "Pendulum-v1"], "Discrete"),
    (["train", "--env", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
    (["evaluate", "missing.npz"], "no checkpoint"),
])
def test_errors_are_one_line_and_nonzero(tmp_path, args, message):
    out = cli(*args, cwd=tmp_path)
    assert out.returncode != 0
    err = out.stderr.strip().splitlines()
    assert err[-1].startswith("numpy-ddqn: error:") and message in err[-1]
    assert "Traceback" not in out.stderr


def test_an_existing_run_folder_is_not_overwritten(tmp_path):
    assert cli("train", "--out", tmp_path / "r", *QUICK).returncode == 0
    again = cli("train", "--out", tmp_path / "r", *QUICK)
    assert again.returncode != 0 and "--resume" in again.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_a_checkpoint_and_exits_cleanly(tmp_path, sig):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "numpy_ddqn", "train", "--out", str(run), "--steps",
                             "1000000", "--eval-interval", "0", "--progress-interval", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run / "log.jsonl").exists() or (run / "log.jsonl").stat().st_size < 2000:
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.1)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr and "Interrupted at step" in stdout
    from numpy_ddqn.checkpoint import load_checkpoint
    state = load_checkpoint(run / "last.npz")
    assert state["agent"]["steps"] > 0
    # and the run continues from it
    resumed = cli("train", "--resume", run / "last.npz", "--steps", str(state["agent"]["steps"] + 200),
                  "--progress-interval", "0")
    assert resumed.returncode == 0, resumed.stderr


def test_resume_refuses_flags_it_would_ignore(tmp_path):
    assert cli("train", "--out", tmp_path / "r", *QUICK).returncode == 0
    out = cli("train", "--resume", tmp_path / "r" / "last.npz", "--learning-rate", "0.1")
    assert out.returncode == 1 and "--learning-rate" in out.stderr and "keeps its checkpoint's config" in out.stderr
    ok = cli("train", "--resume", tmp_path / "r" / "last.npz", "--steps", "500", "--progress-interval", "0")
    assert ok.returncode == 0, ok.stderr
    assert "Budget spent: 500 steps" in ok.stdout


def test_without_gymnasium_the_error_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['gymnasium'] = None; from numpy_ddqn.cli.main import main; "
            "sys.exit(main(['train', '--steps', '10']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "pip install 'numpy_ddqn[gym]'" in out.stderr
