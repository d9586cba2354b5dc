"""The Spark engine's window totals: one fast scan (latency buckets, no ``percentile_approx``)
for the totals and the band of the exact label-latency median, and `SparkEngine.cached`
reading the files unless asked to persist (measured: the cache did not pay in local mode).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from mlmkit.store.database import Database
from mlmkit.store.engines import WorkspaceEngine
from mlmkit.values import TimeRange

from . import test_parity as parity
from .conftest import END, START


@pytest.fixture(scope="module")
def spark_engine(dataset: tuple[Path, Path], spark_session: Any) -> Iterator[Any]:
    from mlmkit.store.engines.spark import SparkEngine

    with SparkEngine(dataset[1], spark=spark_session) as engine:
        yield engine


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 1001])
def test_the_bucket_band_holds_both_median_ranks(n: int) -> None:
    """`_split`: totals combined over the buckets, band from the buckets of the median ranks."""
    from mlmkit.store.engines.spark import _split

    values = np.sort(np.random.default_rng(n).integers(-10**9, 10**9, n))
    buckets = np.searchsorted(np.sort(values)[:: max(n // 9, 1)], values, side="right")
    rows = [{"version": "1.0.0", "lat_b": int(b), "lat_min": int(values[buckets == b].min()),
             "lat_max": int(values[buckets == b].max()), "lat_k": int((buckets == b).sum()),
             "n": int((buckets == b).sum()), "first_ts": int(b)} for b in np.unique(buckets)]
    rows.append({"version": "1.0.0", "lat_b": None, "lat_min": None, "lat_max": None,
                 "lat_k": 0, "n": 5, "first_ts": 99})  # unlabelled rows: no bucket
    totals, bands = _split(pl.DataFrame(rows))
    assert totals.rows() == [("1.0.0", n + 5, int(buckets.min()))]
    lo, hi = bands["1.0.0"]
    assert lo <= values[(n - 1) // 2] <= values[n // 2] <= hi


@pytest.fixture(scope="module")
def workspace_engine(dataset: tuple[Path, Path]) -> Iterator[WorkspaceEngine]:
    db = Database(dataset[0], read_only=True)
    yield WorkspaceEngine(db)
    db.close()


def test_window_totals_take_two_statements_without_percentile_approx(
        workspace_engine: WorkspaceEngine, spark_engine: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``percentile_approx`` took every aggregate of the totals scan off Spark's generated hash
    aggregation (~3x the scan on 2e7 rows); the buckets keep it one fast scan, results exact."""
    ran: list[str] = []
    run = spark_engine._run

    def recorded(stmt: str, *args: Any, **kwargs: Any) -> pl.DataFrame:
        ran.append(stmt)
        return run(stmt, *args, **kwargs)

    monkeypatch.setattr(spark_engine, "_run", recorded)
    for name in ("window_summary", "window_counts"):
        call = parity.CALLS[name]
        parity._same(call(workspace_engine), call(spark_engine))
    assert ran and not any("percentile" in s for s in ran)
    assert sum("lat_b" in s for s in ran) == 2  # one bucketed totals scan per call


def test_cached_reads_the_files_unless_asked_to_persist(spark_engine: Any) -> None:
    span = TimeRange(START, END)
    expected = spark_engine.window_summary("churn", time_range=span)
    for persist in (False, True):
        with spark_engine.cached("churn", span, persist=persist):
            assert spark_engine._scope.frame.storageLevel.useMemory is persist
            parity._same(expected, spark_engine.window_summary("churn", time_range=span))
            frame = spark_engine._scope.frame
        assert not frame.storageLevel.useMemory
