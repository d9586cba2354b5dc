"""Every chart validates against the Vega-Lite schema, renders to PNG and stays small."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
import vl_convert as vlc

import mlmkit
from mlmkit.exceptions import ValidationError
from mlmkit.values import ABTestConfig, utcnow
from mlmkit.viz import charts, data, render
from mlmkit.viz._theme import MAX_POINTS, check_points

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows(spec: dict) -> int:
    """Data rows embedded anywhere in a spec (top-level datasets and inline values)."""
    total = sum(len(v) for v in spec.get("datasets", {}).values())

    def walk(node: object) -> int:
        if isinstance(node, dict):
            own = len(node["values"]) if isinstance(node.get("values"), list) and \
                node.get("values") and isinstance(node["values"][0], dict) else 0
            return own + sum(walk(v) for k, v in node.items() if k != "datasets")
        if isinstance(node, list):
            return sum(walk(v) for v in node)
        return 0

    return total + walk(spec)


def _check(chart) -> dict:
    spec = chart.to_dict(validate=True)
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert _rows(spec) <= MAX_POINTS
    png = vlc.vegalite_to_png(spec)
    assert png.startswith(PNG_MAGIC) and len(png) > 2_000
    json.dumps(spec)  # serialisable (no NaN / datetimes left)
    return spec


@pytest.fixture
def built(demo_ws):
    ws = demo_ws
    cfg = ABTestConfig.create("queue-anomaly", "1.2.0", "1.3.0", traffic_split=0.8)
    result = ws.ab.run_test(cfg, "30d")
    tuned = ws.tuning.optimize_threshold("n1-detector", "1.1.0", window="30d",
                                         threshold_range=(0.05, 0.95), step=0.01)
    curve = data.threshold_curve(ws, "n1-detector", None, window="30d")
    rollout = ws.ab.start_rollout(cfg)
    rollout.advance()
    rollout.rollback(reason="test")
    return {
        "trend": charts.metric_trend(
            ws.monitor.get_performance_trend("n1-detector", None, "30d", "1d"),
            deployments=ws.registry.history("n1-detector")),
        "confusion": charts.confusion_matrix(
            ws.monitor.get_current_metrics("n1-detector", "1.1.0", "7d")),
        "roc": charts.roc_curve(curve),
        "pr": charts.pr_curve(curve),
        "threshold": charts.threshold_curve(tuned),
        "calibration": charts.calibration(
            data.calibration_frame(ws, "n1-detector", "1.1.0", window="30d")),
        "drift_bars": charts.drift_bars(ws.monitor.data_drift(
            "waf-behavioral", "2.0.0", reference="14d", current="3d")),
        "drift_heatmap": charts.drift_heatmap(data.drift_over_time(
            ws, "waf-behavioral", "2.0.0", periods=5, progress=False)),
        "ab": charts.ab_comparison(result, arms=data.ab_arms(ws, result, window="30d")),
        "ab_points": charts.ab_comparison(result),
        "sequential": charts.sequential_path(data.sequential_frame(ws, cfg, window="30d")),
        "rollout": charts.rollout_progress(rollout.history()),
    }


def test_every_chart_validates_and_renders(built):
    assert len(built) == 12
    for name, chart in built.items():
        spec = _check(chart)
        # theme applied: transparent, so a chart reads on a light and a dark notebook alike
        assert spec.get("config", {}).get("background") == "transparent", name


def test_threshold_chart_marks_current_and_optimal(built):
    spec = built["threshold"].to_dict()
    texts = [json.dumps(layer) for layer in spec["layer"]]
    assert any("current 0.5" in t for t in texts)
    assert any("optimal 0." in t for t in texts)


def test_confusion_counts_match_metrics(demo_ws):
    m = demo_ws.monitor.get_current_metrics("n1-detector", "1.1.0", "7d")
    spec = charts.confusion_matrix(m).to_dict()
    values = next(iter(spec["datasets"].values()))
    got = {(r["actual"], r["predicted"]): r["count"] for r in values}
    cm = m.confusion_matrix
    assert got[("positive", "positive")] == cm["tp"]
    assert got[("negative", "positive")] == cm["fp"]
    assert got[("negative", "negative")] == cm["tn"]
    assert got[("positive", "negative")] == cm["fn"]


def test_roc_points_match_sklearn(demo_ws):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    frame = demo_ws.log.predictions("n1-detector", "1.1.0", window="30d", labelled_only=True)
    curve = data.threshold_curve(demo_ws, "n1-detector", "1.1.0", window="30d", bins=10_000)
    spec = charts.roc_curve(curve, max_points=5_000).to_dict()
    pts = next(v for v in spec["datasets"].values() if "tpr" in v[0])
    fpr = np.array([p["fpr"] for p in pts])
    tpr = np.array([p["tpr"] for p in pts])
    auc = -np.trapezoid(np.append(tpr, 0.0), np.append(fpr, 0.0))
    expected = sklearn_metrics.roc_auc_score(frame["actual"], frame["score"])
    assert auc == pytest.approx(expected, abs=2e-3)


def test_guard_rejects_big_frames():
    with pytest.raises(ValidationError, match="at most 5,000 rows"):
        check_points(pl.DataFrame({"x": range(MAX_POINTS + 1)}))
    with pytest.raises(ValidationError):
        charts.drift_bars(pl.DataFrame({"feature": ["a"] * 6000, "statistic": 1.0,
                                        "drift": False}))


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValidationError, match="metrics"):
        charts.confusion_matrix({"tp": 1})
    with pytest.raises(ValidationError, match="curve"):
        charts.roc_curve(pl.DataFrame({"x": [1]}))
    with pytest.raises(ValidationError, match="metric"):
        charts.metric_trend(pl.DataFrame({"version": ["1"], "bucket": [utcnow()]}),
                            metric="nope")


def test_render_helpers():
    chart = charts.confusion_matrix({"tp": 4, "fp": 1, "tn": 3, "fn": 2})
    assert render.to_svg(chart).lstrip().startswith("<svg")
    assert render.to_png(chart).startswith(PNG_MAGIC)
    assert "data:image/svg+xml;base64," in render.to_html(chart, fmt="svg")


@pytest.mark.slow
def test_million_row_log_stays_small():
    n = 1_000_000
    rng = np.random.default_rng(0)
    y = rng.random(n) < 0.3
    s = np.clip(0.3 + 0.35 * y + rng.normal(0, 0.15, n), 0, 1)
    now = utcnow()
    frame = pl.DataFrame({"model_name": "m", "version": "1.0.0", "prediction": s >= 0.5,
                          "score": s, "actual": y,
                          "offset": rng.integers(1, 7 * 86_400, n)}).with_columns(
        (pl.lit(now) - pl.duration(seconds=pl.col("offset"))).alias("timestamp")
    ).drop("offset")
    with mlmkit.open() as ws:
        ws.registry.register(mlmkit.ModelMetadata("m", mlmkit.ModelType.SUPERVISED, "1.0.0"))
        ws.log.track_batch(frame)
        trend = ws.monitor.get_performance_trend("m", "1.0.0", "7d", "1h")
        curve = data.threshold_curve(ws, "m", "1.0.0", window="8d")
        cal = data.calibration_frame(ws, "m", "1.0.0", window="8d")
        for chart in (charts.metric_trend(trend), charts.roc_curve(curve),
                      charts.pr_curve(curve), charts.threshold_curve(curve),
                      charts.calibration(cal)):
            spec = chart.to_dict(validate=True)
            assert 0 < _rows(spec) < MAX_POINTS
        assert timedelta(hours=1) * trend.height <= timedelta(days=8)
