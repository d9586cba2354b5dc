"""Fixtures for the notebook layer: one small demo workspace file per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import mlmkit
from mlmkit.demo import build_demo

pytest.importorskip("altair")
pytest.importorskip("vl_convert")

DEMO_ROWS = 3_000


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo workspace file (3 models, 3,000 predictions each), built once."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with mlmkit.open(path) as ws:
        build_demo(ws, per_model=DEMO_ROWS)
    return path


@pytest.fixture
def demo_ws(demo_path: Path, tmp_path: Path) -> Iterator[mlmkit.Workspace]:
    """A private copy of the demo workspace (tests may write to it)."""
    copy = tmp_path / "demo.duckdb"
    copy.write_bytes(demo_path.read_bytes())
    with mlmkit.open(copy) as ws:
        yield ws


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium through Playwright; skips loudly when it is not installed."""
    if not Path(CHROMIUM).exists():
        print("\n" + "!" * 70 + "\nBROWSER TESTS SKIPPED: chromium not installed "
              f"({CHROMIUM}); apt-get install -y chromium\n" + "!" * 70)
        pytest.skip("BROWSER TESTS SKIPPED: chromium not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                      headless=True)
        yield instance
        instance.close()
