"""Every Python code block of the documentation runs, or says why not; every test and file the docs name exists.

A block runs with the page's earlier blocks (one namespace per page, in a fresh folder). A block that must not
run in the suite carries, on the line right above its fence, ``<!-- not-run: the reason -->``. Pages are found
by walking docs/ (and the bench/ reports the site serves), so a new page is covered without editing this file.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md")) + sorted((ROOT / "bench").glob("*.md"))
BLOCK = re.compile(r"(?:^<!--\s*not-run:(?P<reason>[^>]*?)-->\n)?^```python\n(?P<code>.*?)^```", re.M | re.S)
TEST_REF = re.compile(r"tests/(test_\w+\.py)(?:::(\w+))?")


def python_blocks(text):
    """``[(code, reason)]`` of a markdown text's ```python blocks; ``reason`` is None for a block that runs."""
    return [(m["code"], None if m["reason"] is None else m["reason"].strip()) for m in BLOCK.finditer(text)]


def name(page):
    return page.relative_to(ROOT).as_posix()


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p.read_text())]
PAGES_TO_RUN = [p for p in PAGES_WITH_CODE if any(reason is None for _, reason in python_blocks(p.read_text()))]


def test_the_block_finder_sees_marked_and_unmarked_blocks():
    text = "x\n```python\na = 1\n```\n<!-- not-run: needs a cluster -->\n```python\nb = 2\n```\n"
    assert python_blocks(text) == [("a = 1\n", None), ("b = 2\n", "needs a cluster")]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=name)
def test_every_not_run_block_gives_its_reason(page):
    assert all(reason != "" for _, reason in python_blocks(page.read_text())), f"{name(page)}: a not-run without a reason"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES_TO_RUN, ids=name)
def test_the_python_blocks_of_a_page_run(page, tmp_path, monkeypatch):
    pytest.importorskip("gymnasium")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for code, reason in python_blocks(page.read_text()):
        if reason is None:
            exec(compile(code, name(page), "exec"), namespace)


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
