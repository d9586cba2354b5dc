"""The data-drift aggregates of every engine per segment (a base of `SegmentAggregates`).

`SegmentDriftAggregates` gives an engine with ``_merged`` and ``_rows`` (see
`mlmkit.store.engines.segments`) the three reads of unsegmented ``data_drift`` grouped by a
segment, each one statement whatever the number of segments:

- `segment_side_stats`: ``side_stats`` per segment (numeric counts, ranges and reference
  standard deviation; categorical value counts; every row for the missing shares);
- `segment_numeric_histograms`: ``numeric_histograms`` on each segment's own ranges;
- `segment_side_rows`: ``side_rows`` with the segment keys (the exact tests' values).

Each segment's frames equal the unsegmented call's on that segment's rows alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import polars as pl

from mlmkit.store.engines import _finish as fin
from mlmkit.store.engines import portable_segments as ssql
from mlmkit.store.engines.portable import DUCKDB, Dialect, Statement
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange

if TYPE_CHECKING:
    from mlmkit.store.engines.segments import ResolvedSegment

__all__ = ["SegmentDriftAggregates", "SegmentDriftEngine", "key_match"]

_Key = tuple[Any, ...]
_Counts = npt.NDArray[np.float64]


def key_match(keys: Sequence[str], key: Sequence[object]) -> pl.Expr:
    """The rows of one segment key (a NULL key matches NULL)."""
    return pl.all_horizontal([pl.col(k).eq_missing(v) for k, v in zip(keys, key, strict=True)]
                             or [pl.lit(True)])


def _span(ref: Side, cur: Side) -> TimeRange:
    return TimeRange(min(ref.time_range.start, cur.time_range.start),
                     max(ref.time_range.end, cur.time_range.end))


def _order(keys: set[_Key]) -> list[_Key]:
    return sorted(keys, key=lambda k: tuple((v is None, str(v)) for v in k))


def _split(frame: pl.DataFrame, keys: list[str]) -> dict[_Key, pl.DataFrame]:
    """``{segment key: its rows without the key columns}`` (one pass)."""
    if not frame.height:
        return {}
    if not keys:
        return {(): frame}
    return {tuple(k): part.drop(keys) for k, part in
            frame.partition_by(keys, as_dict=True, maintain_order=True).items()}


@runtime_checkable
class SegmentDriftEngine(Protocol):
    """The grouped reads of ``data_drift(segment=...)`` (`SegmentDriftAggregates`)."""

    def segment_side_stats(self, model_name: str, segment: ResolvedSegment,
                           numeric: Sequence[str], categorical: Sequence[str], ref: Side,
                           cur: Side, *, role: str | None = "served"
                           ) -> dict[_Key, tuple[pl.DataFrame, pl.DataFrame]]:
        """``{segment key: (stats, counts)}`` as ``side_stats`` per segment."""
        ...

    def segment_numeric_histograms(self, model_name: str, segment: ResolvedSegment,
                                   ranges: dict[_Key, dict[str, tuple[float, float]]],
                                   ref: Side, cur: Side, *, bins: int = 2000,
                                   role: str | None = "served"
                                   ) -> dict[_Key, dict[str, _Counts]]:
        """``{segment key: {column: (2, bins) counts}}`` on each segment's ranges."""
        ...

    def segment_side_rows(self, model_name: str, segment: ResolvedSegment,
                          columns: Sequence[str], side: Side, *, role: str | None = "served",
                          finite: Sequence[str] = (), only: Sequence[_Key] | None = None
                          ) -> pl.DataFrame:
        """``segment_i..`` and the values of ``columns`` on one side (``only`` those keys)."""
        ...


class SegmentDriftAggregates:
    """``segment_side_stats``, ``segment_numeric_histograms``, ``segment_side_rows``."""

    dialect: Dialect = DUCKDB

    def _merged(self, st: Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        raise NotImplementedError  # provided by the engine

    def _rows(self, st: Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        raise NotImplementedError  # provided by the engine

    def segment_side_stats(self, model_name: str, segment: ResolvedSegment,
                           numeric: Sequence[str], categorical: Sequence[str], ref: Side,
                           cur: Side, *, role: str | None = "served"
                           ) -> dict[_Key, tuple[pl.DataFrame, pl.DataFrame]]:
        """``{segment key: (stats, counts)}``, each pair as ``side_stats`` returns it.

        Two statements (numeric statistics read as unmerged partials, combined per segment
        as the dataset engines combine them; categorical counts), whatever the segments.
        """
        span, keys = _span(ref, cur), segment.key_names()
        parts = segment.limited(self._rows(ssql.numeric_stats(
            model_name, numeric, ref, cur, role, segment, self.dialect), model_name, span))
        cats = self._merged(ssql.category_counts(model_name, categorical, ref, cur, role,
                                                 segment, self.dialect), model_name, span) \
            if categorical else None
        mine = _split(parts, keys)
        counted = {} if cats is None else _split(cats, keys)
        empty = None if cats is None else cats.clear().drop(keys)
        return {key: fin.side_stats([mine[key]], counted.get(key, empty), numeric, categorical)
                for key in _order(set(mine))}

    def segment_numeric_histograms(self, model_name: str, segment: ResolvedSegment,
                                   ranges: Mapping[_Key, Mapping[str, tuple[float, float]]],
                                   ref: Side, cur: Side, *, bins: int = 2000,
                                   role: str | None = "served"
                                   ) -> dict[_Key, dict[str, np.ndarray]]:
        """``{segment key: {column: counts (2, bins)}}`` on each segment's own ranges."""
        live = {k: r for k, r in ranges.items() if r}
        if not live:
            return {}
        st = ssql.segment_histograms(model_name, live, ref, cur, bins, role, segment,
                                     self.dialect)
        long = self._rows(st, model_name, _span(ref, cur))  # partials: bincount sums them
        keys, cols = list(live), list(dict.fromkeys(c for r in live.values() for c in r))
        size = len(keys) * len(cols) * 2 * bins
        flat: _Counts = np.bincount(long["k"].cast(pl.Int64).to_numpy(), minlength=size,
                                    weights=long["n"].cast(pl.Float64).to_numpy()
                                    ).astype(np.float64, copy=False) \
            if long.height else np.zeros(size)
        dense = flat.reshape(len(keys), len(cols), 2, bins)  # views, no copy
        return {k: {c: dense[i, cols.index(c)] for c in live[k]} for i, k in enumerate(keys)}

    def segment_side_rows(self, model_name: str, segment: ResolvedSegment,
                          columns: Sequence[str], side: Side, *, role: str | None = "served",
                          finite: Sequence[str] = (), only: Sequence[_Key] | None = None
                          ) -> pl.DataFrame:
        """``segment_i..`` and the raw values of ``columns`` on one side.

        ``only``: the segment keys whose rows are read (default every segment's).
        """
        st = ssql.side_values(model_name, columns, side, role, segment, finite, self.dialect,
                              only)
        return self._rows(st, model_name, side.time_range)
