"""The monitor's edges (issue 12.12, 12.15): unknown models and versions are refused, a verdict
it cannot make says so, and ROC AUC is exact where that is cheap."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

import mlmkit
from mlmkit.exceptions import NotFoundError
from mlmkit.services.jobs import run_job
from mlmkit.services.monitor import window as monitor_window

END = datetime(2026, 3, 8, tzinfo=UTC)
START = END - timedelta(days=7)
SPAN = {"start": START, "end": END}


def _register(ws, name, version="1.0.0", **kwargs):
    ws.registry.register(mlmkit.ModelMetadata(name, mlmkit.ModelType.SUPERVISED, version,
                                              **kwargs))


def _log(ws, name, version, y, score, rng, *, with_score=True):
    n = y.size
    ts = [START + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, 7 * 86400, n))]
    frame = pl.DataFrame({"model_name": name, "version": version, "prediction": score >= 0.5,
                          "actual": y.astype(bool), "timestamp": ts})
    if with_score:
        frame = frame.with_columns(pl.Series("score", score))
    ws.log.track_batch(frame)
    return frame


def _breast_cancer_test_scores():
    """171 held-out rows (a 70/30 split) scored by Gaussian naive Bayes: the issue's case.

    Its probabilities saturate, so positives and negatives with different scores share the top
    and bottom 1e-4 histogram bins (the 10,000-bin AUC was 0.023 off here).
    """
    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0)
    return y_te, GaussianNB().fit(x_tr, y_tr).predict_proba(x_te)[:, 1]


@pytest.fixture
def ws(tmp_path):
    rng = np.random.default_rng(0)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        _register(ws, "m")
        y, s = _breast_cancer_test_scores()
        _log(ws, "m", "1.0.0", y, s, rng)
        ws.y, ws.s = y, s
        yield ws


# ----------------------------------------------------------------------------- 12.12 NotFound
CALLS = {
    "get_current_metrics": lambda mon, m, v: mon.get_current_metrics(m, v, **SPAN),
    "current_metrics": lambda mon, m, v: mon.current_metrics(m, v, **SPAN),
    "get_performance_degradation_info": lambda mon, m, v: mon.get_performance_degradation_info(
        m, v, **SPAN, baseline=0.9),
    "detect_concept_drift": lambda mon, m, v: mon.detect_concept_drift(m, v, **SPAN),
    "get_performance_trend": lambda mon, m, v: mon.get_performance_trend(m, v, **SPAN),
    "compare_versions": lambda mon, m, v: mon.compare_versions(m, ["1.0.0", v], **SPAN),
    "daily_summary": lambda mon, m, v: mon.daily_summary(m, v),
    "estimate_performance": lambda mon, m, v: mon.estimate_performance(m, v),
    "data_drift": lambda mon, m, v: mon.data_drift(m, v),
}


@pytest.mark.parametrize("method", sorted(CALLS))
def test_unknown_model_raises_not_found_naming_it(ws, method):
    with pytest.raises(NotFoundError, match="model_name='unknown-model' is not registered"):
        CALLS[method](ws.monitor, "unknown-model", "1.0.0")


@pytest.mark.parametrize("method", sorted(CALLS))
def test_unregistered_version_raises_not_found_naming_it(ws, method):
    with pytest.raises(NotFoundError, match=re.escape("model_name='m' version='9.9.9'")):
        CALLS[method](ws.monitor, "m", "9.9.9")


def test_unknown_model_without_version_raises_not_found(ws):
    with pytest.raises(NotFoundError, match="'unknown-model'"):
        ws.monitor.summarize_daily("unknown-model")
    with pytest.raises(NotFoundError, match="'unknown-model'"):
        ws.monitor.get_performance_trend("unknown-model", None, **SPAN)
    with pytest.raises(NotFoundError, match="'unknown-model'"):
        ws.monitor.data_drift("unknown-model")


def test_registered_version_without_rows_is_an_empty_result(ws):
    _register(ws, "m", "2.0.0")
    empty = ws.monitor.get_current_metrics("m", "2.0.0", **SPAN)
    assert empty.sample_count == 0 and empty.insufficient


# ----------------------------------------------------------------------------- 12.12 severity
def test_degradation_on_too_few_labels_is_insufficient_not_ok(ws):
    info = ws.monitor.get_performance_degradation_info("m", "1.0.0", **SPAN, baseline=0.99,
                                                       min_labels=1000)
    assert info.severity == "insufficient" and info.insufficient
    assert not info.has_degraded and not info
    assert ws.alerts.list().height == 0


def test_degradation_without_a_current_value_is_insufficient(tmp_path):
    """A registered ROC AUC baseline, but the window's rows carry no score: no verdict."""
    rng = np.random.default_rng(1)
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        _register(ws, "ns", performance_metrics={"roc_auc": 0.9})
        y = rng.random(500) < 0.4
        _log(ws, "ns", "1.0.0", y, np.where(y, 0.8, 0.2), rng, with_score=False)
        info = ws.monitor.get_performance_degradation_info("ns", "1.0.0", metric="roc_auc",
                                                           **SPAN)
        assert math.isnan(info.current_value)
        assert info.severity == "insufficient" and info.insufficient and not info.has_degraded


def test_degradation_check_job_skips_what_it_cannot_judge(tmp_path):
    rng = np.random.default_rng(2)
    with mlmkit.open(tmp_path / "j.duckdb") as ws:
        _register(ws, "few", performance_metrics={"accuracy": 0.99})
        ws.registry.deploy("few", "1.0.0", "production")
        y = rng.random(40) < 0.5
        _log(ws, "few", "1.0.0", y, np.where(rng.random(40) < 0.5, 0.9, 0.1), rng)
        run = run_job(ws, "degradation-check", now=END, window="7d")
        item = run.items[0]
        assert item["severity"] == "insufficient" and item["insufficient"]
        assert item["status"] == "skipped" and run.changed == 0
        assert ws.alerts.list().height == 0


# ----------------------------------------------------------------------------- 12.15 ROC AUC
def test_roc_auc_is_exact_on_171_rows(ws):
    m = ws.monitor.get_current_metrics("m", "1.0.0", **SPAN)
    assert m.labelled_count == 171
    assert m.roc_auc == pytest.approx(roc_auc_score(ws.y, ws.s), abs=1e-12, rel=0)
    assert m.roc_auc_method == "exact" and m["roc_auc_method"] == "exact"
    assert m.roc_auc_error_bound == 0.0 and m["roc_auc_error_bound"] == 0.0


def test_roc_auc_exact_with_ties_on_many_rows_and_in_compare_versions(tmp_path):
    rng = np.random.default_rng(3)
    with mlmkit.open(tmp_path / "big.duckdb") as ws:
        for version, shift in (("1.0.0", 0.2), ("1.1.0", 0.3)):
            _register(ws, "big", version)
            y = rng.random(200_000) < 0.3
            score = np.round(np.clip(rng.beta(2, 5, y.size) + shift * y, 0, 1), 3)  # ties
            _log(ws, "big", version, y, score, rng)
            m = ws.monitor.get_current_metrics("big", version, **SPAN, ci=False)
            assert m.roc_auc_method == "exact"
            assert m.roc_auc == pytest.approx(roc_auc_score(y, score), abs=1e-12, rel=0)
        table = ws.monitor.compare_versions("big", ["1.0.0", "1.1.0"], **SPAN)
        for row in table.iter_rows(named=True):
            frame = ws.log.predictions("big", row["version"])
            expected = roc_auc_score(frame["actual"].to_numpy(), frame["score"].to_numpy())
            assert row["roc_auc"] == pytest.approx(expected, abs=1e-12, rel=0)


def test_roc_auc_beyond_the_exact_limit_is_a_histogram_with_its_bound(ws, monkeypatch):
    monkeypatch.setattr(monitor_window, "EXACT_AUC_MAX_ROWS", 100)
    m = ws.monitor.get_current_metrics("m", "1.0.0", **SPAN, bins=100)
    assert m.roc_auc_method == "histogram"
    assert 0 < m.roc_auc_error_bound < 0.5
    assert abs(m.roc_auc - roc_auc_score(ws.y, ws.s)) <= m.roc_auc_error_bound + 1e-12


def test_no_scores_means_no_roc_auc_method(ws):
    m = ws.monitor.get_current_metrics("m", "1.0.0", **SPAN, scores=False)
    assert m.roc_auc is None and m.roc_auc_method is None and "roc_auc_method" not in m
