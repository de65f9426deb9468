"""The tutorial (a jupytext percent script, docs/tutorial/) runs top to bottom, and its checks hold."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "docs" / "tutorial").glob("*.py"))


def test_there_is_a_tutorial():
    assert TUTORIALS


@pytest.mark.slow
@pytest.mark.parametrize("script", TUTORIALS, ids=lambda p: p.name)
def test_the_tutorial_runs_top_to_bottom(script, tmp_path):
    pytest.importorskip("gymnasium")
    pytest.importorskip("matplotlib", reason="the tutorial plots: pip install 'numpy_ddqn[plot]'")
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    if script.name == "ddqn_from_scratch.py":
        # the hand gradient agrees with finite differences to ~1e-10; a backward without tanh' does not
        right, wrong = (float(x) for x in re.findall(r"relative error[^:]*:\s+([0-9.e+-]+)", out.stdout))
        assert right < 1e-7 < 1e-3 < wrong, out.stdout
        library = float(re.search(r"largest difference between the two gradients: ([0-9.e+-]+)", out.stdout)[1])
        assert library < 1e-12, out.stdout
        assert re.search(r"^solved: (True|False) at step", out.stdout, re.M), out.stdout


def test_the_tutorial_is_a_valid_percent_script():
    jupytext = pytest.importorskip("jupytext", reason="the 'docs' extra is not installed (pip install 'numpy_ddqn[docs]')")
    for script in TUTORIALS:
        notebook = jupytext.read(script)
        kinds = {cell.cell_type for cell in notebook.cells}
        assert kinds == {"markdown", "code"}, script.name
