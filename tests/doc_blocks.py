"""The code blocks of the README and the documentation pages, and how the tests run them.

Every ```python and ```bash block runs as written, unless the line right above its fence says otherwise:

- ``<!-- not-run: REASON -->``: skipped (the reason is required);
- ``<!-- file: NAME -->``: its text is written to the file NAME in the folder the page's blocks run in, for
  the blocks after it (a module that a later command imports).

A page's blocks run in order, in one fresh folder: python blocks in one namespace, bash blocks line by line,
each line a ``numpy-ddqn`` command (the installed console script where there is one, else
``python -m numpy_ddqn``). Used by ``test_readme.py`` and ``test_docs_examples.py``.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

BLOCK = re.compile(r"(?:^<!--\s*(?P<kind>not-run|file):(?P<arg>[^>]*?)-->\n)?^```(?P<lang>python|bash)\n(?P<code>.*?)^```",
                   re.M | re.S)


class Block(NamedTuple):
    kind: str | None      # None (runs), "not-run" or "file"
    arg: str              # the reason, or the file name
    lang: str             # "python" or "bash"
    code: str


def blocks(text: str) -> list[Block]:
    """The python and bash blocks of a markdown text, in order."""
    return [Block(m["kind"], (m["arg"] or "").strip(), m["lang"], m["code"]) for m in BLOCK.finditer(text)]


def mark_errors(text: str) -> list[str]:
    """What is wrong with a text's marks: a not-run without a reason, a file mark on a bad name."""
    errors = []
    for b in blocks(text):
        if b.kind == "not-run" and len(b.arg) < 10:
            errors.append(f"a not-run block gives no reason: {b.code[:60]!r}")
        if b.kind == "file" and not re.fullmatch(r"[\w.]+\.py", b.arg):
            errors.append(f"a file block names {b.arg!r}, not a Python file")
    return errors


def shell_commands(code: str) -> list[str]:
    """The commands of a bash block, one per line, comments dropped."""
    return [line.split("  #")[0].strip() for line in code.splitlines() if line.strip() and not line.startswith("#")]


def run_blocks(text: str, folder: Path, source: str) -> int:
    """Run a page's blocks in ``folder`` (the current folder must be ``folder``); print what the commands
    print; return how many blocks ran. A failing block raises (AssertionError for a command)."""
    script = shutil.which("numpy-ddqn")
    program = [script] if script else [sys.executable, "-m", "numpy_ddqn"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    namespace, ran = {"__name__": "__docs__"}, 0
    for block in blocks(text):
        if block.kind == "not-run":
            continue
        if block.kind == "file":
            (folder / block.arg).write_text(block.code)
            continue
        if block.lang == "python":
            exec(compile(block.code, source, "exec"), namespace)
        else:
            for command in shell_commands(block.code):
                words = shlex.split(command)
                assert words[0] == "numpy-ddqn", f"{source}: a bash block that runs must hold numpy-ddqn commands: {command}"
                out = subprocess.run(program + words[1:], cwd=folder, capture_output=True, text=True, env=env,
                                     timeout=300)
                assert out.returncode == 0, (source, command, out.stderr)
                print(out.stdout)
        ran += 1
    return ran
