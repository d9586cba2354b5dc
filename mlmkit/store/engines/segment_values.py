"""Per-segment histograms of a window's residuals or scores (a base of `SegmentAggregates`).

`SegmentValueAggregates` gives an engine with ``_rows`` (see `mlmkit.store.engines.segments`)
``segment_value_histograms``: the unsegmented ``residual_histogram`` / ``score_distribution``
counts of every (version, segment) on its own ``[lo, hi]``, in one statement whatever the
number of segments (`mlmkit.store.engines.portable_segments.value_histograms`). Each group's
counts equal the unsegmented call's on that group's rows alone (same edges, same arithmetic).

The engine counts (an aggregate over up to ``segments * bins`` groups, most of the statement's
cost). Its one integer key is clamped to ``[0, segments * bins)``, which the statement says
(`Statement.groups`): DuckDB then counts in its perfect hash table instead of a general one,
26-30 ms instead of 38-41 ms per 1e6 rows at 21 segments and 10 000 bins. Reading each row's
key and counting it in numpy measured 21-23 ms, but brings every row to Python: not done.
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

__all__ = ["SegmentValueAggregates", "SegmentValueEngine"]

_Key = tuple[Any, ...]
_Counts = npt.NDArray[np.int64]
#: Up to this many (key, bin) cells the counts are filled by one bincount (32 MB); beyond,
#: by one bincount per key over the rows sorted by key (memory: one array per key).
_FLAT = 1 << 22


@runtime_checkable
class SegmentValueEngine(Protocol):
    """The grouped residual / score histograms of the segment window metrics."""

    def segment_value_histograms(self, model_name: str, segment: ResolvedSegment,
                                 ranges: Mapping[_Key, tuple[float, float]], *,
                                 values: str, time_range: TimeRange | None = None,
                                 bins: int = 1000, role: str | None = "served"
                                 ) -> dict[_Key, _Counts]:
        """``{(version, *segment key): counts (bins,)}`` on each key's ``(lo, hi)``."""
        ...


class SegmentValueAggregates:
    """``segment_value_histograms`` over an engine's ``_rows``."""

    dialect: Dialect = DUCKDB

    def _rows(self, st: Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        raise NotImplementedError  # provided by the engine

    def segment_value_histograms(self, model_name: str, segment: ResolvedSegment,
                                 ranges: Mapping[_Key, tuple[float, float]], *,
                                 values: str, time_range: TimeRange | None = None,
                                 bins: int = 1000, role: str | None = "served"
                                 ) -> dict[_Key, _Counts]:
        """``{(version, *segment key): counts}``: ``bins`` equal bins of each key's range.

        ``values``: ``"residual"`` (labelled rows' ``prediction - actual``, as
        ``residual_histogram``) or ``"score"`` (as ``score_distribution``). ``ranges`` maps
        ``(version, *segment key)`` (the segment keys in `ResolvedSegment.key_names` order)
        to ``(lo, hi)``, e.g. the ``lo`` / ``hi`` of the grouped ``regression_sums`` or
        ``score_totals``; every key of ``ranges`` is in the result (zeros without rows). One
        statement; the per-key arrays are filled from its ``(k, n)`` rows without a loop over
        rows (`_FLAT`).
        """
        if values not in ssql.VALUES:
            raise invalid("values", "'residual' or 'score'", values)
        keys = list(ranges)
        if not keys:
            return {}
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
