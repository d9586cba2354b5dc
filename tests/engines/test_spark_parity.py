"""The Spark engine (local mode) against the workspace engine on the same exported dataset.

Every aggregate of the seam (the calls of ``test_parity``: counts exactly equal, floats to
1e-12) and every service result of ``test_services``. One SparkSession per test run (the
``spark_session`` fixture); skipped only when pyspark is not installed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.exceptions import ValidationError
from mlmkit.store.database import Database
from mlmkit.store.engines import StatisticsEngine, WorkspaceEngine
from mlmkit.store.engines.dataset import export_dataset
from mlmkit.values import TimeRange

from . import test_parity as parity
from . import test_services as services
from .conftest import END, START, _rows


@pytest.fixture(scope="module")
def spark_engine(dataset: tuple[Path, Path], spark_session: Any) -> Iterator[Any]:
    from mlmkit.store.engines.spark import SparkEngine

    with SparkEngine(dataset[1], spark=spark_session) as engine:
        yield engine


@pytest.fixture(scope="module")
def workspace_engine(dataset: tuple[Path, Path]) -> Iterator[WorkspaceEngine]:
    db = Database(dataset[0], read_only=True)
    yield WorkspaceEngine(db)
    db.close()


@pytest.mark.parametrize("name", sorted(parity.CALLS))
def test_aggregate_matches_the_workspace(workspace_engine: WorkspaceEngine, spark_engine: Any,
                                         name: str) -> None:
    call = parity.CALLS[name]
    parity._same(call(workspace_engine), call(spark_engine))


def test_spark_engine_satisfies_the_protocol(spark_engine: Any) -> None:
    assert isinstance(spark_engine, StatisticsEngine)
    assert spark_engine.name == "spark"


@pytest.mark.parametrize("name", sorted(services.RUNS))
def test_service_result_matches_the_workspace(dataset: tuple[Path, Path], spark_engine: Any,
                                              name: str) -> None:
    db, _ = dataset
    with mlmkit.open(db) as ws:
        expected = services.RUNS[name](ws)
    with mlmkit.open(db, engine=spark_engine) as ws:
        assert ws.monitor.engine is spark_engine and ws.tuning.engine is spark_engine
        services._same(expected, services.RUNS[name](ws))


def test_results_do_not_depend_on_the_session_time_zone(
        workspace_engine: WorkspaceEngine, spark_engine: Any, spark_session: Any) -> None:
    spark_session.conf.set("spark.sql.session.timeZone", "Asia/Kolkata")
    try:
        for name in ("window_summary", "daily_rows", "confusion_counts_buckets"):
            call = parity.CALLS[name]
            parity._same(call(workspace_engine), call(spark_engine))
    finally:
        spark_session.conf.set("spark.sql.session.timeZone", "UTC")


def test_refresh_reads_an_incremental_export(tmp_path: Path, spark_session: Any) -> None:
    from mlmkit.store.engines.spark import SparkEngine

    rng = np.random.default_rng(3)
    first = _rows(rng, "m", "1.0.0", 500, 0.0)
    first = first.filter(pl.col("timestamp") < START + timedelta(days=4))
    later = _rows(rng, "m", "1.0.0", 500, 0.1)  # late rows in old days and new days
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("m", "supervised", "1.0.0"))
        ws.log.track_batch(first)
        export_dataset(ws.db, tmp_path / "ds")
        engine = SparkEngine(tmp_path / "ds", spark=spark_session)
        assert engine.window_counts("m", latency=False)["n"].to_list() == [first.height]
        ws.log.track_batch(later.with_columns(pl.col("prediction_id") + "-late"))
        assert export_dataset(ws.db, tmp_path / "ds")["days"] == 8
        engine.refresh()
        expected = WorkspaceEngine(ws.db).window_summary("m", bins=100)
        parity._same(expected, engine.window_summary("m", bins=100))
        engine.close()
    assert spark_session.sparkContext._jsc is not None  # a passed-in session is not stopped
    assert spark_session.range(1).count() == 1


def test_unknown_model_gives_empty_frames(spark_engine: Any,
                                          workspace_engine: WorkspaceEngine) -> None:
    for engine in (workspace_engine, spark_engine):
        assert engine.confusion_counts("nobody").height == 0
        assert not engine.has_shadow_rows("nobody", ["1"], None)
    parity._same(workspace_engine.window_summary("nobody", bins=10),
                 spark_engine.window_summary("nobody", bins=10))


def test_a_directory_without_a_manifest_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    from mlmkit.store.engines.spark import SparkEngine

    with pytest.raises(ValidationError, match="path"):
        SparkEngine(tmp_path)


def test_missing_pyspark_names_the_extra(dataset: tuple[Path, Path]) -> None:
    code = ("import sys; sys.modules['pyspark'] = None\n"
            "from mlmkit.store.engines import SparkEngine\n"
            "from mlmkit.exceptions import DependencyError\n"
            f"try:\n    SparkEngine({str(dataset[1])!r})\n"
            "except DependencyError as err:\n    print(err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "pip install 'mlmkit[spark]'" in out.stdout


@pytest.mark.parametrize("band", [0.001, -0.2])  # -0.2: the band misses the median ranks
def test_median_latency_is_exact_from_the_band_or_the_fallback(
        workspace_engine: WorkspaceEngine, spark_engine: Any, band: float,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mlmkit.store.engines import spark

    monkeypatch.setattr(spark, "_BAND", band)
    for name in ("window_summary", "window_counts"):
        call = parity.CALLS[name]
        parity._same(call(workspace_engine), call(spark_engine))


ODD = ("it's", "two words", "größe \\ ok")  # a quote, a space, non-ASCII and a backslash


@pytest.fixture(scope="module")
def odd_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model whose numeric features have names a SQL literal must escape."""
    root = tmp_path_factory.mktemp("odd")
    rng = np.random.default_rng(11)
    rows = _rows(rng, "odd", "1.0.0", 3000, 0.0).drop("amount", "age")
    rows = rows.with_columns(*[pl.Series(name, rng.normal(i, 1, rows.height))
                               for i, name in enumerate(ODD)])
    with mlmkit.open(root / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("odd", "supervised", "1.0.0"))
        ws.log.track_batch(rows)
        export_dataset(ws.db, root / "ds")
    return root / "ws.duckdb", root / "ds"


def test_feature_names_with_quotes_spaces_and_unicode(odd_dataset: tuple[Path, Path],
                                                      spark_session: Any) -> None:
    from mlmkit.store.engines.parquet import ParquetEngine
    from mlmkit.store.engines.spark import SparkEngine

    db_path, root = odd_dataset
    ranges = {name: (-4.0, 6.0) for name in ODD}  # dataset column names (the features')
    with SparkEngine(root, spark=spark_session) as spark, ParquetEngine(root) as duck:
        storage = {f["dataset_column"]: f["column"]
                   for f in spark.manifest["models"]["odd"]["features"].values()}
        db = Database(db_path, read_only=True)
        expected = WorkspaceEngine(db).numeric_histograms(
            "odd", {storage[c]: r for c, r in ranges.items()}, parity.REF, parity.CUR, bins=40)
        db.close()
        assert sum(h.sum() for h in expected.values()) > 0
        for engine in (duck, spark):  # by dataset column name and by storage name
            got = engine.numeric_histograms("odd", ranges, parity.REF, parity.CUR, bins=40)
            parity._same(expected, {storage[c]: h for c, h in got.items()})
            parity._same(expected, engine.numeric_histograms(
                "odd", {storage[c]: r for c, r in ranges.items()}, parity.REF, parity.CUR,
                bins=40))
        with mlmkit.open(db_path) as ws:
            want = ws.monitor.data_drift("odd", reference=(parity.REF.time_range.start,
                                                           parity.REF.time_range.end),
                                         current=(parity.CUR.time_range.start,
                                                  parity.CUR.time_range.end))
        with mlmkit.open(db_path, engine=spark) as ws:
            services._same(want, ws.monitor.data_drift(
                "odd", reference=(parity.REF.time_range.start, parity.REF.time_range.end),
                current=(parity.CUR.time_range.start, parity.CUR.time_range.end)))


def test_segment_drift_with_quotes_spaces_and_unicode_in_feature_names(
        odd_dataset: tuple[Path, Path], spark_session: Any) -> None:
    """The segment histograms name their columns by parameter (Spark escapes literals)."""
    from mlmkit.store.engines.spark import SparkEngine

    db_path, root = odd_dataset
    db = Database(db_path, read_only=True)
    with SparkEngine(root, spark=spark_session) as spark:
        storage = {f["dataset_column"]: f["column"]
                   for f in spark.manifest["models"]["odd"]["features"].values()}
        for name in ODD:  # by dataset column name (as numeric_histograms takes them)
            expected = WorkspaceEngine(db).segment_drift_counts(
                "odd", spark.resolve_segment("odd", "country"), {storage[name]: (-4.0, 6.0)},
                [], parity.REF, parity.CUR, bins=40)[0]
            got = spark.segment_drift_counts(
                "odd", spark.resolve_segment("odd", "country"), {name: (-4.0, 6.0)}, [],
                parity.REF, parity.CUR, bins=40)[0].with_columns(pl.col("col").replace(storage))
            assert expected["n"].sum() > 2000 and got["bin"].null_count() == 0
            services._same(expected.sort(expected.columns),
                           got.cast(expected.schema).sort(expected.columns))
    db.close()


# 7 statements (numeric and categorical drift statistics are two), 2 Spark jobs each with
# adaptive execution (+ 1 filling the cache with ``persist=True``); 26 without `cached`
MAX_SUMMARY_JOBS = 15


def _summary(ws: Any) -> list[Any]:
    """One model's monitoring summary (as benchmarks/bench_spark.py): 2 versions' metrics,
    their comparison, the daily trend, data drift."""
    w, half = {"start": START, "end": END}, START + timedelta(days=4)
    return [*(ws.monitor.get_current_metrics("churn", v, **w).to_dict()
              for v in ("1.0.0", "1.1.0")),
            ws.monitor.compare_versions("churn", ["1.0.0", "1.1.0"], **w),
            ws.monitor.get_performance_trend("churn", None, interval="1d", **w),
            ws.monitor.data_drift("churn", reference=(START, half), current=(half, END))]


def test_a_cached_summary_is_exact_and_takes_few_spark_jobs(
        dataset: tuple[Path, Path], spark_engine: Any, spark_session: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mlmkit.services.monitor import window

    monkeypatch.setattr(window, "EXACT_AUC_MAX_ROWS", 0)  # ROC AUC from histograms, as at scale
    db, _ = dataset
    with mlmkit.open(db) as ws:
        expected = _summary(ws)
    sc = spark_session.sparkContext
    jobs = {}
    with mlmkit.open(db, engine=spark_engine) as ws:
        for group in ("plain", "cached"):
            sc.setJobGroup(f"mlmkit-summary-{group}", "one monitoring summary")
            try:
                if group == "cached":
                    with spark_engine.cached("churn", TimeRange(START, END)):
                        got = _summary(ws)
                        scope = spark_engine._scope
                else:
                    got = _summary(ws)
            finally:
                sc.setLocalProperty("spark.jobGroup.id", None)
            services._same(expected, got)
            jobs[group] = len(sc.statusTracker().getJobIdsForGroup(f"mlmkit-summary-{group}"))
    assert jobs["cached"] <= MAX_SUMMARY_JOBS < jobs["plain"], jobs
    assert spark_engine._scope is None and not scope.frame.storageLevel.useMemory  # unpersisted
    assert not spark_session.catalog.tableExists(scope.view)
