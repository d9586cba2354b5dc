"""One finite but huge regression prediction (1e200: a model that blew up) through every service.

Before: its squared residual overflowed ``Σe²`` to infinity and every call on the model raised
(``sum_squared_error must be a finite number``): get_current_metrics, trend, degradation,
compare_versions, A/B tests, concept drift (an OverflowError in ADWIN), and the monitoring
job's step for the model. A model that blows up is what monitoring is for: now its RMSE is
infinite, R² -inf, the degradation check is critical and raises an alert whose stored details
say null where a value overflowed, and the job runs.
"""

from __future__ import annotations

import json
import math
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.services.jobs.runner import run_job
from mlmkit.values import ABTestConfig

END = datetime(2026, 5, 1, 12, tzinfo=UTC)
W = {"start": END - timedelta(hours=2), "end": END}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = mlmkit.open(tmp_path_factory.mktemp("huge") / "ws.duckdb")
    for v in ("1.0.0", "1.1.0"):
        ws.registry.register(ModelMetadata("rg", "supervised", v, task="regression"))
    ws.registry.deploy("rg", "1.0.0")
    rng = np.random.default_rng(0)
    for v in ("1.0.0", "1.1.0"):
        y = rng.normal(10, 2, 2000)
        p = y + rng.normal(0, 1, 2000)
        stamps = [END - timedelta(seconds=int(s)) for s in rng.integers(1, 7000, 2000)]
        if v == "1.0.0":  # the blow-up: in the last hour
            p[0], stamps[0] = 1e200, END - timedelta(minutes=20)
        ws.log.track_batch(pl.DataFrame({"model_name": "rg", "version": v, "prediction": p,
                                         "actual": y, "timestamp": stamps}))
    yield ws
    ws.close()


def test_the_window_reports_infinite_error_not_an_exception(ws) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ws.monitor.get_current_metrics("rg", "1.0.0", **W)
    assert m.rmse == math.inf and m.r2 == -math.inf
    assert m.mae == pytest.approx(1e200 / 2000, rel=1e-9) and math.isfinite(m.bias)
    d = m.to_dict()
    assert d["rmse"] == math.inf and d["labelled_count"] == 2000
    trend = ws.monitor.get_performance_trend("rg", "1.0.0", None, "30m", **W)
    assert trend["rmse"].is_infinite().sum() == 1 and trend["rmse"].is_finite().sum() >= 3


def test_degradation_is_critical_and_its_alert_is_stored(ws) -> None:
    info = ws.monitor.get_performance_degradation_info(
        "rg", "1.0.0", metric="rmse", start=END - timedelta(hours=1), end=END,
        baseline=(END - timedelta(hours=2), END - timedelta(hours=1)))
    assert info.severity == "critical" and info.current_value == math.inf
    assert info.alert_id is not None
    alert = ws.alerts.list("rg").filter(pl.col("alert_id") == info.alert_id)
    details = alert["details"].item()
    stored = json.loads(details) if isinstance(details, str) else details
    assert stored is not None and None in _leaves(stored)  # inf stored as null, not lost


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]


def test_comparison_ab_test_and_concept_drift_run(ws) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = ws.monitor.compare_versions("rg", ["1.1.0", "1.0.0"], **W, metric="rmse")
        ab = ws.ab.run_test(ABTestConfig("rg", "1.1.0", "1.0.0", primary_metric="mae"),
                            start=W["start"], end=W["end"])
        drift = ws.monitor.detect_concept_drift("rg", "1.0.0", **W)
    assert table.filter(pl.col("version") == "1.0.0")["rmse"].item() == math.inf
    assert math.isnan(ab.tests["mae"].p_value)  # Welch of an infinite variance: untested
    assert ab.tests["mae"].details.get("p_holm") is None or math.isnan(
        ab.tests["mae"].details["p_holm"])
    assert 0.0 <= ab.tests["rmse"].p_value <= 1.0  # the others corrected among themselves
    assert drift.labelled_count == 2000 and not drift.insufficient
    assert drift.error_rate_after > 1e190 > drift.error_rate_before  # mean |e| of each side
    assert 0.0 <= drift.p_value <= 1.0


def test_the_monitoring_job_runs_for_the_model(ws) -> None:
    run = run_job(ws, "performance-monitoring", now=END, window="2h")
    assert run.status == "ok" and run.failed == 0, run.to_dict()  # before: partial, rg failed
    assert [item["status"] for item in run.items] == ["changed"]


def test_a_score_of_1e200_gives_an_infinite_spread_and_the_job_runs(tmp_path) -> None:
    rng = np.random.default_rng(1)
    scores = rng.random(2000)
    scores[3] = 1e200
    with mlmkit.open(tmp_path / "an.duckdb") as ws:
        ws.registry.register(ModelMetadata("an", "unsupervised", "1.0.0", task="score-only"))
        ws.registry.deploy("an", "1.0.0")
        ws.log.track_batch(pl.DataFrame({
            "model_name": "an", "version": "1.0.0", "score": scores, "prediction": scores > 0.9,
            "timestamp": [END - timedelta(seconds=int(s)) for s in rng.integers(1, 7000, 2000)]}))
        d = ws.monitor.get_current_metrics("an", "1.0.0", **W).to_dict()
        trend = ws.monitor.get_performance_trend("an", "1.0.0", None, "30m", **W)
        run = run_job(ws, "performance-monitoring", now=END, window="2h")
    assert d["score_std"] == math.inf and d["score_mean"] == pytest.approx(1e200 / 2000)
    assert trend["std_score"].is_infinite().sum() == 1
    assert run.status == "ok" and run.failed == 0, run.to_dict()
