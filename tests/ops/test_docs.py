"""The documentation site builds in strict mode (what `make docs` runs), offline and without jargon.

One strict build (module fixture) serves every site check: no page loads anything from another
host (scripts, styles, images, frames), no Sphinx role is printed literally, cross-references are
mkdocstrings/autorefs links (an unresolved one fails the strict build), and the pages written for
users hold no internal jargon or private module paths.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: A Sphinx cross-reference role (``:class:`X```): mkdocstrings prints it literally.
SPHINX_ROLE = re.compile(r":(class|func|meth|mod|attr|exc|data|obj|py:\w+):`")
#: An element that makes the browser fetch from another host.
EXTERNAL_LOAD = re.compile(
    r"<(script|link|img|iframe|source|video|audio|embed)\b[^>]*\b(src|href|data-src)\s*=\s*"
    r"[\"']?(https?:)?//", re.IGNORECASE)
CSS_EXTERNAL = re.compile(r"(url\(\s*[\"']?|@import\s+[\"']?)(https?:)?//", re.IGNORECASE)
#: Words from the project's own history that mean nothing to a reader of the docs.
#: ("session" alone is a Spark or browser term; "this session" is the team's history.)
JARGON = re.compile(r"\bthe seed\b|\bseed's\b|\bissue \d+|\bissues? #\d+|/work/"
                    r"|\b(?:this|previous|next|earlier|later|last) session\b", re.IGNORECASE)
PRIVATE_PATH = re.compile(r"\bmlmkit(\.\w+)*\._\w+")


def _mkdocs_available() -> bool:
    return shutil.which("mkdocs") is not None or (Path(sys.executable).parent / "mkdocs").exists()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    if not _mkdocs_available():
        pytest.skip("mkdocs executable missing")
    out = tmp_path_factory.mktemp("docs") / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


@pytest.mark.slow
def test_mkdocs_builds_strict(site: Path) -> None:
    api = (site / "api" / "ops" / "index.html").read_text()
    assert "write_textfile" in api and "health_report" in api
    assert (site / "DEPLOYMENT" / "index.html").exists()


@pytest.mark.slow
def test_site_makes_no_external_request(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    offenders = [f"{p.relative_to(site)}: {m.group(0)}" for p in pages
                 for m in EXTERNAL_LOAD.finditer(p.read_text(encoding="utf-8"))]
    offenders += [f"{p.relative_to(site)}: {m.group(0)}" for p in sorted(site.rglob("*.css"))
                  for m in CSS_EXTERNAL.finditer(p.read_text(encoding="utf-8", errors="replace"))]
    assert not offenders, offenders[:20]
    # code is highlighted at build time (Pygments), with the stylesheet served from the site
    quick = (site / "QUICKSTART" / "index.html").read_text(encoding="utf-8")
    assert 'class="highlight"' in quick and "css/pygments.css" in quick
    assert (site / "css" / "pygments.css").is_file()


@pytest.mark.slow
def test_site_prints_no_sphinx_role_and_links_cross_references(site: Path) -> None:
    literal = [str(p.relative_to(site)) for p in sorted((site / "api").rglob("*.html"))
               if SPHINX_ROLE.search(p.read_text(encoding="utf-8"))]
    assert not literal, literal
    core = (site / "api" / "core" / "index.html").read_text(encoding="utf-8")
    # `[`ValidationError`][mlmkit.exceptions.ValidationError]` in a docstring became a link
    assert re.search(r'<a class="autorefs[^"]*" href="[^"]*#mlmkit\.exceptions\.ValidationError"',
                     core)


@pytest.mark.slow
def test_api_reference_renders_the_public_paths(site: Path) -> None:
    """Classes and functions are rendered under the path users import (the front door)."""
    from mkdocstrings import Inventory

    with (site / "objects.inv").open("rb") as handle:
        inventory = Inventory.parse_sphinx(handle)
    primary = {name for name, item in inventory.items() if item.uri.endswith("#" + name)}
    for name in ("mlmkit.services.monitor.PerformanceMonitor",
                 "mlmkit.services.monitor.model_verdict", "mlmkit.store.registry.ModelRegistry",
                 "mlmkit.store.engines.ParquetEngine",
                 "mlmkit.viz.offline.use_offline_renderer", "mlmkit.client.Client.deploy",
                 "mlmkit.analysis.stats.welch_from_sums", "mlmkit.analysis.metrics.RegressionSums"):
        assert name in primary, name
    internal = sorted(n for n in primary if re.search(
        r"\.(service|base|duckdb|memory|database|rules|sinks|_\w+)\.[A-Z]", n))
    assert not internal, internal[:20]
    monitor = (site / "api" / "monitor" / "index.html").read_text(encoding="utf-8")
    assert 'id="mlmkit.services.monitor.PerformanceMonitor"' in monitor
    assert "mlmkit.services.monitor.service" not in monitor

def test_no_sphinx_roles_in_the_package() -> None:
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "mlmkit").rglob("*.py"))
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if SPHINX_ROLE.search(line)]
    assert not found, f"Sphinx roles (use [`Name`][mlmkit.module.Name] or `Name`): {found[:20]}"


def test_api_pages_name_no_private_module() -> None:
    found = [f"{p.name}: {m.group(0)}" for p in sorted((DOCS / "api").glob("*.md"))
             for m in PRIVATE_PATH.finditer(p.read_text(encoding="utf-8"))]
    assert not found, found


def test_user_docs_hold_no_internal_jargon() -> None:
    pages = [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]
    found = [f"{p.relative_to(ROOT)}:{i}: {m.group(0)!r}" for p in pages
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             for m in JARGON.finditer(line)]
    assert not found, "\n".join(found)
