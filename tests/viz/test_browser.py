"""The exported HTML report opened in headless Debian Chromium (Playwright).

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it). Without it
the tests are skipped with a loud reason.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]



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
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report_html.as_uri())
    page.wait_for_load_state("load")
    shot = page.screenshot(full_page=True, path=str(tmp_path / "report.png"))
    assert _nonblank(shot)
    sections = page.locator("h2.mlmkit-section").all_inner_texts()
    assert "Performance trend" in sections and "Data drift" in sections
    images = page.locator("img[src^='data:image/']")
    assert images.count() >= 6
    for i in range(images.count()):
        size = images.nth(i).evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
        assert size[0] and size[1] > 100 and size[2] > 100, size
        assert _nonblank(images.nth(i).screenshot())
    assert errors == []
    page.close()
