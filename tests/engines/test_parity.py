"""Every aggregate of the seam on the workspace engine, the Parquet engine and 2 Parquet workers.

Counts must be exactly equal, sums and other floats equal to 1e-12 (relative), on one
exported, seeded dataset (3 models x 2 versions x 8 days, features with NaN, a shadow pair).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from mlmkit.store.engines import Side, StatisticsEngine
from mlmkit.values import TimeRange

from .conftest import END, START

SPAN = TimeRange(START + timedelta(hours=30), END - timedelta(hours=5))
REF = Side(("1.0.0",), TimeRange(START, START + timedelta(days=4)))
CUR = Side(None, TimeRange(START + timedelta(days=4), END))
NUMERIC = ["f_amount", "f_age"]
CATEGORICAL = ["s_country"]


def _same(expected: Any, got: Any) -> None:
    if isinstance(expected, pl.DataFrame):
        floats = [c for c, t in expected.schema.items() if t.is_float()]
        assert got.columns == expected.columns
        assert_frame_equal(got.with_columns(pl.col(floats).cast(pl.Float64)),
                           expected.with_columns(pl.col(floats).cast(pl.Float64)),
                           check_dtypes=False, rel_tol=1e-12, abs_tol=1e-12, check_exact=False)
        ints = [c for c, t in expected.schema.items() if t.is_integer()]
        assert got.select(ints).rows() == expected.select(ints).rows()  # counts: exactly
    elif isinstance(expected, tuple):
        for e, g in zip(expected, got, strict=True):
            _same(e, g)
    elif isinstance(expected, dict):
        assert expected.keys() == got.keys()
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])
    elif isinstance(expected, np.ndarray):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    else:
        assert got == expected


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


CALLS: dict[str, Callable[[StatisticsEngine], Any]] = {
    "confusion_counts": lambda e: e.confusion_counts("fraud", time_range=SPAN),
    "confusion_counts_buckets": lambda e: e.confusion_counts(
        "churn", versions=["1.1.0"], time_range=SPAN, interval=timedelta(hours=6)),
    "confusion_counts_all_roles": lambda e: e.confusion_counts("fraud", role=None,
                                                               by_version=False),
    "score_histogram": lambda e: e.score_histogram("spam", time_range=SPAN, bins=500),
    "score_histogram_unlabelled": lambda e: e.score_histogram("spam", bins=50,
                                                              labelled_only=False),
    "window_summary": lambda e: e.window_summary("fraud", time_range=SPAN, bins=1000),
    "window_counts": lambda e: e.window_counts("churn", time_range=SPAN),
    "window_counts_no_latency": lambda e: e.window_counts("churn", latency=False),
    "error_stream": lambda e: e.error_stream("spam", "1.0.0", time_range=SPAN),
    "daily_rows": lambda e: e.daily_rows("fraud", start=SPAN.start, end=SPAN.end),
    "side_stats": lambda e: e.side_stats("churn", NUMERIC, CATEGORICAL, REF, CUR),
    "numeric_histograms": lambda e: e.numeric_histograms(
        "churn", {"f_amount": (-4.0, 4.0), "f_age": (18.0, 89.0)}, REF, CUR, bins=200),
    "side_rows": lambda e: _sorted(e.side_rows("spam", ["f_amount", "s_country", "score"],
                                               CUR, finite=["f_amount"])),
    "grid_cell_counts": lambda e: e.grid_cell_counts("fraud", [0.3, 0.5, 0.7],
                                                     versions=["1.0.0"], time_range=SPAN),
    "labelled_scores": lambda e: _sorted(e.labelled_scores("fraud", versions=["1.1.0"])),
    "has_shadow_rows": lambda e: (e.has_shadow_rows("fraud", ["1.0.0", "1.1.0"], None),
                                  e.has_shadow_rows("spam", ["1.0.0", "1.1.0"], SPAN)),
    "paired_counts": lambda e: e.paired_counts("fraud", "1.0.0", "1.1.0", None),
    "empty_window": lambda e: e.window_summary("fraud", versions=["9.9.9"], time_range=SPAN),
}


@pytest.mark.parametrize("engine", ["parquet", "parquet-2"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_aggregate_matches_the_workspace(engines: dict[str, StatisticsEngine], name: str,
                                         engine: str) -> None:
    expected = CALLS[name](engines["workspace"])
    _same(expected, CALLS[name](engines[engine]))


def test_engines_satisfy_the_protocol(engines: dict[str, StatisticsEngine]) -> None:
    assert all(isinstance(e, StatisticsEngine) for e in engines.values())
