"""What a user installing from the source distribution gets: the tests with their helpers, the README's
figures, the licence; and the metadata PyPI shows."""
import configparser
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_sdist_carries_the_tests_helpers_figures_and_licence(tmp_path):
    out = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "sdist", "-d",
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    (sdist,) = tmp_path.glob("numpy_ddqn-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    tracked_tests = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("*.py")}
    assert tracked_tests <= names, tracked_tests - names
    assert {"LICENSE", "README.md", "bench/BENCHMARK.md", "bench/figures/learning_curve.png"} <= names
    readme_images = {"bench/figures/learning_curve.png"}
    assert all(img in (ROOT / "README.md").read_text() for img in readme_images)


def test_metadata_names_the_licence_and_the_python_it_needs():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    classifiers = cfg["metadata"]["classifiers"]
    assert "License :: OSI Approved :: MIT License" in classifiers and (ROOT / "LICENSE").read_text().startswith("MIT")
    assert cfg["options"]["python_requires"] == ">=3.11"         # tomllib reads TOML config files
    assert sys.version_info >= (3, 11)
