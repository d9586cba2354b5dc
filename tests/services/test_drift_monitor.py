"""data_drift / estimate_performance on logged features (SQL histograms and exact rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

import mlmkit

END = datetime(2026, 3, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def ws():
    rng = np.random.default_rng(11)
    n = 24_000
    t = np.sort(rng.uniform(0, 8 * 86400, n))
    last = t >= 7 * 86400
    a = rng.normal(size=n) + 0.5 * last          # shifted
    b = rng.normal(size=n)                        # stable
    c = rng.choice(["x", "y", "z"], n)            # stable categorical
    d = np.where(last, rng.choice(["x", "y"], n, p=[0.2, 0.8]), rng.choice(["x", "y"], n))
    score = 1 / (1 + np.exp(-(1.5 * b + 0.3)))
    y = rng.random(n) < score
    w = mlmkit.open()
    w.registry.register(mlmkit.ModelMetadata("m", mlmkit.ModelType.SUPERVISED, "1.0.0"))
    w.log.track_batch(pl.DataFrame({
        "model_name": "m", "version": "1.0.0", "prediction": score >= 0.5, "actual": y,
        "score": score, "a": a, "b": b, "c": c, "d": d,
        "timestamp": [END - timedelta(days=8) + timedelta(seconds=float(s)) for s in t]}))
    yield w
    w.close()


CUR = (END - timedelta(days=1), END)


def test_sql_path_flags_shifted_features_only(ws):
    report = ws.monitor.data_drift("m", "1.0.0", reference="7d", current=CUR)
    assert set(report["source"]) == {"sql"}
    drifted = report.filter(pl.col("drift"))["feature"].to_list()
    assert drifted == ["a", "d"]
    assert report.filter(pl.col("feature") == "score")["kind"][0] == "prediction"
    # Wasserstein from 2,000 SQL bins agrees with scipy on the raw values
    rows = ws.log.predictions("m", "1.0.0", start=END - timedelta(days=8), end=END)
    ref = rows.filter(pl.col("ts") < CUR[0])
    cur = rows.filter(pl.col("ts") >= CUR[0])
    exact = stats.wasserstein_distance(ref["a"], cur["a"]) / ref["a"].to_numpy().std()
    got = report.filter(pl.col("feature") == "a")["statistic"][0]
    assert got == pytest.approx(exact, abs=(ref["a"].max() - ref["a"].min()) / 2000 * 2)


def test_small_windows_use_exact_tests(ws):
    report = ws.monitor.data_drift("m", "1.0.0", reference="7d",
                                   current=(END - timedelta(hours=2), END))
    assert set(report["source"]) == {"rows"}
    assert set(report["method"]) <= {"ks", "chi_square"}
    assert report.filter(pl.col("drift"))["feature"].to_list() == ["a", "d"]


def test_frame_and_version_references(ws):
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    report = ws.monitor.data_drift("m", "1.0.0", reference=frame, current=CUR)
    assert report["feature"].to_list() == ["a", "b"]
    assert report["drift"].to_list() == [True, False]
    same = ws.monitor.data_drift("m", "1.0.0", reference={"version": "1.0.0", "window": "7d"},
                                 current=CUR)
    assert same.filter(pl.col("drift"))["feature"].to_list() == ["a", "d"]


def test_cbpe_estimate_within_documented_error(ws):
    est = ws.monitor.estimate_performance("m", "1.0.0", reference="7d", current=CUR)
    real = ws.monitor.get_current_metrics("m", "1.0.0", start=CUR[0], end=CUR[1])
    for metric in ("accuracy", "precision", "recall", "roc_auc"):
        err = abs(est[metric] - real[metric])
        assert err <= 3 * est.standard_errors[metric] + 0.01, metric
