"""The README's Python example runs as written."""
import re
from pathlib import Path

import pytest

pytest.importorskip("gymnasium")

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "rel_error=" in out
    # solved within the budget; the exact step differs between CPUs (SIMD kernels) and BLAS set-ups
    solved = re.search(r"^True (\d+) ", out, flags=re.M)
    assert solved and 0 < int(solved.group(1)) <= 100_000, out
    assert (tmp_path / "runs" / "demo" / "last.npz").is_file()
