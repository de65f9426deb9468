"""``--tensorboard DIR`` writes the run log's numbers as TensorBoard scalars, read back with TensorBoard's
own reader."""
import pytest

pytest.importorskip("gymnasium")
pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

from helpers import cli  # noqa: E402

from numpy_ddqn.run.runlog import read_log  # noqa: E402


def test_tensorboard_scalars_match_the_log(tmp_path):
    out = cli("train", "--out", tmp_path / "run", "--tensorboard", tmp_path / "tb", "--steps", "600",
              "--learning-starts", "64", "--batch-size", "32", "--hidden-sizes", "8", "--eval-interval", "300",
              "--eval-episodes", "2", "--log-interval", "200", "--progress-interval", "0")
    assert out.returncode == 0, out.stderr
    acc = event_accumulator.EventAccumulator(str(tmp_path / "tb" / "run"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "rollout/exploration_rate", "eval/mean_reward",
            "eval/std_reward", "train/loss", "train/q_mean", "train/grad_norm", "train/learning_rate",
            "time/fps"} <= tags
    log = read_log(tmp_path / "run")
    evals = [(r["step"], r["mean"]) for r in log if r["kind"] == "eval"]
    assert [(e.step, pytest.approx(e.value)) for e in acc.Scalars("eval/mean_reward")] == evals
    updates = [(r["step"], r["loss"]) for r in log if r["kind"] == "update"]
    assert [(e.step, pytest.approx(e.value, rel=1e-6)) for e in acc.Scalars("train/loss")] == updates
    episodes = [r for r in log if r["kind"] == "episode"]
    first = acc.Scalars("rollout/ep_rew_mean")[0]
    assert (first.step, first.value) == (episodes[0]["step"], pytest.approx(episodes[0]["ret"]))
    assert len(acc.Scalars("rollout/ep_rew_mean")) == len(episodes)


def test_without_tensorboardx_the_error_names_the_extra(tmp_path):
    import subprocess
    import sys
    code = ("import sys; sys.modules['tensorboardX'] = None; from numpy_ddqn.cli.main import main; "
            f"sys.exit(main(['train', '--tensorboard', {str(tmp_path / 'tb')!r}, '--steps', '10']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1 and "pip install 'numpy_ddqn[tensorboard]'" in out.stderr
    assert "Traceback" not in out.stderr
