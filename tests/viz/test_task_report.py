"""The monitoring report of a multiclass, a regression and a score-only model.

One workspace file holds a model of each task; `render_report` runs the shipped notebook on
each (papermill fails on any cell error) and the HTML is read back: the task's summary,
charts and tables are there, the binary-only sections (ROC, calibration) are not.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import mlmkit

sys.path.insert(0, str(Path(__file__).parent))
import _task_workspace as tw

pytest.importorskip("papermill")

pytestmark = pytest.mark.slow

BINARY_ONLY = ("roc-and-precision-recall", "calibration")
COMMON = ("summary", "performance-trend", "version-comparison", "data-drift", "concept-drift",
          "alerts", "deployment-history")


def _sections(html: str) -> list[str]:
    return re.findall(r"<h2 class=.mlmkit-section. id=.([a-z-]+).", html)


def _text(html: str) -> str:
    import html as _html

    body = re.sub(r"<style.*?</style>|<img[^>]*>", "", html, flags=re.S)
    return _html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tw.build(tmp_path_factory.mktemp("report") / "ws.duckdb")


@pytest.mark.parametrize(("model", "own", "rows"), [
    (tw.MULTICLASS, ("confusion-matrix", "per-class-metrics"),
     ("Accuracy (95% CI)", "F1 (macro)", "ROC AUC (one-vs-rest)", "classes 12")),
    (tw.REGRESSION, ("residuals",), ("MAE (95% CI)", "RMSE (95% CI)", "R²", "median residual")),
    (tw.SCORE, ("score-distribution",), ("Flag rate (95% CI)", "mean score")),
])
def test_report_per_task(db, tmp_path, model, own, rows):
    from mlmkit.viz.report import render_report

    out = render_report(db, tmp_path / f"{model}.html", model=model, window="7d",
                        progress=False)
    html = out.read_text()
    sections = _sections(html)
    common = set(COMMON) - ({"concept-drift"} if model == tw.SCORE else set())
    assert common | set(own) <= set(sections), sections
    if model == tw.SCORE:  # no error stream to run detectors on
        assert "concept-drift" not in sections
    assert not set(BINARY_ONLY) & set(sections), sections
    if model != tw.MULTICLASS:
        assert "confusion-matrix" not in sections
    text = _text(html)
    for row in rows:
        assert row in text, row
    with mlmkit.open(db) as ws:
        task = str(ws.registry.task(model))
    assert f"({task} model)" in text
    assert "Traceback" not in html and "Error" not in text
    # one figure per chart section at least (inline SVG or PNG)
    charts = html.count("<svg") + html.count("<img")
    assert charts >= 3 + len(own), charts


@pytest.mark.parametrize("model", [tw.MULTICLASS, tw.REGRESSION, tw.SCORE])
def test_a_report_over_a_window_without_traffic_renders(db, tmp_path, model):
    """As of 60 days after the traffic (a paused model, a quiet week): every section renders
    empty instead of the notebook failing (an empty confusion matrix, residual chart or
    per-class table raised before)."""
    from datetime import UTC, datetime, timedelta

    from mlmkit.viz.report import render_report

    later = datetime.now(UTC) + timedelta(days=60)
    out = render_report(db, tmp_path / f"{model}-quiet.html", model=model, window="7d",
                        progress=False, as_of=later)
    assert "summary" in _sections(out.read_text())
