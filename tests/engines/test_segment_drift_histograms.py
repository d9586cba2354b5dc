"""``segment_numeric_histograms`` == numpy on each segment's rows (workspace, Parquet, 2 workers).

The statement finds each row's segment and bin edges by a join on a small dictionary of the
segment keys (NULL matching NULL) and groups one integer key per column; these cases are the
ones that form has to get right: ranges narrower than the data (clamped to the end bins), a
zero-width range, a (segment, column) without a range (counted nowhere), a segment without
any range, a NULL segment key, two keys, and missing values (counted nowhere).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from mlmkit.store.engines import Side
from mlmkit.store.engines.segment_drift import SegmentDriftAggregates
from mlmkit.values import TimeRange

from .conftest import START
from .test_segment_parity import CUR, REF

BINS = 50


def _expected(engine: Any, model: str, key_columns: list[str],
              ranges: dict[tuple[Any, ...], dict[str, tuple[float, float]]]
              ) -> dict[tuple[Any, ...], dict[str, np.ndarray]]:
    """numpy: each segment's rows of each side, binned on its own range and clamped."""
    cols = sorted({c for r in ranges.values() for c in r})
    sides = [engine.side_rows(model, [*cols, *key_columns], side, finite=cols)
             for side in (REF, CUR)]
    out: dict[tuple[Any, ...], dict[str, np.ndarray]] = {}
    for key, by_col in ranges.items():
        if not by_col:
            continue
        match = pl.all_horizontal([pl.col(c).eq_missing(v) for c, v in
                                   zip(key_columns, key, strict=True)])
        out[key] = {}
        for col, (lo, hi) in by_col.items():
            counts = np.zeros((2, BINS))
            for i, rows in enumerate(sides):
                v = rows.filter(match)[col].drop_nulls().to_numpy()
                width = (hi - lo) / BINS if hi > lo else 1.0
                b = np.clip(np.floor((v - lo) / width), 0, BINS - 1).astype(int)
                counts[i] = np.bincount(b, minlength=BINS)
            out[key][col] = counts
    return out


CASES: dict[str, tuple[str, Any, dict[tuple[Any, ...], dict[str, tuple[float, float]]]]] = {
    "one key": ("fraud", "country", {
        ("fr",): {"f_amount": (-1.0, 1.0), "f_age": (18.0, 90.0)},  # amount clamped
        ("de",): {"f_amount": (-4.0, 4.0)},                        # no age range
        ("us",): {"f_age": (30.0, 30.0)},                          # zero width
        ("br",): {}}),                                             # no range at all
    "null key, two keys": ("churn", {"country": ["fr", "de"], "amount": [None]}, {
        ("fr", None): {"f_age": (18.0, 89.0), "score": (0.0, 1.0)},
        ("de", None): {"score": (0.2, 0.6)}}),
}


@pytest.mark.parametrize("name", ["workspace", "parquet", "parquet-2"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_segment_histograms_equal_numpy(engines: dict[str, Any], name: str, case: str) -> None:
    engine = engines[name]
    assert isinstance(engine, SegmentDriftAggregates)
    model, segment, ranges = CASES[case]
    seg = engine.resolve_segment(model, segment)
    got = engine.segment_numeric_histograms(model, seg, ranges, REF, CUR, bins=BINS)
    expected = _expected(engine, model, list(seg.columns), ranges)
    assert list(got) == list(expected)
    for key, by_col in expected.items():
        assert list(got[key]) == list(by_col)
        for col, counts in by_col.items():
            assert counts.sum() > 0
            np.testing.assert_array_equal(got[key][col], counts, err_msg=f"{key} {col}")


def test_no_rows_gives_zero_counts(engines: dict[str, Any]) -> None:
    engine = engines["workspace"]
    seg = engine.resolve_segment("fraud", "country")
    early = Side(("1.0.0",), TimeRange(START.replace(year=2020), START.replace(year=2021)))
    got = engine.segment_numeric_histograms("fraud", seg, {("fr",): {"f_age": (18.0, 90.0)}},
                                            early, early, bins=BINS)
    assert list(got) == [("fr",)] and got[("fr",)]["f_age"].shape == (2, BINS)
    assert not got[("fr",)]["f_age"].any()


def test_segment_histograms_equal_on_spark(engines: dict[str, Any], dataset: tuple[Path, Path],
                                           spark_session: Any) -> None:
    """The same statement on Spark (``IS NOT DISTINCT FROM`` join, parameters in the dictionary)."""
    from mlmkit.store.engines.spark import SparkEngine

    workspace = engines["workspace"]
    with SparkEngine(dataset[1], spark=spark_session) as spark:
        for case in sorted(CASES):
            model, segment, ranges = CASES[case]
            want = workspace.segment_numeric_histograms(
                model, workspace.resolve_segment(model, segment), ranges, REF, CUR, bins=BINS)
            got = spark.segment_numeric_histograms(
                model, spark.resolve_segment(model, segment), ranges, REF, CUR, bins=BINS)
            assert list(got) == list(want)
            for key, by_col in want.items():
                for col, counts in by_col.items():
                    np.testing.assert_array_equal(got[key][col], counts, err_msg=f"{key} {col}")
