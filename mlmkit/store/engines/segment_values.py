"""Per-segment histograms of a window's residuals or scores (a base of `SegmentAggregates`).

`SegmentValueAggregates` gives an engine with ``_rows`` (see `mlmkit.store.engines.segments`)
``segment_value_histograms``: the unsegmented ``residual_histogram`` / ``score_distribution``
counts of every (version, segment) on its own ``[lo, hi]``, in one statement whatever the
number of segments (`mlmkit.store.engines.portable_segments.value_histograms`). Each group's
counts equal the unsegmented call's on that group's rows alone (same edges, same arithmetic).

Up to `SegmentValueAggregates.value_rows_limit` rows (DuckDB engines: the workspace, Parquet)
the statement returns each row's integer key and numpy counts them (one ``bincount``); beyond
it, or on Spark, it groups in SQL. Both give the same counts; the per-row keys spare the
engine's hash aggregate over up to ``segments * bins`` groups, most of the grouped form's cost
(1e6 rows, 21 segments, 10 000 bins: 21-23 ms against 31-38 ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import polars as pl

from mlmkit._validation import invalid
from mlmkit.store.engines import portable_segments as ssql
from mlmkit.store.engines.portable import DUCKDB, Dialect, Statement
from mlmkit.values import TimeRange

if TYPE_CHECKING:
    from mlmkit.store.engines.segments import ResolvedSegment

__all__ = ["VALUE_ROWS_LIMIT", "SegmentValueAggregates", "SegmentValueEngine"]

_Key = tuple[Any, ...]
_Counts = npt.NDArray[np.int64]
#: Up to this many (key, bin) cells the counts are filled by one bincount (32 MB); beyond,
#: by one bincount per key over the rows sorted by key (memory: one array per key).
_FLAT = 1 << 22
#: Per-row keys are read up to this many rows (an ``INTEGER`` each, 16 MB; numpy's bincount
#: takes them as 64-bit indices, 32 MB more).
VALUE_ROWS_LIMIT = 4_000_000


@runtime_checkable
class SegmentValueEngine(Protocol):
    """The grouped residual / score histograms of the segment window metrics."""

    def segment_value_histograms(self, model_name: str, segment: ResolvedSegment,
                                 ranges: Mapping[_Key, tuple[float, float]], *,
                                 values: str, time_range: TimeRange | None = None,
                                 bins: int = 1000, role: str | None = "served",
                                 rows: int | None = None) -> dict[_Key, _Counts]:
        """``{(version, *segment key): counts (bins,)}`` on each key's ``(lo, hi)``."""
        ...


class SegmentValueAggregates:
    """``segment_value_histograms`` over an engine's ``_rows``."""

    dialect: Dialect = DUCKDB
    #: The most rows whose keys are read one by one (DuckDB dialect only); 0: always grouped.
    value_rows_limit: int = VALUE_ROWS_LIMIT

    def _rows(self, st: Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        raise NotImplementedError  # provided by the engine

    def segment_value_histograms(self, model_name: str, segment: ResolvedSegment,
                                 ranges: Mapping[_Key, tuple[float, float]], *,
                                 values: str, time_range: TimeRange | None = None,
                                 bins: int = 1000, role: str | None = "served",
                                 rows: int | None = None) -> dict[_Key, _Counts]:
        """``{(version, *segment key): counts}``: ``bins`` equal bins of each key's range.

        ``values``: ``"residual"`` (labelled rows' ``prediction - actual``, as
        ``residual_histogram``) or ``"score"`` (as ``score_distribution``). ``ranges`` maps
        ``(version, *segment key)`` (the segment keys in `ResolvedSegment.key_names` order)
        to ``(lo, hi)``, e.g. the ``lo`` / ``hi`` of the grouped ``regression_sums`` or
        ``score_totals``; every key of ``ranges`` is in the result (zeros without rows). One
        statement; the per-key arrays are filled from its ``(k, n)`` rows without a loop over
        rows (`_FLAT`). ``rows``: how many rows the histograms count (e.g. the sums' ``n``);
        up to ``value_rows_limit`` (and ``len(ranges) * bins <= _FLAT``) on a DuckDB-dialect
        engine the statement returns each row's key, counted here by one ``bincount`` (see the
        module); otherwise (or ``None``) it groups in SQL. The counts are the same.
        """
        if values not in ssql.VALUES:
            raise invalid("values", "'residual' or 'score'", values)
        keys = list(ranges)
        if not keys:
            return {}
        cells = len(keys) * bins
        if (rows is not None and rows <= self.value_rows_limit and cells <= _FLAT
                and self.dialect.name == DUCKDB.name):
            st = ssql.value_histograms(model_name, ranges, time_range, role, segment, bins,
                                       values, self.dialect, grouped=False)
            keyed = self._rows(st, model_name, time_range)
            each = keyed["k"].drop_nulls().to_numpy() if keyed.height else np.zeros(0, np.int64)
            flat = np.bincount(each, minlength=cells).astype(np.int64, copy=False)
            return dict(zip(keys, flat.reshape(len(keys), bins), strict=True))
        st = ssql.value_histograms(model_name, ranges, time_range, role, segment, bins, values,
                                   self.dialect)
        long = self._rows(st, model_name, time_range)  # partials: repeated k add up below
        k = long["k"].cast(pl.Int64).to_numpy() if long.height else np.zeros(0, np.int64)
        n = long["n"].cast(pl.Int64).to_numpy() if long.height else np.zeros(0, np.int64)
        if len(keys) * bins <= _FLAT:  # one bincount, one row of it per key (views)
            flat = np.bincount(k, weights=n, minlength=len(keys) * bins).astype(np.int64)
            return dict(zip(keys, flat.reshape(len(keys), bins), strict=True))
        sid, b = np.divmod(k, bins)
        order = np.argsort(sid, kind="stable")
        sid, b, n = sid[order], b[order], n[order]
        cuts = np.searchsorted(sid, np.arange(len(keys) + 1))
        out: dict[_Key, _Counts] = {}
        for i, key in enumerate(keys):  # one bincount per key, not per row
            lo, hi = cuts[i], cuts[i + 1]
            out[key] = np.bincount(b[lo:hi], weights=n[lo:hi], minlength=bins).astype(np.int64) \
                if hi > lo else np.zeros(bins, np.int64)
        return out
