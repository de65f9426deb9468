"""Every code block of the documentation runs, or says why not; every test and file the docs name exists.

A page's python and bash blocks run in order in a fresh folder, as ``doc_blocks.py`` says (its marks:
``<!-- not-run: the reason -->``, ``<!-- file: NAME -->``). Pages are found by walking docs/ (and the
bench/ reports the site serves), so a new page is covered without editing this file.
"""
import re
from pathlib import Path

import pytest
from doc_blocks import blocks, mark_errors, run_blocks

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md")) + sorted((ROOT / "bench").glob("*.md"))
TEST_REF = re.compile(r"tests/(test_\w+\.py)(?:::(\w+))?")


def name(page):
    return page.relative_to(ROOT).as_posix()


PAGES_WITH_CODE = [p for p in PAGES if blocks(p.read_text())]
PAGES_TO_RUN = [p for p in PAGES_WITH_CODE if any(b.kind is None for b in blocks(p.read_text()))]


def test_the_block_finder_sees_marked_and_unmarked_blocks():
    text = ("x\n```python\na = 1\n```\n<!-- not-run: needs a cluster -->\n```python\nb = 2\n```\n"
            "<!-- file: m.py -->\n```python\nc = 3\n```\n```bash\nnumpy-ddqn --version\n```\n")
    assert [(b.kind, b.arg, b.lang, b.code) for b in blocks(text)] == [
        (None, "", "python", "a = 1\n"), ("not-run", "needs a cluster", "python", "b = 2\n"),
        ("file", "m.py", "python", "c = 3\n"), (None, "", "bash", "numpy-ddqn --version\n")]
    assert mark_errors("<!-- not-run: -->\n```bash\nx\n```\n") != []


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=name)
def test_every_not_run_block_gives_its_reason(page):
    assert mark_errors(page.read_text()) == [], name(page)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES_TO_RUN, ids=name)
def test_the_blocks_of_a_page_run(page, tmp_path, monkeypatch):
    pytest.importorskip("gymnasium")
    monkeypatch.chdir(tmp_path)
    assert run_blocks(page.read_text(), tmp_path, name(page)) >= 1


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_the_tests_a_page_names_exist(page):
    missing = []
    for file, func in TEST_REF.findall(page.read_text()):
        path = ROOT / "tests" / file
        if not path.is_file() or (func and not re.search(rf"^\s*def {func}\(", path.read_text(), re.M)):
            missing.append(f"tests/{file}" + (f"::{func}" if func else ""))
    assert missing == [], f"{name(page)} names tests that do not exist"


def test_the_readmes_relative_links_point_at_files():
    readme = (ROOT / "README.md").read_text()
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", readme) if not re.match(r"[a-z]+:", t)]
    assert targets, "the README links nowhere"
    assert [t for t in targets if t and not (ROOT / t).exists()] == []


def test_ci_runs_exactly_the_readmes_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = [c.strip() for c in re.findall(r"```bash\n(.*?)```", readme, re.S)]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in ci_lines
    assert '".[test]"' in test_command
