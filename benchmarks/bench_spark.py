"""The Spark engine (local mode) on an exported Parquet dataset (issue 18).

Targets, at 2e7 rows (x scale), the dataset of ``bench_engines.make_dataset``:

* the Spark engine within 1.5x of bare Spark SQL for the same aggregates (confusion counts
  per version + the labelled 10,000-bin score histogram; the bare SQL reads the dataset
  directory as one hive-partitioned view, registered outside the timing);
* the full monitoring summary of one model (current metrics with intervals and ROC AUC of
  both versions, version comparison, daily trend, data drift of the feature) on Spark local
  mode <= 4x the same on DuckDB (the Parquet engine, in-process), the SparkSession already
  started (its start-up is reported on its own row). Two Spark rows: inside
  ``SparkEngine.cached`` (window aggregates shared by the calls, rows read from the files:
  ``persist=False``, the default; best of 2 after a warm-up) and as plain calls (one run);
  each gives the Spark jobs the summary ran and the load average.

Usage: ``python -m benchmarks.bench_spark [scale] [dataset dir]`` (the directory keeps the
generated dataset for the next run, as ``bench_engines``; or ``python -m benchmarks.run
--only spark``). Needs ``pip install 'mlmkit[spark]'`` and Java 17+; without pyspark it
returns one row saying so. These are the only Spark figures (``bench_engines`` has none).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import mlmkit
from benchmarks._common import best_seconds
from benchmarks.bench_engines import DAYS, T0, make_dataset
from mlmkit.store.engines.dataset import MANIFEST
from mlmkit.store.engines.parquet import ParquetEngine
from mlmkit.store.predictions.aggregates import COUNT_COLUMNS
from mlmkit.values import TimeRange


def _bare_sql(start: str, end: str) -> list[str]:
    """The two aggregates as plain Spark SQL over the view ``ds`` (literal bounds)."""
    where = (f"model_name = 'm' AND ts >= TIMESTAMP '{start}' AND ts < TIMESTAMP '{end}' "
             "AND role = 'served'")
    return [f"SELECT version, {COUNT_COLUMNS} FROM ds WHERE {where} GROUP BY version",
            "SELECT version, CAST(least(floor(score * 10000), 9999) AS BIGINT) AS bin, "
            "count(*) FILTER (WHERE actual) AS pos, count(*) FILTER (WHERE NOT actual) AS neg, "
            f"count(*) AS n FROM ds WHERE {where} AND score IS NOT NULL AND actual IS NOT NULL "
            "GROUP BY 1, 2"]


def _workspace(path: Path) -> None:
    """A workspace registering model ``m`` (two versions, feature ``x``); rows stay in Parquet."""
    with mlmkit.open(path) as ws:
        for version in ("1.0.0", "1.1.0"):
            ws.registry.register(mlmkit.ModelMetadata("m", "supervised", version))
        ws.log.track_batch(pl.DataFrame({
            "model_name": "m", "version": "1.0.0", "prediction": [True, False],
            "score": [0.9, 0.1], "timestamp": [T0 - timedelta(days=400)] * 2,
            "x": np.array([0.5, 0.7])}))


def _summary(ws: Any, span: TimeRange) -> None:
    """One model's monitoring summary through the services."""
    half = span.start + (span.end - span.start) / 2
    w = {"start": span.start, "end": span.end}
    for version in ("1.0.0", "1.1.0"):
        ws.monitor.get_current_metrics("m", version, **w)
    ws.monitor.compare_versions("m", ["1.0.0", "1.1.0"], **w)
    ws.monitor.get_performance_trend("m", None, interval="1d", **w)
    ws.monitor.data_drift("m", reference=(span.start, half), current=(half, span.end))


def _load() -> list[float]:
    return [round(x, 1) for x in os.getloadavg()]


def _jobs(spark: Any, fn: Callable[[], object], group: str) -> tuple[float, int]:
    """Wall seconds of ``fn()`` and the Spark jobs it ran (status tracker, by job group)."""
    sc = spark.sparkContext
    sc.setJobGroup(group, group)
    try:
        began = time.perf_counter()
        fn()
        return time.perf_counter() - began, len(sc.statusTracker().getJobIdsForGroup(group))
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)


def run(scale: float = 1.0, keep: str | None = None) -> list[dict[str, object]]:
    """The benchmark rows; ``keep``: a directory to build the dataset in once and reuse."""
    try:
        from mlmkit.store.engines.spark import SparkEngine, local_session

        __import__("pyspark")
    except ImportError:
        return [{"benchmark": "spark engine (skipped: pip install 'mlmkit[spark]')"}]
    rows = int(2e7 * scale)
    span = TimeRange(T0, T0 + timedelta(days=DAYS))
    out: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(keep) if keep else Path(tmp) / "dataset"
        if not (root / MANIFEST).exists():
            make_dataset(root, rows)
        db = Path(tmp) / "ws.duckdb"
        _workspace(db)
        began = time.perf_counter()
        spark = local_session(master="local[*]", shuffle_partitions=os.cpu_count() or 2,
                              config={"spark.driver.memory": "4g"})
        spark.range(1).count()
        out.append({"benchmark": "SparkSession start (local, first job included)",
                    "mlmkit_s": round(time.perf_counter() - began, 2), "load": _load()})
        spark.read.option("basePath", str(root)).parquet(str(root / "model_name=*")) \
            .createOrReplaceTempView("ds")
        bare = _bare_sql(span.start.strftime("%Y-%m-%d %H:%M:%S+00:00"),
                         span.end.strftime("%Y-%m-%d %H:%M:%S+00:00"))
        with SparkEngine(root, spark=spark) as engine:
            def calls() -> None:
                engine.confusion_counts("m", time_range=span)
                engine.score_histogram("m", time_range=span)

            calls()  # JIT warm-up for both sides
            t_bare = best_seconds(lambda: [spark.sql(q).toArrow() for q in bare])
            t_engine = best_seconds(calls)
            out.append({"benchmark": "spark engine / bare Spark SQL", "rows": rows,
                        "mlmkit_s": round(t_engine, 3), "baseline": "bare Spark SQL",
                        "baseline_s": round(t_bare, 3), "ratio": round(t_engine / t_bare, 2),
                        "target": "<= 1.5", "ok": t_engine / t_bare <= 1.5, "load": _load()})
            with mlmkit.open(db, engine=engine, read_only=True) as ws:
                def cached() -> None:
                    with engine.cached("m", span):
                        _summary(ws, span)

                cached()  # warm-up
                t_plain, jobs_plain = _jobs(spark, lambda: _summary(ws, span), "plain")
                load_plain = _load()
                t_spark, jobs = min(_jobs(spark, cached, f"cached-{i}") for i in range(2))
        with ParquetEngine(root) as duck, mlmkit.open(db, engine=duck, read_only=True) as ws:
            _summary(ws, span)
            t_duck = best_seconds(lambda: _summary(ws, span), repeats=3)
        for name, t, n, load in (("engine.cached", t_spark, jobs, _load()),
                                 ("plain calls", t_plain, jobs_plain, load_plain)):
            out.append({"benchmark": f"monitoring summary: spark local ({name}) / DuckDB "
                        "(parquet)", "rows": rows, "mlmkit_s": round(t, 3),
                        "baseline": "parquet engine", "baseline_s": round(t_duck, 3),
                        "ratio": round(t / t_duck, 2), "target": "<= 4", "ok": t / t_duck <= 4,
                        "spark_jobs": n, "load": load})
        spark.stop()
    return out


if __name__ == "__main__":
    for result in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0,
                      sys.argv[2] if len(sys.argv) > 2 else None):
        print(result, flush=True)
