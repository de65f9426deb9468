"""Every python and bash block of the README runs as written, or is marked not-run with a reason
(the marks and the runner: ``doc_blocks.py``)."""
import re
from pathlib import Path

import pytest
from doc_blocks import blocks, mark_errors, run_blocks

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_block_runs_or_says_why_not():
    text = README.read_text()
    assert mark_errors(text) == []
    assert any(b.kind is None and b.lang == "python" for b in blocks(text)), "the README's example does not run"


def test_the_readmes_blocks_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("gymnasium")
    monkeypatch.chdir(tmp_path)
    assert run_blocks(README.read_text(), tmp_path, "README.md") >= 1
    out = capsys.readouterr().out
    assert "rel_error=" in out
    # solved within the budget; the exact step differs between CPUs (SIMD kernels) and BLAS set-ups
    solved = re.search(r"^True (\d+) ", out, flags=re.M)
    assert solved and 0 < int(solved.group(1)) <= 100_000, out
    assert (tmp_path / "runs" / "demo" / "last.npz").is_file()
