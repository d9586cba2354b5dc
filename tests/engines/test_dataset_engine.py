"""The shared base of the dataset engines: DuckDB's histogram form, the median, ``scope``."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlmkit.store.engines import _finish as fin
from mlmkit.store.engines import portable as sql
from mlmkit.store.engines.dataset_engine import DatasetEngine
from mlmkit.store.engines.parquet import ParquetEngine
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange
from tests.engines.conftest import END, START

REF = Side(("1.0.0",), TimeRange(START, START + timedelta(days=4)))
CUR = Side(None, TimeRange(START + timedelta(days=4), END))


@pytest.mark.parametrize("ranges", [
    {"f_amount": (-1.0, 1.0), "f_age": (30.0, 60.0), "score": (0.2, 0.8)},  # clamped ends
    {"f_amount": (0.5, 0.5)},  # one column, an empty range (width 1)
])
def test_grouping_sets_histograms_equal_the_unpivot_form(dataset: tuple[Path, Path],
                                                         ranges: dict[str, tuple[float, float]]
                                                         ) -> None:
    """DuckDB's GROUPING SETS statement counts exactly what the portable UNPIVOT one counts.

    ``f_amount`` holds NaN (5 %): counted in no bin by either form.
    """
    with ParquetEngine(dataset[1]) as engine:
        long = engine._aggregate(sql.feature_histograms("churn", ranges, REF, CUR, 50,
                                                        "served"), "churn", (None, None))
        got = engine.numeric_histograms("churn", ranges, REF, CUR, bins=50)
    assert long.height > 0
    want = {col: np.zeros((2, 50)) for col in ranges}
    for side, col, b, n in long.iter_rows():
        want[col][side, b] = n
    assert set(got) == set(want)
    for col in ranges:
        np.testing.assert_array_equal(got[col], want[col])


def test_median_skips_rows_without_a_label_time() -> None:
    """A labelled row without ``labelled_at`` has no latency (the workspace's ``median``)."""
    lat = pl.DataFrame({"version": ["a", "a", "a", "b"], "latency_us": [None, 1, 3, 7],
                        "k": [5, 1, 1, 2]})
    assert fin._median(lat, "a") == pytest.approx(2e-6)
    assert fin._median(lat, "b") == pytest.approx(7e-6)
    assert fin._median(lat, "c") is None


def test_parquet_scope_is_a_no_op_block(dataset: tuple[Path, Path]) -> None:
    """``scope`` exists on every dataset engine; the Parquet engine's changes nothing."""
    with ParquetEngine(dataset[1]) as engine:
        before = engine.window_counts("fraud")
        block = engine.scope("fraud", None)
        assert isinstance(block, nullcontext)
        with block:
            assert engine.window_counts("fraud").equals(before)
    assert issubclass(ParquetEngine, DatasetEngine)


def test_segment_task_engine_message_names_spark() -> None:
    """The engines with per-task segment aggregates include Spark (it implements them)."""
    from mlmkit.catalogue import Task
    from mlmkit.exceptions import ValidationError
    from mlmkit.services.monitor.segment_tasks import _engine

    with pytest.raises(ValidationError, match="workspace, Parquet or Spark; object does not"):
        _engine(object(), Task.MULTICLASS)  # type: ignore[arg-type]


class _Counting(ParquetEngine):
    """The Parquet engine, counting the statements it runs."""

    statements = 0

    def _partials(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.statements += 1
        return super()._partials(*args, **kwargs)


@pytest.mark.parametrize(("workers", "scans"), [(0, 1), (2, 2)])
def test_window_totals_read_the_latency_median_in_the_same_scan(dataset: tuple[Path, Path],
                                                                workers: int, scans: int
                                                                ) -> None:
    """In one process the median comes with the totals; split, its value counts merge."""
    with _Counting(dataset[1], workers=workers) as engine:
        totals, _ = engine.window_summary("fraud", bins=0)
        assert engine.statements == scans
        counts = engine.window_counts("fraud")
        assert engine.statements == 2 * scans
    assert totals["median_label_latency_s"].null_count() == 0
    assert totals["median_label_latency_s"].to_list() == counts["median_label_latency_s"].to_list()
