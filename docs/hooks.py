"""MkDocs hooks of the documentation site (mkdocs.yml: ``hooks: [docs/hooks.py]``).

Three jobs, so that nothing is written twice:

- the benchmark reports ``bench/*.md`` (and the figures and sweep specs they link to) are pages of the site
  as they are in the repository: one source, served at ``bench/...``;
- the API reference is one generated page per module of ``numpy_ddqn`` (mkdocstrings renders each from
  its docstrings), listed in the navigation under "API reference", so a new module is documented without
  editing anything here;
- the tutorial, a jupytext "percent" script (``docs/tutorial/*.py``), becomes a page: its markdown cells as
  they are, its code cells as code, and, when ``NUMPY_DDQN_DOCS_EXECUTE`` is not ``0``, their outputs (text
  and figures) from running it top to bottom in a Jupyter kernel (nbclient). The test suite builds with
  ``NUMPY_DDQN_DOCS_EXECUTE=0`` and runs the script itself (``tests/test_docs_tutorial.py``).
"""
from __future__ import annotations

import base64
import importlib
import os
import pkgutil
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
BENCH_GLOBS = ("bench/*.md", "bench/figures/*.png", "bench/sweeps/*.toml")
TUTORIALS = "tutorial/*.py"
SKIP_MODULES = {"numpy_ddqn.__main__"}


def reference_modules() -> list[str]:
    """Every module of the package, in import-path order (the package itself first)."""
    import numpy_ddqn
    names = ["numpy_ddqn"] + [m.name for m in pkgutil.walk_packages(numpy_ddqn.__path__, "numpy_ddqn.")]
    return sorted(n for n in names if n not in SKIP_MODULES)


def reference_page(module: str) -> str:
    """The markdown of one module's reference page: mkdocstrings' directive, plus the root's export list."""
    if module != "numpy_ddqn":
        return f"::: {module}\n    options:\n      heading_level: 1\n"   # the module's heading is the page's title
    root = importlib.import_module(module)
    rows = []
    for name in root.__all__:
        obj = getattr(root, name)
        where = getattr(obj, "__module__", None)
        if where and where.startswith("numpy_ddqn"):
            rows.append(f"| [`{name}`][{where}.{obj.__qualname__}] | `{where}` |")
    table = "\n".join(["| name | defined in |", "|---|---|", *rows])
    return (f"::: numpy_ddqn\n    options:\n      heading_level: 1\n      members: false\n\n"
            f"## What `import numpy_ddqn` gives you\n\n{table}\n")


def on_config(config, **kwargs):
    """Put the generated reference pages into the navigation entry named "API reference"."""
    pages = [{m: f"reference/{m}.md"} for m in reference_modules()]
    for entry in config.nav or []:
        if isinstance(entry, dict) and "API reference" in entry:
            entry["API reference"] = pages
    return config


def on_files(files, config, **kwargs):
    """Add the bench/ reports, the reference pages and the rendered tutorials to the site."""
    for pattern in BENCH_GLOBS:
        for path in sorted(ROOT.glob(pattern)):
            files.append(File(path.relative_to(ROOT).as_posix(), src_dir=str(ROOT), dest_dir=config.site_dir,
                              use_directory_urls=config.use_directory_urls))
    for module in reference_modules():
        files.append(File.generated(config, f"reference/{module}.md", content=reference_page(module)))
    for script in sorted(Path(config.docs_dir).glob(TUTORIALS)):
        src_uri = script.relative_to(config.docs_dir).as_posix()   # the script itself stays, to download
        files.append(File.generated(config, src_uri[:-3] + ".md", content=render_tutorial(script)))
    return files


def on_serve(server, config, builder, **kwargs):
    """`mkdocs serve` rebuilds when a bench/ report changes too."""
    server.watch(str(ROOT / "bench"))
    return server


def render_tutorial(script: Path) -> str:
    """A jupytext percent script as a markdown page, with its outputs when the build executes it."""
    import jupytext
    notebook = jupytext.read(script)
    if os.environ.get("NUMPY_DDQN_DOCS_EXECUTE", "1") != "0":
        from nbclient import NotebookClient
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT)}}).execute()
    download = (f"[Download this tutorial as a script]({script.name}) "
                f"(jupytext percent format: `jupytext --to ipynb {script.name}` makes it a notebook).")
    parts = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            if download:                                   # under the title, which the first cell holds
                parts, download = parts + [download], None
        elif cell.cell_type == "code" and cell.source.strip():
            parts.append(f"```python\n{cell.source}\n```")
            parts.extend(render_outputs(cell.get("outputs", [])))
    return "\n\n".join(parts) + "\n"


def render_outputs(outputs: list) -> list[str]:
    """Text and PNG outputs of one executed cell as markdown."""
    rendered = []
    for out in outputs:
        if out.output_type == "stream":
            rendered.append(f"```text\n{out.text.rstrip()}\n```")
        elif out.output_type in ("execute_result", "display_data"):
            if "image/png" in out.data:
                png = out.data["image/png"]
                png = png if isinstance(png, str) else base64.b64encode(png).decode()
                rendered.append(f'<img alt="figure" src="data:image/png;base64,{png.strip()}">')
            elif "text/plain" in out.data:
                rendered.append(f"```text\n{out.data['text/plain'].rstrip()}\n```")
        elif out.output_type == "error":
            raise RuntimeError(f"the tutorial raised {out.ename}: {out.evalue}")
    return rendered
