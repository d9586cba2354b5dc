"""The papermill report, the notebook shipped in the package, and the CLI command."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlmkit.clock import SimulatedClock, use_clock
from mlmkit.exceptions import ValidationError

pytest.importorskip("papermill")
pytest.importorskip("nbconvert")

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ["Summary", "Performance trend", "Confusion matrix", "ROC and precision-recall",
            "Calibration", "Version comparison", "Data drift", "Concept drift", "Alerts",
            "Deployment history"]


def test_packaged_report_notebook_matches_repository_copy():
    from mlmkit.viz.report import report_notebook

    shipped = report_notebook()
    assert shipped.read_bytes() == (ROOT / "notebooks" / shipped.name).read_bytes()
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(str(shipped), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for name in ("db_path", "model_name", "window"):
        assert re.search(rf"^{name} = ", tagged[0].source, re.M)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_report_refuses_missing_file(tmp_path):
    from mlmkit.viz.report import render_report

    with pytest.raises(ValidationError, match="db_path"):
        render_report(tmp_path / "nope.duckdb", tmp_path / "r.html")


@pytest.mark.slow
def test_cli_report_writes_static_html(demo_path, tmp_path, capsys):
    from mlmkit.cli import main

    db = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_path, db)
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--model", "waf-behavioral", "--window", "7d",
                 "--out", str(out), "--quiet"]) == 0
    assert "report written to" in capsys.readouterr().out
    html = out.read_text()
    found = re.findall(r'class="mlmkit-section" id="[^"]+">([^<]+)<', html)
    assert found == SECTIONS
    assert "Monitoring report: waf-behavioral" in html
    # charts are embedded images (inline SVG data: crisp and a fraction of a 2x PNG's size)
    assert len(re.findall(r"<img[^>]+src=\"data:image/(?:png|svg\+xml);base64,", html)) >= 6
    assert "<script" not in html  # readable with no JS and no network
    assert "Traceback" not in html


def _text(html: str) -> str:
    """The visible text of a page (tags, styles and data URIs dropped)."""
    import html as _html

    body = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    body = re.sub(r"<img[^>]*>", "", body)
    return _html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


@pytest.mark.slow
def test_report_opens_with_the_verdicts_and_reads_as_a_report(demo_path, tmp_path):
    import mlmkit
    from mlmkit.services.monitor import model_verdicts
    from mlmkit.viz.report import render_report

    db = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_path, db)
    # one instant for the report (its kernel) and the verdicts read here: a labelled row
    # crossing the 24 h window between the two made the counts differ (a flaky failure)
    with use_clock(SimulatedClock(datetime.now(UTC))):
        out = render_report(db, tmp_path / "report.html", progress=False)
        with mlmkit.open(db) as ws:
            verdicts = {v.model_name: v for v in model_verdicts(ws)}
            alerts = ws.alerts.list()
    html = out.read_text()
    text = _text(html)
    first = verdicts["n1-detector"]
    # the verdict of the reported model is the first thing after the title
    assert text.split("Monitoring report: n1-detector", 1)[1].strip().startswith(
        f"{first.severity.upper()} {first.sentence}")
    for v in verdicts.values():
        assert v.sentence in text and f"Next: {v.action}" in text
    assert text.index(first.sentence) < text.index("Summary")
    for message in alerts.filter(alerts["model_name"] == "n1-detector")["message"]:
        assert message in text  # alert messages in full
    for raw in ("shape:", "dtype", "None", "┌", "e+0", "median_label_latency_s",
                "Run unattended"):
        assert raw not in text, raw
    # self-contained and offline: no script, no external source, no JupyterLab icon CSS
    assert "<script" not in html
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?https?://", html)
    assert "@import" not in html and "url(http" not in html
    assert "--jp-icon" not in html and "jp-" not in html
    assert len(html) < 400_000, len(html)  # the lab template's report was ~650 kB


def test_tables_format_units_intervals_and_missing_values():
    import polars as pl

    from mlmkit.viz import tables

    assert tables.duration(83_470.0) == "23.2 h"
    assert tables.duration(30) == "30 s" and tables.duration(4 * 86_400) == "4.0 d"
    assert tables.duration(None) == ""
    assert tables.rate(0.8743, 0.861, 0.887) == "0.874 (0.861 to 0.887)"
    assert tables.rate(float("nan")) == ""
    frame = pl.DataFrame({"a": [1_234_567, None], "b": [True, None],
                          "c": ["<b>x</b>", "y"]})
    html = tables.frame_table(frame, {"a": "count", "b": "flag", "c": "name"})
    assert "1,234,567" in html and ">yes<" in html and "None" not in html
    assert "&lt;b&gt;" in html and "shape:" not in html
    assert "none" in tables.frame_table(frame.head(0), title="Alerts")


def test_the_report_is_as_of_one_instant_given_or_from_the_clock(tmp_path):
    """``as_of`` (default: ``mlmkit.clock.now()``) reaches the kernel's parameters."""
    from mlmkit.viz.report import render_report

    with pytest.raises(ValidationError) as caught:  # checked first, at the edge
        render_report(tmp_path / "x.duckdb", tmp_path / "r.html", as_of="2026-01-01")  # type: ignore[arg-type]
    assert caught.value.field == "as_of"


@pytest.mark.slow
def test_a_report_as_of_a_later_instant_judges_that_instant(demo_path, tmp_path):
    """30 days after the demo's traffic the report's windows are empty, as the in-process
    verdicts as of that instant say (the kernel ran on the given instant, not its own now)."""
    from datetime import timedelta

    import mlmkit
    from mlmkit.services.monitor import model_verdicts
    from mlmkit.viz.report import render_report

    db = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_path, db)
    later = datetime.now(UTC) + timedelta(days=30)
    out = render_report(db, tmp_path / "report.html", progress=False, as_of=later,
                        keep_notebook=tmp_path / "run.ipynb")
    assert later.isoformat() in (tmp_path / "run.ipynb").read_text()  # papermill's parameter
    with use_clock(SimulatedClock(later)), mlmkit.open(db) as ws:
        verdicts = model_verdicts(ws)
    text = _text(out.read_text())
    for v in verdicts:
        assert v.sentence in text
    with mlmkit.open(db) as ws:
        now_verdicts = {v.model_name: v.sentence for v in model_verdicts(ws)}
    assert {v.model_name: v.sentence for v in verdicts} != now_verdicts
