"""Finite values at the ends of the float range (±1e154 .. ±1.8e308) through writes and reads.

A hostile sweep found the class: values every write accepts (finite floats) that took a read
down. The sum of squares of actuals of 1e200 raised OverflowError in R² (``x**2`` of a float
raises where ``x * x`` is inf), so the window, the monitoring and degradation jobs and the whole
Prometheus export failed for every model; a window whose values spanned ±1.7e308 made its
histogram width ``inf``, written into the SQL as a column name (a DuckDB binder error) in the
task, drift and segment histograms; ``math.fsum`` raised OverflowError on a regression batch
whose errors summed past the largest float (the batch was refused with that raw error); the
ADWIN detector and the merge of per-part feature statistics squared floats the same way; a
constant window of 1e20 had 10,001 equal histogram edges. Now every one answers: infinite or
NaN statistics with a warning, never an exception, and the bins are finite and increasing for
any range (`mlmkit._bins`).
"""

from __future__ import annotations

import math
import sys
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlmkit
from mlmkit import ModelMetadata
from mlmkit._bins import LIMIT, bin_edges, bin_spec
from mlmkit.analysis.detectors import ADWIN
from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.ops.prometheus import generate_metrics
from mlmkit.services.jobs.runner import run_job

END = datetime(2026, 5, 1, 12, tzinfo=UTC)
W = {"start": END - timedelta(hours=2), "end": END}


def _stamps(n: int, rng: np.random.Generator) -> list[datetime]:
    return [END - timedelta(seconds=int(s)) for s in rng.integers(1, 7000, n)]


@given(st.floats(allow_nan=False), st.floats(allow_nan=False), st.integers(1, 20_000))
def test_bins_are_finite_and_increasing_for_any_range(a: float, b: float, bins: int) -> None:
    lo, hi = min(a, b), max(a, b)
    start, width = bin_spec(lo, hi, bins)
    assert math.isfinite(start) and math.isfinite(width) and width > 0
    assert abs(start) <= LIMIT
    edges = bin_edges(lo, hi, bins)
    with np.errstate(over="ignore"):  # (the gap of -1.8e308 and 1.8e308 is inf: still > 0)
        rising = (np.diff(edges) > 0).all()
    assert edges.size == bins + 1 and np.isfinite(edges).all() and rising
    top = sys.float_info.max
    assert edges[0] <= max(lo, -top) and edges[-1] >= min(hi, top)
    if -LIMIT <= lo < hi <= LIMIT and math.isfinite(hi - lo) and (hi - lo) / bins > 4 * \
            math.ulp(max(abs(lo), abs(hi))):
        assert (start, width) == (lo, (hi - lo) / bins)  # the arithmetic it always had


def test_actuals_of_1e200_give_r2_nan_and_the_jobs_and_the_exporter_run(tmp_path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "w.duckdb"
    end = datetime.now(UTC)  # (the exporter reads the last hours of the wall clock)
    stamps = [end - timedelta(seconds=int(s)) for s in rng.integers(1, 3000, 500)]
    with mlmkit.open(path) as ws:
        for name in ("big", "ok"):
            ws.registry.register(ModelMetadata(name, "supervised", "1.0.0", task="regression"))
            ws.registry.deploy(name, "1.0.0")
        y = rng.normal(10, 2, 500)
        ws.log.track_batch(pl.DataFrame({"model_name": "ok", "version": "1.0.0",
                                         "prediction": y + rng.normal(0, 1, 500), "actual": y,
                                         "timestamp": stamps}))
        big = y * 1e199  # a perfect model of huge targets: Σy² overflows
        ws.log.track_batch(pl.DataFrame({"model_name": "big", "version": "1.0.0",
                                         "prediction": big, "actual": big,
                                         "timestamp": stamps}))
        with pytest.warns(UndefinedMetricWarning, match="overflows"):
            m = ws.monitor.get_current_metrics("big", "1.0.0", window="2h")
        assert math.isnan(m.r2) and m.mae == 0.0 and m.rmse == 0.0
        runs = [run_job(ws, job, now=end, window="2h")
                for job in ("performance-monitoring", "degradation-check")]
    for run in runs:  # before: partial, the model's item "OverflowError: (34, ...)"
        assert run.status == "ok" and run.failed == 0, run.to_dict()
    text = generate_metrics(path, window="2h").decode()  # before: OverflowError, no export
    assert 'metric="r2",model="ok"' in text and 'metric="mae",model="big"' in text


@pytest.mark.parametrize("task", ["regression", "score-only"])
def test_a_window_spanning_the_float_range_answers(tmp_path, task: str) -> None:
    rng = np.random.default_rng(3)
    n = 300
    values = rng.normal(0, 1, n)
    values[:2] = [1.7e308, -1.7e308]
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        kind = "supervised" if task == "regression" else "unsupervised"
        ws.registry.register(ModelMetadata("m", kind, "1.0.0", task=task))
        cols = {"prediction": values, "actual": np.zeros(n)} if task == "regression" else \
            {"score": values}
        ws.log.track_batch(pl.DataFrame({"model_name": "m", "version": "1.0.0", **cols,
                                         "seg": ["a", "b"] * (n // 2),
                                         "timestamp": _stamps(n, rng)}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = ws.monitor.get_current_metrics("m", "1.0.0", **W, min_labels=1).to_dict()
            seg = ws.monitor.get_current_metrics("m", "1.0.0", **W, min_labels=1,
                                                 segment="seg")
    prefix = "residual" if task == "regression" else "score"
    qs = [d[f"{prefix}_q{p}"] for p in (5, 25, 50, 75, 95)]
    assert all(math.isfinite(q) for q in qs) and qs == sorted(qs)
    exact = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    assert abs(qs[2] - exact[2]) < 1e300  # honest, coarse: the range is 3.4e308 wide
    assert seg.height == 2 and seg["sample_count"].sum() == n


def test_a_regression_batch_whose_errors_overflow_is_stored(tmp_path) -> None:
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        ws.registry.register(ModelMetadata("d", "supervised", "1.0.0", task="regression"))
        written = ws.log.track_batch(pl.DataFrame({  # before: OverflowError in math.fsum
            "model_name": "d", "version": "1.0.0", "prediction": [1e308, 1e308, 1.0],
            "actual": [-1e308, -1e308, 2.0]}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = ws.monitor.get_current_metrics("d", "1.0.0", window="24h",
                                               min_labels=1).to_dict()
    assert written == 3 and d["labelled_count"] == 3 and d["mae"] == math.inf


def test_a_constant_window_of_huge_scores_has_increasing_bins(tmp_path) -> None:
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        ws.registry.register(ModelMetadata("s", "unsupervised", "1.0.0", task="score-only"))
        ws.log.track_batch(pl.DataFrame({"model_name": "s", "version": "1.0.0",
                                         "score": [1e20] * 50}))
        d = ws.monitor.get_current_metrics("s", "1.0.0", window="24h").to_dict()
    assert d["score_mean"] == 1e20 and d["score_q50"] == pytest.approx(1e20, rel=1e-12)


def test_data_drift_of_a_feature_spanning_the_float_range(tmp_path) -> None:
    rng = np.random.default_rng(4)
    n = 20_000
    x = rng.normal(0, 1, n)
    x[[0, 1, 15_000, 15_001]] = [1.7e308, -1.7e308, 1.7e308, -1.7e308]
    stamps = [END - timedelta(hours=2) + timedelta(seconds=i * 0.3) for i in range(n)]
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        ws.registry.register(ModelMetadata("m", "supervised", "1.0.0"))
        ws.log.track_batch(pl.DataFrame({
            "model_name": "m", "version": "1.0.0", "prediction": rng.random(n) > 0.5,
            "score": rng.random(n), "x": x, "seg": ["a", "b"] * (n // 2),
            "timestamp": stamps}))
        mid = stamps[n // 2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flat = ws.monitor.data_drift("m", "1.0.0", reference=(stamps[0], mid),
                                         current=(mid, END))  # before: DuckDB binder error
            by = ws.monitor.data_drift("m", "1.0.0", reference=(stamps[0], mid),
                                       current=(mid, END), segment="seg")
    assert "x" in flat["feature"].to_list() and by.filter(pl.col("feature") == "x").height == 2


def test_adwin_takes_huge_values() -> None:
    detector = ADWIN()
    for x in [1.0, 1e200, -1e200, 1e300] * 50:  # before: OverflowError when squaring
        detector.update(x)
    assert detector.width > 0
