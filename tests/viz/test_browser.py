"""The exported HTML report and the documentation site opened in headless Debian Chromium.

Every page loads with the network cut off: Playwright aborts every request that is not for a
``file://`` URL or the loopback server, and the test counts aborted and failed requests and
console errors (all must be zero). A screenshot of each page is kept under
``reports/artifacts/`` (git-ignored) for a human to look at.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it). Without it
the tests are skipped with a loud reason.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "reports" / "artifacts"


class Offline:
    """Cut a page off the network; record what it tried to fetch and what went wrong."""

    def __init__(self, page) -> None:
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} {r.failure}"))
        page.route("**/*", self._route)

    def _route(self, route) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("file", "data", "blob") or url.hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def check(self) -> None:
        assert self.blocked == [], self.blocked
        assert self.failed == [], self.failed
        assert self.errors == [], self.errors


def _keep(png: bytes, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)


@pytest.fixture(scope="module")
def report_html(demo_path, tmp_path_factory) -> Path:
    pytest.importorskip("papermill")
    from mlmkit.viz.report import render_report

    out = tmp_path_factory.mktemp("browser") / "report.html"
    copy = out.parent / "demo.duckdb"
    shutil.copyfile(demo_path, copy)
    return render_report(copy, out, model="n1-detector", window="7d", progress=False)


def _nonblank(png: bytes) -> bool:
    """A decoded screenshot is not one flat colour (uses Chromium's own PNG; no PIL)."""
    import zlib

    pos, chunks = 8, []
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        kind = png[pos + 4:pos + 8]
        if kind == b"IDAT":
            chunks.append(png[pos + 8:pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    ink = sum(1 for b in raw[::7] if b < 200) / max(len(raw[::7]), 1)
    return len(set(raw)) > 16 and ink > 0.002


def test_report_renders_in_chromium(browser, report_html, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    net = Offline(page)
    page.goto(report_html.as_uri())
    page.wait_for_load_state("load")
    shot = page.screenshot(full_page=True, path=str(tmp_path / "report.png"))
    _keep(shot, "report.png")
    assert _nonblank(shot)
    sections = page.locator("h2.mlmkit-section").all_inner_texts()
    assert "Performance trend" in sections and "Data drift" in sections
    images = page.locator("img[src^='data:image/']")
    assert images.count() >= 6
    for i in range(images.count()):
        size = images.nth(i).evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
        assert size[0] and size[1] > 100 and size[2] > 100, size
        assert _nonblank(images.nth(i).screenshot())
    # the verdict a manager acts on, as the monitor states it for the same file
    import mlmkit
    from mlmkit.services.monitor import model_verdict

    with mlmkit.open(report_html.parent / "demo.duckdb", read_only=True) as ws:
        verdict = model_verdict(ws, "n1-detector")
    text = " ".join(page.locator("body").inner_text().split())
    assert verdict.severity in text.lower()
    assert " ".join(verdict.sentence.split()) in text, (verdict.sentence, text[:2000])
    net.check()
    page.close()


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory) -> Iterator[str]:
    """The documentation site served by a loopback HTTP server (strictness: tests/ops/test_docs)."""
    pytest.importorskip("mkdocs")
    out = tmp_path_factory.mktemp("docs") / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--no-strict", "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("path", "needle"), [("QUICKSTART/", "Register and deploy a model"),
                                              ("api/core/", "Workspace")])
def test_docs_page_renders_offline(browser, docs_site, path, needle):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    net = Offline(page)
    page.goto(f"{docs_site}/{path}")
    page.wait_for_load_state("networkidle")
    assert needle in page.locator("body").inner_text()
    # code is highlighted by the site's own stylesheet (Pygments classes, colour applied)
    keyword = page.locator(".highlight .kn, .highlight .k").first
    assert keyword.evaluate("e => getComputedStyle(e).color") != "rgb(0, 0, 0)"
    shot = page.screenshot(full_page=False)
    _keep(shot, f"docs-{path.strip('/').replace('/', '-')}.png")
    assert _nonblank(shot)
    net.check()
    page.close()
