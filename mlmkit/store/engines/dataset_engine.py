"""The aggregates of the dataset engines, written once over two execution primitives.

`DatasetEngine` is the base of `ParquetEngine` (DuckDB over the exported dataset, in this
process or over worker processes) and `SparkEngine`: every public aggregate is a portable
statement of `mlmkit.store.engines.portable` in the engine's ``dialect``, run by
``_partials(statement, params, model, days)`` (the partial results of disjoint groups of the
model's day files, pruned to ``days``) and then merged by group key (`_aggregate`) or
concatenated (`_select`). An engine provides ``_partials``, ``dialect``, ``path`` and
``manifest``; the per-task and segment aggregates come from the `TaskAggregates` and
`SegmentAggregates` mixins over the same primitives.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlmkit.store.engines import _finish as fin
from mlmkit.store.engines import portable as sql
from mlmkit.store.engines.segments import SegmentAggregates
from mlmkit.store.engines.tasks import TaskAggregates
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange

__all__ = ["DatasetEngine", "cover", "days"]

Days = tuple[date | None, date | None]


def days(span: TimeRange | None) -> Days:
    """The first and last UTC day of ``span`` (``None`` = unbounded)."""
    if span is None:
        return None, None
    return (span.start.astimezone(UTC).date(),
            (span.end - timedelta(microseconds=1)).astimezone(UTC).date())


def cover(a: TimeRange, b: TimeRange) -> Days:
    """The UTC days of the smallest range holding ``a`` and ``b``."""
    return days(TimeRange(min(a.start, b.start), max(a.end, b.end)))


class DatasetEngine(TaskAggregates, SegmentAggregates):
    """A `StatisticsEngine` over an exported dataset, given ``_partials`` (see the module)."""

    name: str
    path: Path
    manifest: dict[str, Any]

    # ------------------------------------------------------------------ primitives
    def _partials(self, stmt: str, params: list[Any], model: str, span: Days = (None, None),
                  *, split: bool = True, groups: int = 0) -> list[pl.DataFrame]:
        """Results of ``stmt`` over disjoint groups of the model's files in ``span``.

        ``split=False``: one group (statements that need every row of a group at once).
        ``groups``: `sql.Statement.groups` of the statement (a DuckDB engine's hint).
        """
        raise NotImplementedError  # provided by the engine

    def _aggregate(self, st: sql.Statement, model: str, span: Days) -> pl.DataFrame:
        """The partial aggregates of ``st`` merged by its group keys."""
        return fin.merge(self._partials(st.sql, st.params, model, span, groups=st.groups),
                         st.keys)

    def _select(self, stmt: str, params: list[Any], model: str, span: Days, *,
                groups: int = 0) -> pl.DataFrame:
        """The rows ``stmt`` selects, every group's in one frame."""
        return pl.concat(self._partials(stmt, params, model, span, groups=groups))

    def _merged(self, st: sql.Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        return self._aggregate(st, model, days(span))

    def _rows(self, st: sql.Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        return self._select(st.sql, st.params, model, days(span), groups=st.groups)

    def _feature_map(self, model: str) -> dict[str, tuple[str, str]]:
        feats = self.manifest["models"].get(model, {}).get("features", {})
        return {name: (f["column"], f["kind"]) for name, f in feats.items()}

    def _with_latency(self, st: sql.Statement, model: str, versions: Sequence[str] | None,
                      span: TimeRange | None, role: str | None
                      ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """``st`` (one row per version) merged, and what gives the exact latency median.

        Here the latency value counts (they merge across partials); an engine may instead
        add a ``lat_median_us`` column to the first frame and return ``None``.
        """
        lat = sql.latencies(model, versions, span, role, d=self.dialect)
        return self._merged(st, model, span), self._merged(lat, model, span)

    def _feature_histograms(self, model: str, ranges: dict[str, tuple[float, float]],
                            ref: Side, cur: Side, bins: int, role: str | None
                            ) -> sql.Statement:
        """The statement of `numeric_histograms` (``side, col, bin, n``)."""
        return sql.feature_histograms(model, ranges, ref, cur, bins, role, d=self.dialect)

    def scope(self, model_name: str, time_range: TimeRange | None = None
              ) -> AbstractContextManager[None]:
        """A block whose calls on ``model_name`` in ``time_range`` may share work.

        Nothing to share here (a ``nullcontext``); `SparkEngine` caches the rows.
        """
        return nullcontext()

    # ------------------------------------------------------------------ aggregates
    def confusion_counts(self, model_name: str, *, versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None, by_version: bool = True,
                         interval: timedelta | None = None, role: str | None = "served"
                         ) -> pl.DataFrame:
        """Confusion cells and score sums per version (and ``bucket``)."""
        origin = time_range.start if time_range is not None else datetime(1970, 1, 1, tzinfo=UTC)
        step = None if interval is None else int(interval / timedelta(microseconds=1))
        st = sql.confusion(model_name, versions, time_range, role, by_version=by_version,
                           bucket_us=step, origin_us=fin.epoch_us(origin), d=self.dialect)
        return fin.buckets(self._merged(st, model_name, time_range), origin, interval)

    def score_histogram(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, bins: int = 10_000,
                        labelled_only: bool = True, role: str | None = "served"
                        ) -> pl.DataFrame:
        """``version, bin, pos, neg, n`` per score bin."""
        st = sql.histogram(model_name, versions, time_range, role, bins, labelled_only)
        return self._merged(st, model_name, time_range)

    def window_summary(self, model_name: str, *, versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None, bins: int = 10_000,
                       role: str | None = "served") -> tuple[pl.DataFrame, pl.DataFrame]:
        """Per-version totals and labelled score histograms."""
        out = fin.totals(*self._with_latency(sql.totals(model_name, versions, time_range, role),
                                             model_name, versions, time_range, role))
        if bins <= 0:
            return out, pl.DataFrame(schema={"version": pl.String, "bin": pl.Int64,
                                             "pos": pl.Int64, "neg": pl.Int64})
        st = sql.histogram(model_name, versions, time_range, role, bins, True, with_n=False)
        return out, self._merged(st, model_name, time_range)

    def window_counts(self, model_name: str, *, versions: Sequence[str] | None = None,
                      time_range: TimeRange | None = None, role: str | None = "served",
                      latency: bool = True) -> pl.DataFrame:
        """Per-version confusion counts and the exact median label latency."""
        st = sql.confusion(model_name, versions, time_range, role, by_version=True,
                           bucket_us=None, origin_us=None, d=self.dialect)
        if not latency:
            return fin.counts(self._merged(st, model_name, time_range), None)
        return fin.counts(*self._with_latency(st, model_name, versions, time_range, role))

    def error_stream(self, model_name: str, version: str, *,
                     time_range: TimeRange | None = None, role: str | None = "served"
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Labelled rows in time order: ``(ts as epoch seconds, error 0/1)``."""
        where, params = sql.where_clause(model_name, [version], time_range, role=role)
        stmt = (f"SELECT {self.dialect.epoch_us.format(c='ts')} AS t_us, CASE WHEN "
                f"prediction <> actual THEN 1 ELSE 0 END AS e FROM {{src}} WHERE {where} "
                "AND actual IS NOT NULL")
        frame = self._select(stmt, params, model_name, days(time_range))
        frame = frame.sort("t_us", maintain_order=True)
        return (frame["t_us"].to_numpy().astype(np.float64) / 1e6,
                frame["e"].to_numpy().astype(np.float64))

    def daily_rows(self, model_name: str, *, versions: Sequence[str] | None = None,
                   start: datetime | None = None, end: datetime | None = None,
                   role: str = "served") -> pl.DataFrame:
        """Per-version, per-UTC-day statistics (the ``date`` partition is the UTC day)."""
        first = None if start is None else start.astimezone(UTC).date()
        last = None if end is None else (end - timedelta(microseconds=1)).astimezone(UTC).date()
        st = sql.daily(model_name, versions, start, end, role, first)
        return self._aggregate(st, model_name, (first, last)).select("version", "day",
                                                                     *fin.DAILY)

    def daily_summaries(self, model_name: str, *, versions: Sequence[str] | None = None,
                        start: datetime | None = None, end: datetime | None = None
                        ) -> pl.DataFrame:
        """Empty: a dataset holds raw rows; retired days' summaries stay in the workspace."""
        return pl.DataFrame(schema={"version": pl.String, "day": pl.Date,
                                    **dict.fromkeys(fin.DAILY, pl.Int64)})

    def side_stats(self, model_name: str, numeric: Sequence[str], categorical: Sequence[str],
                   ref: Side, cur: Side, *, role: str | None = "served"
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Feature statistics and categorical value counts of both sides."""
        span = cover(ref.time_range, cur.time_range)
        st = sql.numeric_stats(model_name, numeric, ref, cur, role, d=self.dialect)
        parts = self._partials(st.sql, st.params, model_name, span)
        cats = None
        if categorical:
            ct = sql.category_counts(model_name, categorical, ref, cur, role, d=self.dialect)
            cats = self._aggregate(ct, model_name, span)
        return fin.side_stats(parts, cats, numeric, categorical)

    def numeric_histograms(self, model_name: str, ranges: dict[str, tuple[float, float]],
                           ref: Side, cur: Side, *, bins: int = 2000,
                           role: str | None = "served") -> dict[str, np.ndarray]:
        """``{column: counts of shape (2, bins)}`` from the long UNPIVOT form."""
        if not ranges:
            return {}
        st = self._feature_histograms(model_name, ranges, ref, cur, bins, role)
        long = self._aggregate(st, model_name, cover(ref.time_range, cur.time_range))
        out = {col: np.zeros((2, bins)) for col in ranges}
        for side, col, b, n in long.iter_rows():
            out[col][int(side), int(b)] = n
        return out

    def side_rows(self, model_name: str, columns: Sequence[str], side: Side, *,
                  role: str | None = "served", finite: Sequence[str] = ()) -> pl.DataFrame:
        """The raw values of ``columns`` on one side."""
        stmt, params = sql.rows(model_name, columns, side, role, finite, d=self.dialect)
        return self._select(stmt, params, model_name, days(side.time_range))

    def grid_cell_counts(self, model_name: str, thresholds: Sequence[float], *,
                         versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None,
                         role: str | None = "served") -> pl.DataFrame:
        """``cell, pos, neg, min_score`` per cell between sorted thresholds."""
        st = sql.grid_cells(model_name, thresholds, versions, time_range, role)
        return self._merged(st, model_name, time_range)

    def labelled_scores(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None,
                        role: str | None = "served") -> pl.DataFrame:
        """``score`` (Float64) and ``actual`` (UInt8) of the labelled, scored rows."""
        where, params = sql.where_clause(model_name, versions, time_range, role=role)
        stmt = ("SELECT CAST(score AS DOUBLE) AS score, CAST(actual AS INTEGER) AS actual "
                f"FROM {{src}} WHERE {where} AND score IS NOT NULL AND actual IS NOT NULL")
        frame = self._select(stmt, params, model_name, days(time_range))
        return frame.with_columns(pl.col("score").cast(pl.Float64),
                                  pl.col("actual").cast(pl.UInt8))

    def has_shadow_rows(self, model_name: str, versions: Sequence[str],
                        time_range: TimeRange | None) -> bool:
        """Whether any of ``versions`` logged shadow rows in the range."""
        where, params = sql.where_clause(model_name, versions, time_range)
        stmt = f"SELECT 1 AS x FROM {{src}} WHERE {where} AND role = 'shadow' LIMIT 1"
        return any(p.height for p in self._partials(stmt, params, model_name, days(time_range)))

    def paired_counts(self, model_name: str, version_a: str, version_b: str,
                      time_range: TimeRange | None) -> pl.DataFrame:
        """``pred_a, pred_b, actual, n`` over units both versions scored (one group)."""
        where_a, params_a = sql.where_clause(model_name, [version_a], time_range)
        where_b, params_b = sql.where_clause(model_name, [version_b], time_range)
        stmt = f"""
            WITH a AS (SELECT prediction_id, prediction, actual, role FROM {{src}}
                       WHERE {where_a}),
                 b AS (SELECT prediction_id, prediction, actual, role FROM {{src}}
                       WHERE {where_b})
            SELECT a.prediction AS pred_a, b.prediction AS pred_b,
                   coalesce(a.actual, b.actual) AS actual, count(*) AS n
            FROM a JOIN b ON a.prediction_id = b.prediction_id
            WHERE (a.role = 'shadow') <> (b.role = 'shadow')
            GROUP BY 1, 2, 3 ORDER BY 1 NULLS LAST, 2 NULLS LAST, 3 NULLS LAST"""
        return self._partials(stmt, [*params_a, *params_b], model_name, days(time_range),
                              split=False)[0]
