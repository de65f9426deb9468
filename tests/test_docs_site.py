"""The documentation site builds with warnings as errors, documents every public name, links only to what
exists, needs no network to show its math, and (where Chromium is installed) renders that math in a real
browser without a console message.

The build runs ``mkdocs build --strict`` (broken links and anchors, missing pages and docstring problems are
warnings there, so errors here) once per session, without executing the tutorial
(``NUMPY_DDQN_DOCS_EXECUTE=0``: tests/test_docs_tutorial.py runs it). Skipped, with the reason, where the
``docs`` extra is not installed.
"""
import functools
import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import zlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from test_docs import public_names

pytestmark = pytest.mark.slow                 # one docs build (~15-30 s) for the module, and a browser

ROOT = Path(__file__).resolve().parent.parent
DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "jupytext")
MATH_PAGE = "concepts/network/"            # a page with display and inline math


def docs_extra_missing():
    """The first package of the docs extra that cannot be imported, or None."""
    for name in DOCS_PACKAGES:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except ModuleNotFoundError:
            return name
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    missing = docs_extra_missing()
    if missing:
        pytest.skip(f"the 'docs' extra is not installed ({missing} is missing): pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NUMPY_DDQN_DOCS_EXECUTE": "0", "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-5000:]
    return out


def html_pages(site):
    return sorted(site.rglob("*.html"))


def test_the_site_builds_strict_with_a_page_per_nav_entry(site):
    pages = html_pages(site)
    assert (site / "index.html").is_file() and (site / "tutorial/ddqn_from_scratch/index.html").is_file()
    assert len(pages) > 40, [p.relative_to(site) for p in pages]


def test_every_benchmark_report_is_a_page_from_its_one_source(site):
    reports = sorted((ROOT / "bench").glob("*.md"))
    assert reports
    for report in reports:
        page = site / "bench" / report.stem / "index.html"
        assert page.is_file(), report.name
        first_heading = re.search(r"^# (.+)$", report.read_text(), re.M)[1]
        assert re.sub(r"[`*]", "", first_heading).split(":")[0] in page.read_text(), report.name


def inventory(site):
    """The names in mkdocstrings' objects.inv (Sphinx inventory v2: four lines of header, then zlib)."""
    raw = (site / "objects.inv").read_bytes()
    body = zlib.decompress(raw.split(b"\n", 4)[4]).decode()
    return {line.split(" ", 1)[0] for line in body.splitlines()}


def test_every_public_name_has_a_reference_entry(site):
    names = inventory(site)
    missing = [n for n, _ in public_names() if n not in names]
    assert missing == []


def test_every_relative_link_and_asset_of_the_built_site_exists(site):
    broken = []
    for page in html_pages(site):
        if page.name == "404.html":                   # served at any path: its links are absolute
            continue
        for target in re.findall(r'(?:href|src)="([^"#?]+)[^"]*"', page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path = (site / target.lstrip("/") if target.startswith("/") else page.parent / unquote(target)).resolve()
            if not (path.is_file() or (path / "index.html").is_file()):
                broken.append(f"{page.relative_to(site)} -> {target}")
    assert broken == []


def test_no_page_loads_anything_from_another_host(site):
    external = set()
    for page in html_pages(site):
        text = page.read_text()
        external |= set(re.findall(r'<script[^>]+src="(https?://[^"]+)"', text))
        external |= set(re.findall(r'<link[^>]+href="(https?://[^"]+)"[^>]*rel="stylesheet"', text))
        external |= set(re.findall(r'<link[^>]+rel="stylesheet"[^>]*href="(https?://[^"]+)"', text))
        external |= set(re.findall(r'@import\s+url\((https?://[^)]+)\)', text))
    assert external == set()
    css = (site / "assets" / "katex" / "katex.min.css").read_text()
    fonts = set(re.findall(r"url\((fonts/[^)]+\.woff2)\)", css))
    assert fonts and all((site / "assets" / "katex" / f).is_file() for f in fonts)


def test_the_math_is_left_for_katex_and_katex_is_on_every_page(site):
    page = (site / MATH_PAGE / "index.html").read_text()
    assert page.count('class="arithmatex"') > 5
    for html in html_pages(site):
        text = html.read_text()
        if "arithmatex" in text:
            assert "assets/katex/katex.min.js" in text and "javascripts/katex-init.js" in text, html


# -- a real browser -----------------------------------------------------------------------------------

def chromium():
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.fixture()
def served(site):
    """The built site over HTTP on 127.0.0.1 (a file:// page may not start Material's search worker)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def run_chromium(browser, url, tmp_path, *action):
    """Chromium headless on ``url`` with every host but 127.0.0.1 unresolvable: (stdout, console lines)."""
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--virtual-time-budget=10000",
            "--window-size=1280,1800", *action, url]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout, [line for line in out.stderr.splitlines() if ":CONSOLE" in line]


def test_every_math_page_shows_rendered_math_in_chromium_with_no_network_and_no_console_message(site, served,
                                                                                             tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium): the browser check did not run")
    pages = sorted(p.parent.relative_to(site).as_posix() + "/" for p in html_pages(site)
                   if 'class="arithmatex"' in p.read_text())
    assert MATH_PAGE in pages and len(pages) >= 5
    for page in pages:
        dom, console = run_chromium(browser, served + page, tmp_path, "--dump-dom")
        assert console == [], (page, console)
        source = (site / page / "index.html").read_text().count('class="arithmatex"')
        rendered = dom.count('class="katex"')
        assert rendered >= source, f"{page}: KaTeX rendered {rendered} of {source} formulas"
        assert "katex-error" not in dom, f"{page}: a formula KaTeX cannot parse"
        assert "#cc0000" not in dom, f"{page}: a command KaTeX does not know (shown in its error colour)"
    shot = Path(os.environ.get("NUMPY_DDQN_DOCS_SCREENSHOT", tmp_path / "math.png"))
    _, console = run_chromium(browser, served + MATH_PAGE, tmp_path, f"--screenshot={shot}")
    assert console == [], console
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
