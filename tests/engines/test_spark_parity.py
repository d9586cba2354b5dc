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

from . import test_parity as parity
from . import test_services as services
from .conftest import START, _rows


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
