"""Plots, videos and the summary, produced for real (headless) from real runs."""
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("gymnasium")
pytest.importorskip("matplotlib")

from numpy_ddqn.cli.plot import DIAGNOSTICS, load_run, make_figures, plot_runs  # noqa: E402
from numpy_ddqn.config import Config  # noqa: E402
from numpy_ddqn.run.loop import train  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
from helpers import QUICK  # noqa: E402

RUNS = {**QUICK, "total_steps": 800, "learning_starts": 100, "batch_size": 32, "eval_interval": 400,
        "eval_episodes": 2, "hidden_sizes": (16,), "log_interval": 200}



@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        train(Config(**RUNS, seed=seed), out_dir=root / f"seed{seed}")
    return [root / "seed0", root / "seed1"]


def test_plot_writes_valid_pngs_with_the_expected_panels(runs, tmp_path):
    paths = plot_runs(runs, tmp_path)
    assert sorted(p.name for p in paths) == ["diagnostics.png", "learning_curve.png"]
    import matplotlib.image
    for p in paths:
        assert p.read_bytes()[:8] == PNG_SIGNATURE
        image = matplotlib.image.imread(p)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
        assert image[..., :3].std() > 0.05                       # not a blank canvas
    figures = make_figures([load_run(r) for r in runs])
    curve = figures["learning_curve"].axes[0]
    labels = [line.get_label() for line in curve.get_lines()]
    assert any("training return" in l and "mean of 2" in l for l in labels)
    assert any("evaluation return" in l for l in labels)
    assert any("threshold (475)" in l for l in labels)
    assert [ax.get_title() for ax in figures["diagnostics"].axes] == [t for _, t in DIAGNOSTICS]
    for ax in figures["diagnostics"].axes:
        assert ax.get_lines(), f"panel {ax.get_title()} is empty"


def test_plot_cli_and_bad_run_dir(runs, tmp_path):
    out = subprocess.run([sys.executable, "-m", "numpy_ddqn", "plot", str(runs[0]), "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == PNG_SIGNATURE
    bad = subprocess.run([sys.executable, "-m", "numpy_ddqn", "plot", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "not a run folder" in bad.stderr


def test_plot_without_matplotlib_names_the_extra(runs):
    code = ("import sys; sys.modules['matplotlib'] = None; from numpy_ddqn.cli.main import main; "
            f"sys.exit(main(['plot', {str(runs[0])!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1 and "numpy_ddqn[plot]" in out.stderr and "Traceback" not in out.stderr


def test_record_writes_a_short_clip(runs, tmp_path):
    pytest.importorskip("pygame")
    from numpy_ddqn.cli.record import record_video
    gif = tmp_path / "clip.gif"
    line = record_video(runs[0] / "last.npz", gif, episodes=1, max_steps=20, fps=25)
    assert str(gif) in line
    from PIL import Image
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.size == (600, 400) and im.n_frames > 1
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return
    mp4 = tmp_path / "clip.mp4"
    record_video(runs[0] / "last.npz", mp4, episodes=1, max_steps=20, fps=25)
    import imageio.v2 as imageio
    with imageio.get_reader(mp4) as reader:
        assert sum(1 for _ in reader) >= 2


def test_record_without_imageio_names_the_extra(runs, tmp_path):
    pytest.importorskip("pygame")
    code = ("import sys; sys.modules['imageio'] = None; sys.modules['imageio_ffmpeg'] = None; "
            "from numpy_ddqn.cli.main import main; "
            f"sys.exit(main(['record', {str(runs[0] / 'last.npz')!r}, '--out', {str(tmp_path / 'x.mp4')!r}, "
            "'--max-steps', '5']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1 and "numpy_ddqn[record]" in out.stderr and "Traceback" not in out.stderr


def test_summary_is_printed_again(runs):
    out = subprocess.run([sys.executable, "-m", "numpy_ddqn", "summary", str(runs[0])], capture_output=True,
                         text=True)
    assert out.returncode == 0
    assert "Budget spent: 800 steps" in out.stdout and "episodes" in out.stdout and "last.npz" in out.stdout


def test_update_diagnostics_are_logged(runs):
    updates = load_run(runs[0])["updates"]
    assert [u["step"] for u in updates] == [200, 400, 600, 800]
    for u in updates:
        assert {"loss", "q_mean", "q_max", "td_abs_mean", "grad_norm", "epsilon", "steps_per_s"} <= set(u)
        assert set(u["weight_norms"]) == {"W0", "b0", "W1", "b1"} and np.isfinite(u["loss"])


def test_runs_are_grouped_by_configuration_with_labels_naming_the_difference():
    from numpy_ddqn.cli.plot import group_runs
    run = lambda seed, lr: {"config": {"seed": seed, "learning_rate": lr, "gamma": 0.99, "progress_interval": 2.0}}
    groups = group_runs([run(0, 1e-3), run(1, 1e-3), run(0, 5e-4), run(2, 1e-3)])
    assert [(label, [r["config"]["seed"] for r in g]) for label, g in groups] == [
        ("learning_rate=0.001", [0, 1, 2]), ("learning_rate=0.0005", [0])]
    assert group_runs([run(0, 1e-3), run(1, 1e-3)])[0][0] == ""        # one configuration: no label


def test_a_run_that_stopped_early_holds_its_last_value_so_the_mean_does_not_jump():
    from numpy_ddqn.cli.plot import on_grid
    grid, ys = on_grid([(np.array([1.0, 2.0]), np.array([10.0, 500.0])),
                        (np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 100.0, 300.0, 500.0]))])
    np.testing.assert_array_equal(grid, [1, 2, 3, 4])
    np.testing.assert_array_equal(ys[0], [10, 500, 500, 500])         # solved at 2: held, not dropped
    np.testing.assert_array_equal(np.nanmean(ys, axis=0), [10, 300, 400, 500])


def test_plot_compares_two_configurations(tmp_path):
    for lr in ("0.001", "0.002"):
        for seed in (0, 1):
            out = subprocess.run([sys.executable, "-m", "numpy_ddqn", "train", "--out", str(tmp_path / f"lr{lr}-s{seed}"),
                                  "--seed", str(seed), "--learning-rate", lr, "--steps", "300", "--learning-starts", "64",
                                  "--batch-size", "32", "--hidden-sizes", "8", "--eval-interval", "150",
                                  "--eval-episodes", "1", "--log-interval", "100", "--progress-interval", "0"],
                                 capture_output=True, text=True)
            assert out.returncode == 0, out.stderr
    runs = sorted(tmp_path.glob("lr*"))
    figures = make_figures([load_run(r) for r in runs], each_run=True)
    labels = [line.get_label() for line in figures["learning_curve"].axes[0].get_lines()]
    for lr in ("0.001", "0.002"):
        assert any(l.startswith(f"learning_rate={lr}: evaluation return") and "mean of 2" in l for l in labels)
    out = subprocess.run([sys.executable, "-m", "numpy_ddqn", "plot", *map(str, runs), "--runs", "--out",
                          str(tmp_path / "fig")], capture_output=True, text=True)
    assert out.returncode == 0 and (tmp_path / "fig" / "learning_curve.png").is_file(), out.stderr
