"""Segment aggregates on the workspace, the Parquet engine and 2 Parquet workers.

Counts exactly equal, sums to 1e-12 (relative), on the session's exported dataset (features
``amount`` numeric with missing values, ``age`` numeric, ``country`` categorical); and the
segment rows equal filtering first (the unsegmented aggregate over one segment's filter).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from mlmkit.exceptions import ValidationError
from mlmkit.services.monitor.segments import segment_engine
from mlmkit.store.engines import Side
from mlmkit.store.engines.segments import SegmentStatisticsEngine
from mlmkit.values import TimeRange

from .conftest import END, START

SPAN = TimeRange(START + timedelta(hours=30), END - timedelta(hours=5))
REF = Side(("1.0.0",), TimeRange(START, START + timedelta(days=4)))
CUR = Side(("1.0.0",), TimeRange(START + timedelta(days=4), END))


def _seg(e: Any, segment: Any) -> Any:
    return e.resolve_segment("fraud", segment)


CALLS: dict[str, Callable[[Any], pl.DataFrame]] = {
    "totals_country": lambda e: e.segment_totals("fraud", _seg(e, "country"),
                                                 time_range=SPAN),
    "totals_two_keys": lambda e: e.segment_totals(
        "fraud", _seg(e, ["country", "age"]), versions=["1.0.0"], time_range=SPAN),
    "totals_filter_missing": lambda e: e.segment_totals(
        "churn", e.resolve_segment("churn", {"country": ["fr", "de"], "amount": [None]})),
    "cells_counts_only": lambda e: e.segment_totals("fraud", _seg(e, ["country", "amount"]),
                                                    time_range=SPAN, scores=False),
    "confusion_buckets": lambda e: e.segment_confusion(
        "fraud", _seg(e, "country"), time_range=SPAN, interval=timedelta(hours=12)),
    "histogram": lambda e: e.segment_histogram("fraud", _seg(e, "country"), time_range=SPAN,
                                               bins=500),
    "scores": lambda e: e.segment_scores("fraud", _seg(e, ("country",)), time_range=SPAN),
    "drift_numeric": lambda e: e.segment_drift_counts(
        "fraud", _seg(e, "country"), {"f_amount": (-4.0, 4.0), "f_age": (18.0, 90.0)}, [],
        REF, CUR, bins=100)[0],
    "drift_categorical": lambda e: e.segment_drift_counts(
        "fraud", _seg(e, "age"), {}, ["s_country"], REF, CUR)[1],
}


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def _same(expected: pl.DataFrame, got: pl.DataFrame) -> None:
    assert got.columns == expected.columns
    expected, got = _sorted(expected), _sorted(got.cast(expected.schema))  # type: ignore[arg-type]
    assert_frame_equal(expected, got, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


def test_storage_columns(engines: dict[str, SegmentStatisticsEngine]) -> None:
    for engine in engines.values():
        seg = engine.resolve_segment("fraud", ["country", "amount"])
        assert seg.columns[1] == "f_amount" and seg.kinds == ("categorical", "numeric")


@pytest.mark.parametrize("call", sorted(CALLS))
def test_parity(engines: dict[str, SegmentStatisticsEngine], call: str) -> None:
    frames = {name: CALLS[call](engine) for name, engine in engines.items()}
    assert frames["workspace"].height > 0
    for name in ("parquet", "parquet-2"):
        _same(frames["workspace"], frames[name])


@pytest.mark.parametrize("name", ["workspace", "parquet-2"])
def test_segment_equals_filtering_first(engines: dict[str, SegmentStatisticsEngine],
                                        name: str) -> None:
    """Each segment's row == the segment aggregate of a filter naming that one value."""
    engine = engines[name]
    country = _seg(engine, "country")
    whole = country.named(engine.segment_totals("fraud", country, time_range=SPAN))
    assert whole["country"].null_count() == 0
    for value in whole["country"].to_list():
        alone = country.named(engine.segment_totals(
            "fraud", _seg(engine, {"country": value}), time_range=SPAN))
        _same(whole.filter(pl.col("country") == value), alone)
    counts = country.named(engine.segment_totals("fraud", country, time_range=SPAN,
                                                 scores=False))
    cols = [c for c in counts.columns if c != "scored"]
    _same(whole.select(cols), counts.select(cols))  # the count-only form
    parts = engine.segment_totals("fraud", _seg(engine, "amount"), time_range=SPAN)
    assert parts["segment_0"].null_count() == 2  # a NULL segment per version
    total = engine.confusion_counts("fraud", time_range=SPAN)  # type: ignore[attr-defined]
    summed = parts.group_by("version").agg(pl.col("n", "tp", "fp", "tn", "fn").sum())
    _same(total.select("version", "n", "tp", "fp", "tn", "fn"), summed)


def test_spark_like_engine_is_refused() -> None:
    class Bare:
        name = "bare"

    with pytest.raises(ValidationError, match=r"engine.*segment"):
        segment_engine(Bare())  # type: ignore[arg-type]
