"""Charts of multiclass, regression and score-only models, on a real workspace.

Every chart validates against the Vega-Lite schema and renders; the data it embeds is checked
against the metrics result it was built from and against scikit-learn / numpy on the logged
rows (the oracle), not against the chart code's own arithmetic.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import vl_convert as vlc
from sklearn.metrics import f1_score

import mlmkit
from mlmkit.analysis.metrics import UndefinedMetricWarning, multiclass_metrics
from mlmkit.exceptions import ValidationError
from mlmkit.viz import charts, data

sys.path.insert(0, str(Path(__file__).parent))
import _task_workspace as tw

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    path = tw.build(tmp_path_factory.mktemp("tasks") / "ws.duckdb")
    with mlmkit.open(path) as workspace:
        yield workspace


def _spec(chart) -> dict:
    spec = chart.to_dict(validate=True)
    assert vlc.vegalite_to_png(spec).startswith(PNG)
    return spec


def _dataset(spec: dict, column: str) -> list[dict]:
    """The one embedded dataset whose rows have ``column``."""
    found = [rows for rows in spec["datasets"].values() if rows and column in rows[0]]
    assert len(found) == 1, [list(r[0]) for r in spec["datasets"].values() if r]
    return found[0]


def _inline(spec: dict, column: str) -> list[dict]:
    """Rows of the inline ``data.values`` of any layer that have ``column``."""
    return [r for n in _layers(spec) for r in n.get("data", {}).get("values", [])
            if column in r]


def _layers(spec: dict) -> list[dict]:
    out, todo = [], [spec]
    while todo:
        node = todo.pop()
        out.append(node)
        for key in ("layer", "hconcat", "vconcat", "concat"):
            todo.extend(node.get(key, []))
    return out


def _marks(spec: dict) -> list[str]:
    return [n["mark"]["type"] if isinstance(n["mark"], dict) else n["mark"]
            for n in _layers(spec) if "mark" in n]


def _rows(ws, model: str, version: str) -> pl.DataFrame:
    return ws.log.predictions(model, version, window="7d", labelled_only=True)


def test_multiclass_heatmap_has_k_by_k_cells_equal_to_the_matrix(ws):
    m = ws.monitor.get_current_metrics(tw.MULTICLASS, "1.0.0", "7d")
    k = len(tw.CLASSES)
    spec = _spec(charts.confusion_matrix(m))  # the binary front door draws it as K x K
    cells = _dataset(spec, "count")
    assert len(cells) == k * k
    got = np.zeros((k, k), np.int64)
    at = {c: i for i, c in enumerate(tw.CLASSES)}
    for row in cells:
        got[at[row["actual"]], at[row["predicted"]]] = row["count"]
    np.testing.assert_array_equal(got, m.confusion_matrix)
    # the oracle: the logged rows themselves
    rows = _rows(ws, tw.MULTICLASS, "1.0.0")
    oracle = np.zeros((k, k), np.int64)
    np.add.at(oracle, ([at[a] for a in rows["actual_label"]], [at[p] for p in rows["label"]]),
              1)
    np.testing.assert_array_equal(got, oracle)
    rect = next(n for n in _layers(spec) if n.get("mark", {}) in ("rect", {"type": "rect"}))
    assert rect["encoding"]["x"]["sort"] == tw.CLASSES == rect["encoding"]["y"]["sort"]
    assert rect["encoding"]["color"]["field"] == "count"
    assert "text" in _marks(spec)  # 12 classes: numbers in the cells
    assert spec["width"] == spec["height"] == k * 35  # 420 px / 12 classes


def test_row_normalised_heatmap_rows_sum_to_one(ws):
    m = ws.monitor.get_current_metrics(tw.MULTICLASS, "1.1.0", "7d")
    spec = _spec(charts.class_confusion_matrix(m, normalize=True))
    cells = pl.DataFrame(_dataset(spec, "row_share"))
    sums = cells.group_by("actual").agg(pl.col("row_share").sum())["row_share"].to_numpy()
    np.testing.assert_allclose(sums, 1.0, rtol=1e-12)
    diag = cells.filter(pl.col("actual") == pl.col("predicted")).sort("actual")
    recall = m.per_class.sort("label")["recall"].to_numpy()
    np.testing.assert_allclose(diag["row_share"].to_numpy(), recall, rtol=1e-12)
    rect = next(n for n in _layers(spec) if n.get("mark") in ("rect", {"type": "rect"}))
    assert rect["encoding"]["color"]["field"] == "row_share"
    assert all(c["label"].endswith("%") for c in cells.to_dicts())


def test_many_classes_stay_readable():
    labels = [f"class-{i:02d}" for i in range(30)]
    rng = np.random.default_rng(1)
    actual = rng.integers(0, 30, 3000)
    pred = np.where(rng.random(3000) < 0.6, actual, rng.integers(0, 30, 3000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        m = multiclass_metrics(pl.DataFrame({"actual": [labels[a] for a in actual],
                                             "predicted": [labels[p] for p in pred],
                                             "count": 1}), labels=labels)
    spec = _spec(charts.class_confusion_matrix(m))
    assert len(_dataset(spec, "count")) == 900
    assert "text" not in _marks(spec)  # 30 classes: colour only, counts in the tooltip
    assert spec["width"] == 30 * 16
    rect = next(n for n in _layers(spec) if n.get("mark") in ("rect", {"type": "rect"}))
    assert rect["encoding"]["x"]["axis"]["labelAngle"] == -45


def test_per_class_bars_match_sklearn(ws):
    m = ws.monitor.get_current_metrics(tw.MULTICLASS, "1.0.0", "7d")
    spec = _spec(charts.class_metrics(m))
    bars = pl.DataFrame(_dataset(spec, "metric"))
    assert bars.height == 3 * len(tw.CLASSES)
    rows = _rows(ws, tw.MULTICLASS, "1.0.0")
    f1 = f1_score(rows["actual_label"], rows["label"], labels=tw.CLASSES, average=None)
    got = bars.filter(pl.col("metric") == "f1").sort("class")["value"].to_numpy()
    np.testing.assert_allclose(got, f1, rtol=1e-9)
    bar = next(n for n in _layers(spec) if n.get("mark") in ("bar", {"type": "bar"}))
    assert bar["encoding"]["yOffset"]["field"] == "metric"


def test_residual_histogram_counts_and_quantiles(ws):
    m = ws.monitor.get_current_metrics(tw.REGRESSION, "1.0.0", "7d")
    hist = data.residual_histogram(ws, tw.REGRESSION, "1.0.0", window="7d", bins=40)
    spec = _spec(charts.residual_histogram(hist, m))
    bars = pl.DataFrame(_dataset(spec, "bin_start"))
    rows = _rows(ws, tw.REGRESSION, "1.0.0")
    residual = (rows["value"] - rows["actual_value"]).to_numpy()
    assert bars["n"].sum() == residual.size == m.labelled_count
    edges = np.linspace(residual.min(), residual.max(), 41)
    counts, _ = np.histogram(residual, bins=edges)
    dense = np.zeros(40, np.int64)
    width = (residual.max() - residual.min()) / 40
    dense[np.rint((bars["bin_start"].to_numpy() - residual.min()) / width).astype(int)] = \
        bars["n"].to_numpy()
    # np.histogram and the engine's floor bins agree except on a value exactly at an edge
    assert np.abs(dense - counts).sum() <= 2
    marks = {r["label"].split()[0]: r["x"] for r in _inline(spec, "label")}
    for q in (0.05, 0.5, 0.95):
        assert marks[f"q{100 * q:g}"] == pytest.approx(np.quantile(residual, q), abs=width)
    assert marks["0"] == 0.0


def test_residual_scatter_is_a_bounded_sample_of_the_real_residuals(ws):
    sample = data.residual_sample(ws, tw.REGRESSION, "1.1.0", window="7d", size=300)
    assert sample.height == 300 and sample["sampled_from"][0] == 1500
    rows = _rows(ws, tw.REGRESSION, "1.1.0")
    truth = dict(zip(rows["value"].to_list(), (rows["value"] - rows["actual_value"]).to_list(),
                     strict=True))
    for pred, resid in sample.select("prediction", "residual").iter_rows():
        assert resid == pytest.approx(truth[pred], abs=1e-12)
    spec = _spec(charts.residual_scatter(sample))
    assert len(_dataset(spec, "residual")) == 300
    assert spec["title"]["subtitle"] == "300 of 1,500 labelled predictions"


def test_score_distribution_marks_the_flag_threshold(ws):
    m = ws.monitor.get_current_metrics(tw.SCORE, "1.0.0", "7d")
    hist = data.score_histogram(ws, tw.SCORE, "1.0.0", window="7d", bins=30)
    spec = _spec(charts.score_distribution(hist, threshold=tw.FLAG_THRESHOLD,
                                           flag_rate=m.flag_rate))
    bars = pl.DataFrame(_dataset(spec, "bin_start"))
    scores = ws.log.predictions(tw.SCORE, "1.0.0", window="7d")["score"].to_numpy()
    assert bars["n"].sum() == scores.size == m.scored_count
    assert set(bars.filter(pl.col("bin_start") >= tw.FLAG_THRESHOLD)["side"]) == {"flagged"}
    rule = _inline(spec, "label")
    assert rule[0]["x"] == tw.FLAG_THRESHOLD
    assert f"flag rate {np.mean(scores > tw.FLAG_THRESHOLD):.1%}" in rule[0]["label"]


def test_trend_limits_follow_the_metric_direction(ws):
    trend = ws.monitor.get_performance_trend(tw.REGRESSION, None, "7d", "1d")
    spec = _spec(charts.metric_trend(trend, metric="mae", baseline=2.0, threshold=0.1,
                                     deployments=ws.registry.history(tw.REGRESSION)))
    limits = {r["kind"]: r["value"] for r in _inline(spec, "kind")}
    assert limits == {"baseline": 2.0, "warning": pytest.approx(2.2),
                      "critical": pytest.approx(2.4)}  # MAE: a rise is bad
    assert any(r.get("label") == "deploy 1.0.0" for rows in spec["datasets"].values()
               for r in rows)
    x = next(n for n in _layers(spec) if "x" in n.get("encoding", {}) and
             n["encoding"]["x"].get("field") == "bucket")["encoding"]["x"]
    assert x["type"] == "temporal" and x["axis"]["format"] == "%b %d"
    mc = ws.monitor.get_performance_trend(tw.MULTICLASS, None, "7d", "1d")
    spec = _spec(charts.metric_trend(mc, metric="accuracy", baseline=0.8, threshold=0.1))
    limits = {r["kind"]: r["value"] for r in _inline(spec, "kind")}
    assert limits["warning"] == pytest.approx(0.72) and limits["critical"] == pytest.approx(0.64)
    score = ws.monitor.get_performance_trend(tw.SCORE, None, "7d", "1d")
    spec = _spec(charts.metric_trend(score, metric="flag_rate", baseline=0.1, threshold=0.2))
    values = sorted({r["value"] for r in _inline(spec, "kind")})  # no direction: both sides
    assert values == pytest.approx([0.06, 0.08, 0.1, 0.12, 0.14])


def test_chart_builders_refuse_other_inputs():
    with pytest.raises(ValidationError, match="metrics"):
        charts.class_confusion_matrix({"tp": 1})
    with pytest.raises(ValidationError, match="hist"):
        charts.residual_histogram(pl.DataFrame({"x": [1.0]}))
    with pytest.raises(ValidationError, match="sample"):
        charts.residual_scatter(pl.DataFrame({"x": [1.0]}))
