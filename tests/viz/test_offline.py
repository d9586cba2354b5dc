"""The offline renderer: interactive Altair charts with Vega's scripts inlined, no CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from mlmkit.viz import charts, offline, use_offline_renderer

alt = pytest.importorskip("altair")
CM = {"tp": 5, "fp": 2, "tn": 7, "fn": 1}


@pytest.fixture
def renderer() -> Iterator[None]:
    before = alt.renderers.active
    yield
    alt.renderers.enable(before)


def test_switch_makes_charts_display_as_inline_html(renderer) -> None:
    assert use_offline_renderer() == offline.RENDERER == alt.renderers.active
    bundle = charts.confusion_matrix(CM)._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    html = data["text/html"]
    assert "window.vegaEmbed" in html and '"editor": false' in html
    # nothing is fetched: outside the inlined bundle, no element with a src or href
    page = html.replace(offline._bundle(), "")
    assert len(page) < 4_000 and not re.search(r"\b(src|href)=", page), page
    assert "cdn.jsdelivr" not in html
    assert use_offline_renderer(False) == "default"


def test_spec_text_cannot_close_the_script_tag() -> None:
    html = offline.offline_html(charts.confusion_matrix(CM, title="</script><b>x</b>"))
    assert html.count("</script>") == 2  # the two script elements, none from the title


@pytest.mark.browser
def test_two_charts_on_one_page_render_offline_without_errors(browser, tmp_path: Path) -> None:
    """Each output carries the scripts; the second must not redeclare the first's names.

    (Altair's own ``inline`` template puts the bundle's top-level ``const`` declarations in
    the page's global scope, so a second chart on the page throws a SyntaxError.)
    """
    page_html = tmp_path / "two.html"
    page_html.write_text("<!DOCTYPE html><html><body>" + offline.offline_html(
        charts.confusion_matrix(CM)) + offline.offline_html(
        charts.confusion_matrix(CM, title="again")) + "</body></html>", encoding="utf-8")
    page = browser.new_page()
    errors: list[str] = []
    blocked: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def block(route) -> None:
        if urlparse(route.request.url).scheme in ("file", "data", "blob"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", block)
    try:
        page.goto(page_html.as_uri())
        drawn = page.locator(".mlmkit-vega canvas.marks, .mlmkit-vega svg.marks")
        drawn.nth(1).wait_for(timeout=30_000)
        assert drawn.count() == 2
        assert errors == [] and blocked == [], (errors, blocked)
    finally:
        page.close()
