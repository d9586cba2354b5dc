"""The per-task and segment aggregates on Spark (local mode) against the workspace engine.

Every call of ``test_task_parity`` and ``test_segment_parity`` plus the regression row read,
the error streams, the CBPE probability sums and the per-task aggregates grouped by a segment:
counts exactly equal, floats to 1e-12, on a dataset with one model per task (features: a
categorical ``country`` with missing values, a numeric ``amount``) exported with
`export_dataset`. Service level: get_current_metrics, segment_metrics, run_test,
segment_test, trend, comparison, concept drift and the CBPE estimate of each task give the
workspace's results. One SparkSession per test run (``spark_session``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.store.database import Database
from mlmkit.store.engines import TaskStatisticsEngine, WorkspaceEngine
from mlmkit.store.engines.dataset import export_dataset
from mlmkit.store.engines.segments import SegmentStatisticsEngine, SegmentTaskEngine

from . import test_segment_parity as segments
from . import test_services as services
from . import test_task_parity as tasks

START = tasks.START
SPAN = tasks.SPAN
N = 1500
CLASSES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def task_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A multiclass, a regression and a score-only model, 2 versions each, with features."""
    root = tmp_path_factory.mktemp("spark_tasks")
    rng = np.random.default_rng(5)
    ts = [START + timedelta(seconds=int(s)) for s in rng.integers(0, 4 * 86_400, N)]
    ids = [f"r{i}" for i in range(N)]
    country = rng.choice(["fr", "de", "us"], N).astype(object)
    country[rng.random(N) < 0.05] = None
    feats = {"country": country.tolist(), "amount": rng.normal(0, 1, N).round(3)}
    version = rng.choice(["1.0.0", "2.0.0"], N).tolist()
    labelled = ids[: N - 120]
    with mlmkit.open(root / "ws.duckdb") as ws:
        for v in ("1.0.0", "2.0.0"):
            for model, task in (("mc", "multiclass"), ("rg", "regression"),
                                ("an", "score-only")):
                ws.registry.register(ModelMetadata(model, "supervised", v, task=task))
        proba = rng.dirichlet(np.ones(4), N)
        proba[:60, 3] = 0.0  # some lists leave a class out
        proba[:60] /= proba[:60].sum(axis=1, keepdims=True)
        lists = [[{"label": c, "p": float(p)} for c, p in zip(CLASSES, row, strict=True)
                  if p > 0] for row in proba]
        pred = [CLASSES[int(i)] for i in proba.argmax(axis=1)]
        ws.log.track_batch(pl.DataFrame({"model_name": "mc", "version": version,
                                         "prediction": pred, "probabilities": lists,
                                         "prediction_id": ids, "timestamp": ts, **feats}))
        truth = [p if rng.random() < 0.6 else rng.choice(CLASSES) for p in pred]
        ws.log.record_actuals(labelled, truth[: len(labelled)], model_name="mc")
        y = rng.normal(10.0, 5.0, N).round(1)  # some exact zeros
        ws.log.track_batch(pl.DataFrame({"model_name": "rg", "version": version,
                                         "prediction": (y + rng.normal(0, 2, N)).tolist(),
                                         "prediction_id": [f"g{i}" for i in range(N)],
                                         "timestamp": ts, **feats}))
        ws.log.record_actuals([f"g{i}" for i in range(len(labelled))],
                              y[: len(labelled)].tolist(), model_name="rg")
        s = rng.normal(0.0, 3.0, N)
        ws.log.track_batch(pl.DataFrame({"model_name": "an", "version": version, "score": s,
                                         "prediction": s > 4.0, "timestamp": ts,
                                         "prediction_id": [f"s{i}" for i in range(N)],
                                         **feats}))
        ws.log.record_actuals([f"s{i}" for i in range(0, N, 3)],
                              (s[::3] > 3.5).tolist(), model_name="an")
        export_dataset(ws.db, root / "ds")
    return root / "ws.duckdb", root / "ds"


@pytest.fixture(scope="module")
def engines(task_dataset: tuple[Path, Path], spark_session: Any) -> Iterator[dict[str, Any]]:
    from mlmkit.store.engines.spark import SparkEngine

    db = Database(task_dataset[0], read_only=True)
    with SparkEngine(task_dataset[1], spark=spark_session) as spark:
        yield {"workspace": WorkspaceEngine(db), "spark": spark}
    db.close()


def _seg(e: Any, model: str, segment: Any) -> Any:
    return e.resolve_segment(model, segment)


CALLS: dict[str, Callable[[Any], pl.DataFrame]] = {
    **tasks.CALLS,
    "regression_pairs": lambda e: e.regression_pairs("rg", time_range=SPAN),
    "class_probability_sums": lambda e: e.class_probability_sums("mc", "1.0.0",
                                                                 time_range=SPAN),
    "error_stream_multiclass": lambda e: pl.DataFrame(dict(zip(("t", "e"), e.task_error_stream(
        "mc", "2.0.0", task="multiclass", time_range=SPAN), strict=True))),
    "error_stream_regression": lambda e: pl.DataFrame(dict(zip(("t", "e"), e.task_error_stream(
        "rg", "1.0.0", task="regression"), strict=True))),
    "class_confusion_segment": lambda e: e.class_confusion(
        "mc", time_range=SPAN, segment=_seg(e, "mc", "country")),
    "class_confusion_segment_buckets": lambda e: e.class_confusion(
        "mc", versions=["1.0.0"], interval=timedelta(days=1),
        segment=_seg(e, "mc", {"country": ["fr", None]})),
    "regression_sums_segment": lambda e: e.regression_sums(
        "rg", time_range=SPAN, segment=_seg(e, "rg", ["country", "amount"])),
    "score_totals_segment": lambda e: e.score_totals(
        "an", time_range=SPAN, interval=timedelta(hours=12), segment=_seg(e, "an", "country")),
    "segment_totals_multiclass_model": lambda e: e.segment_totals(
        "mc", _seg(e, "mc", "country"), time_range=SPAN),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_task_aggregate_matches_the_workspace(engines: dict[str, Any], call: str) -> None:
    expected = CALLS[call](engines["workspace"])
    assert expected.height > 0
    tasks._same(expected, CALLS[call](engines["spark"]))


def test_spark_engine_satisfies_the_task_and_segment_protocols(engines: dict[str, Any]
                                                               ) -> None:
    spark = engines["spark"]
    for protocol in (TaskStatisticsEngine, SegmentStatisticsEngine, SegmentTaskEngine):
        assert isinstance(spark, protocol)
    assert spark.dialect.name == "spark"
    seg = spark.resolve_segment("rg", ["country", "amount"])
    assert seg.columns == engines["workspace"].resolve_segment("rg", ["country", "amount"]
                                                                ).columns


@pytest.fixture(scope="module")
def binary_spark(dataset: tuple[Path, Path], spark_session: Any) -> Iterator[Any]:
    from mlmkit.store.engines.spark import SparkEngine

    with SparkEngine(dataset[1], spark=spark_session) as engine:
        yield engine


@pytest.mark.parametrize("call", sorted(segments.CALLS))
def test_segment_aggregate_matches_the_workspace(dataset: tuple[Path, Path], binary_spark: Any,
                                                 call: str) -> None:
    db = Database(dataset[0], read_only=True)
    try:
        expected = segments.CALLS[call](WorkspaceEngine(db))
    finally:
        db.close()
    assert expected.height > 0
    segments._same(expected, segments.CALLS[call](binary_spark))


W = {"start": START, "end": START + timedelta(days=4)}
SIDES = {"reference": (START, START + timedelta(days=2)),
         "current": (START + timedelta(days=2), START + timedelta(days=4))}


def _ab(model: str, metric: str) -> mlmkit.ABTestConfig:
    return mlmkit.ABTestConfig.create(model, "1.0.0", "2.0.0", primary_metric=metric)


RUNS: dict[str, Callable[[Any], Any]] = {
    **{f"metrics_{m}": (lambda ws, m=m: ws.monitor.get_current_metrics(m, "1.0.0", **W)
                        .to_dict()) for m in ("mc", "rg", "an")},
    **{f"segment_metrics_{m}": (lambda ws, m=m: ws.monitor.segment_metrics(
        m, "2.0.0", segment="country", **W)) for m in ("mc", "rg", "an")},
    "ab_multiclass_f1_macro": lambda ws: ws.ab.run_test(_ab("mc", "f1_macro"), n_resamples=200,
                                                        **W).to_dict(),
    "ab_regression_rmse": lambda ws: ws.ab.run_test(_ab("rg", "rmse"), n_resamples=200,
                                                    **W).to_dict(),
    "ab_score_flag_rate": lambda ws: ws.ab.run_test(_ab("an", "flag_rate"), **W).to_dict(),
    "segment_test_regression": lambda ws: ws.ab.segment_test(
        _ab("rg", "mae"), segment="country", min_samples=50, **W),
    "trend_multiclass": lambda ws: ws.monitor.get_performance_trend("mc", None,
                                                                    interval="1d", **W),
    "compare_regression": lambda ws: ws.monitor.compare_versions("rg", ["1.0.0", "2.0.0"],
                                                                 **W),
    "concept_regression": lambda ws: ws.monitor.detect_concept_drift("rg", "1.0.0",
                                                                     **W).to_dict(),
    "estimate_multiclass": lambda ws: ws.monitor.estimate_performance(
        "mc", "1.0.0", calibration="none", **SIDES).to_dict(),
    "estimate_regression": lambda ws: ws.monitor.estimate_performance(
        "rg", "2.0.0", **SIDES).to_dict(),
    "prediction_drift_multiclass": lambda ws: ws.monitor.data_drift("mc", "1.0.0", **SIDES),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_task_service_result_matches_the_workspace(task_dataset: tuple[Path, Path],
                                                   engines: dict[str, Any], name: str) -> None:
    db, _ = task_dataset
    with mlmkit.open(db) as ws:
        expected = RUNS[name](ws)
    with mlmkit.open(db, engine=engines["spark"]) as ws:
        assert ws.monitor.engine is engines["spark"] and ws.ab.engine is engines["spark"]
        services._same(_plain(expected), _plain(RUNS[name](ws)))


def _plain(value: Any) -> Any:
    """``value`` with polars Series as lists (a DLE estimate holds its feature importances)."""
    if isinstance(value, pl.Series):
        return value.to_list()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def test_binary_segment_metrics_and_segment_test_run_on_spark(
        dataset: tuple[Path, Path], binary_spark: Any) -> None:
    w = {"start": datetime(2026, 3, 2, tzinfo=UTC), "end": datetime(2026, 3, 9, tzinfo=UTC)}
    config = mlmkit.ABTestConfig.create("churn", "1.0.0", "1.1.0")

    def run(ws: Any) -> list[Any]:
        return [ws.monitor.segment_metrics("fraud", "1.0.0", segment="country", **w),
                ws.ab.segment_test(config, segment="country", **w)]

    with mlmkit.open(dataset[0]) as ws:
        expected = run(ws)
    with mlmkit.open(dataset[0], engine=binary_spark) as ws:
        services._same(expected, run(ws))
