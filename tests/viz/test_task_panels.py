"""MonitorPanel and ThresholdPanel on multiclass, regression and score-only models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")

import mlmkit
from mlmkit.exceptions import ValidationError
from mlmkit.viz import charts
from mlmkit.viz.panels import MonitorPanel, ThresholdPanel
from mlmkit.viz.render import to_html

sys.path.insert(0, str(Path(__file__).parent))
import _task_workspace as tw


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    path = tw.build(tmp_path_factory.mktemp("panels") / "ws.duckdb")
    with mlmkit.open(path) as workspace:
        yield workspace


@pytest.mark.parametrize(("model", "shown", "chart"), [
    (tw.MULTICLASS, ["Accuracy (95% CI)", "F1 (macro)", "classes"], "Confusion matrix"),
    (tw.REGRESSION, ["MAE (95% CI)", "RMSE", "R²"], "Residuals"),
    (tw.SCORE, ["Flag rate (95% CI)", "mean score"], "Score distribution"),
])
def test_monitor_panel_shows_the_task_metrics_and_chart(ws, model, shown, chart):
    panel = MonitorPanel(ws, window="7d")
    panel.model.value = model
    assert panel.last_error is None, panel.status.value
    m = ws.monitor.get_current_metrics(model, "1.0.0", "7d", ci=False)
    assert f"{model} 1.0.0" in panel.metrics.value
    for label in shown:
        assert label in panel.metrics.value
    assert "Specificity" not in panel.metrics.value  # no binary rows
    assert "<img" in panel.task_chart.value and "<img" in panel.trend.value
    if model == tw.MULTICLASS:
        assert panel.task_chart.value == to_html(charts.class_confusion_matrix(m))
    assert chart  # named for the reader of the parametrisation
    assert model in panel.static_html()


def test_threshold_panel_refuses_a_regression_model_in_its_status_line(ws):
    panel = ThresholdPanel(ws, tw.REGRESSION, "1.0.0", window="7d")
    assert isinstance(panel.last_error, ValidationError)
    assert "Threshold tuning refused" in panel.status.value
    assert "regression" in panel.status.value and tw.REGRESSION in panel.status.value
    assert panel.result is None
    assert "refused" in panel.static_html()
