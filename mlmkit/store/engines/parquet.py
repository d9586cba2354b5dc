"""DuckDB over an exported Parquet dataset, in this process or over N worker processes.

The statements are the portable partials of `mlmkit.store.engines.portable`. With
``workers=N`` the model's day files (pruned to the time range) are split into N groups of
about equal size; each worker process runs the statement over its group and the partial
counts and sums are merged here by group key (exact for counts; sums to rounding).
Statements that need every row of a group at once run in one process: the A/B pairing join
(a unit's served and shadow rows may sit in different days).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from mlmkit._validation import check_int
from mlmkit.store.engines import _finish as fin
from mlmkit.store.engines import portable as sql
from mlmkit.store.engines.dataset import load_manifest, partition_files
from mlmkit.store.engines.segments import SegmentAggregates
from mlmkit.store.engines.tasks import TaskAggregates
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange

__all__ = ["ParquetEngine"]

_TYPES = {"prediction_id": "VARCHAR", "model_name": "VARCHAR", "version": "VARCHAR",
          "ts": "TIMESTAMPTZ", "prediction": "BOOLEAN", "score": "DOUBLE",
          "confidence": "DOUBLE", "unit_id": "VARCHAR", "role": "VARCHAR", "actual": "BOOLEAN",
          "labelled_at": "TIMESTAMPTZ", "label": "VARCHAR", "actual_label": "VARCHAR",
          "value": "DOUBLE", "actual_value": "DOUBLE",
          "probabilities": "STRUCT(label VARCHAR, p DOUBLE)[]", "date": "DATE"}


def _relation(files: Sequence[str], features: dict[str, tuple[str, str]]) -> str:
    """The rows of ``files`` with each feature also under its storage column name."""
    alias = "".join(f', "{ds}" AS "{col}"' for col, (ds, _) in features.items() if ds != col)
    if not files:
        cols = [f"CAST(NULL AS {t}) AS {c}" for c, t in _TYPES.items()]
        cols += [f'CAST(NULL AS {"VARCHAR" if k == "categorical" else "DOUBLE"}) AS "{c}"'
                 for c, (_, k) in features.items()]
        return f"(SELECT {', '.join(cols)} WHERE false)"
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return (f"(SELECT *{alias} FROM read_parquet([{listed}], hive_partitioning = true, "
            "union_by_name = true))")


def run_part(statement: str, params: list[Any], files: list[str],
             features: dict[str, tuple[str, str]], threads: int | None) -> pa.Table:
    """Run one statement over ``files`` in a fresh in-memory DuckDB (a worker's job)."""
    with duckdb.connect(":memory:") as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET enable_progress_bar = false")
        if threads:
            conn.execute(f"SET threads = {int(threads)}")
        text = statement.replace("{src}", _relation(files, features))
        return conn.sql(text, params=params).to_arrow_table()


def _split(files: list[Path], n: int) -> list[list[str]]:
    """``n`` groups of about equal total size (largest file first, into the lightest group)."""
    groups: list[list[str]] = [[] for _ in range(n)]
    sizes = [0] * n
    for f in sorted(files, key=lambda p: -p.stat().st_size):
        i = sizes.index(min(sizes))
        groups[i].append(str(f))
        sizes[i] += f.stat().st_size
    return [g for g in groups if g]


def _days(span: TimeRange | None) -> tuple[date | None, date | None]:
    if span is None:
        return None, None
    last = span.end - timedelta(microseconds=1)
    return span.start.astimezone(UTC).date(), last.astimezone(UTC).date()


class ParquetEngine(TaskAggregates, SegmentAggregates):
    """A [`StatisticsEngine`][mlmkit.store.engines.StatisticsEngine] over an exported dataset.

    Parameters
    ----------
    path
        A dataset directory written by ``mlmkit export``
        ([`export_dataset`][mlmkit.store.engines.export_dataset]).
    workers
        0: run in this process (DuckDB's own threads). N >= 1: N worker processes over
        disjoint day files, partial aggregates merged.
    threads
        DuckDB threads per worker process (default 1 with workers, DuckDB's default without).
    """

    name = "parquet"

    def __init__(self, path: str | os.PathLike[str], *, workers: int = 0,
                 threads: int | None = None) -> None:
        self.path = Path(path)
        self.manifest = load_manifest(self.path)
        self.workers = check_int("workers", workers, low=0, high=256)
        self.threads = threads if threads is not None else (1 if self.workers else None)
        self._pool: ProcessPoolExecutor | None = None

    # ------------------------------------------------------------------ plumbing
    def refresh(self) -> None:
        """Re-read the manifest (after another export)."""
        self.manifest = load_manifest(self.path)

    def close(self) -> None:
        """Stop the worker processes. Idempotent."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> ParquetEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _features(self, model: str) -> dict[str, tuple[str, str]]:
        feats = self.manifest["models"].get(model, {}).get("features", {})
        return {f["column"]: (f["dataset_column"], f["kind"]) for f in feats.values()}

    def _parts(self, stmt: str, params: list[Any], model: str,
               span: tuple[date | None, date | None] = (None, None), *,
               split: bool = True) -> list[pl.DataFrame]:
        files = partition_files(self.path, self.manifest, model, *span)
        feats = self._features(model)
        if self.workers == 0 or not split or len(files) < 2:
            return [_polars(run_part(stmt, params, [str(f) for f in files], feats,
                                     self.threads))]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        jobs = [self._pool.submit(run_part, stmt, params, group, feats, self.threads)
                for group in _split(files, self.workers)]
        return [_polars(j.result()) for j in jobs]

    def _merged(self, st: sql.Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        return fin.merge(self._parts(st.sql, st.params, model, _days(span)), st.keys)

    def _rows(self, st: sql.Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        return pl.concat(self._parts(st.sql, st.params, model, _days(span)))

    def _feature_map(self, model: str) -> dict[str, tuple[str, str]]:
        feats = self.manifest["models"].get(model, {}).get("features", {})
        return {name: (f["column"], f["kind"]) for name, f in feats.items()}

    # ------------------------------------------------------------------ aggregates
    def confusion_counts(self, model_name: str, *, versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None, by_version: bool = True,
                         interval: timedelta | None = None, role: str | None = "served"
                         ) -> pl.DataFrame:
        """Confusion cells and score sums per version (and ``bucket``)."""
        origin = time_range.start if time_range is not None else datetime(1970, 1, 1, tzinfo=UTC)
        step = None if interval is None else int(interval / timedelta(microseconds=1))
        st = sql.confusion(model_name, versions, time_range, role, by_version=by_version,
                           bucket_us=step, origin_us=fin.epoch_us(origin))
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
        totals = self._merged(sql.totals(model_name, versions, time_range, role), model_name,
                              time_range)
        lat = self._merged(sql.latencies(model_name, versions, time_range, role), model_name,
                           time_range)
        out = fin.totals(totals, lat)
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
                           bucket_us=None, origin_us=None)
        counts = self._merged(st, model_name, time_range)
        lat = self._merged(sql.latencies(model_name, versions, time_range, role), model_name,
                           time_range) if latency else None
        return fin.counts(counts, lat)

    def error_stream(self, model_name: str, version: str, *,
                     time_range: TimeRange | None = None, role: str | None = "served"
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Labelled rows in time order: ``(ts as epoch seconds, error 0/1)``."""
        where, params = sql.where_clause(model_name, [version], time_range, role=role)
        stmt = (f"SELECT {sql.DUCKDB.epoch_us.format(c='ts')} AS t_us, CASE WHEN prediction "
                f"<> actual THEN 1.0 ELSE 0.0 END AS e FROM {{src}} WHERE {where} "
                "AND actual IS NOT NULL")
        frame = pl.concat(self._parts(stmt, params, model_name, _days(time_range)))
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
        frame = fin.merge(self._parts(st.sql, st.params, model_name, (first, last)), st.keys)
        return frame.select("version", "day", *fin.DAILY)

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
        span = _days(TimeRange(min(ref.time_range.start, cur.time_range.start),
                               max(ref.time_range.end, cur.time_range.end)))
        st = sql.numeric_stats(model_name, numeric, ref, cur, role)
        parts = self._parts(st.sql, st.params, model_name, span)
        cats = None
        if categorical:
            ct = sql.category_counts(model_name, categorical, ref, cur, role)
            cats = fin.merge(self._parts(ct.sql, ct.params, model_name, span), ct.keys)
        return fin.side_stats(parts, cats, numeric, categorical)

    def numeric_histograms(self, model_name: str, ranges: dict[str, tuple[float, float]],
                           ref: Side, cur: Side, *, bins: int = 2000,
                           role: str | None = "served") -> dict[str, np.ndarray]:
        """``{column: counts of shape (2, bins)}`` from the long UNPIVOT form."""
        if not ranges:
            return {}
        span = _days(TimeRange(min(ref.time_range.start, cur.time_range.start),
                               max(ref.time_range.end, cur.time_range.end)))
        st = sql.feature_histograms(model_name, ranges, ref, cur, bins, role)
        long = fin.merge(self._parts(st.sql, st.params, model_name, span), st.keys)
        out = {col: np.zeros((2, bins)) for col in ranges}
        for side, col, b, n in long.iter_rows():
            out[col][int(side), int(b)] = n
        return out

    def side_rows(self, model_name: str, columns: Sequence[str], side: Side, *,
                  role: str | None = "served", finite: Sequence[str] = ()) -> pl.DataFrame:
        """The raw values of ``columns`` on one side."""
        stmt, params = sql.rows(model_name, columns, side, role, finite)
        return pl.concat(self._parts(stmt, params, model_name, _days(side.time_range)))

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
        frame = pl.concat(self._parts(stmt, params, model_name, _days(time_range)))
        return frame.with_columns(pl.col("score").cast(pl.Float64),
                                  pl.col("actual").cast(pl.UInt8))

    def has_shadow_rows(self, model_name: str, versions: Sequence[str],
                        time_range: TimeRange | None) -> bool:
        """Whether any of ``versions`` logged shadow rows in the range."""
        where, params = sql.where_clause(model_name, versions, time_range)
        stmt = f"SELECT 1 AS x FROM {{src}} WHERE {where} AND role = 'shadow' LIMIT 1"
        return any(p.height for p in self._parts(stmt, params, model_name, _days(time_range)))

    def paired_counts(self, model_name: str, version_a: str, version_b: str,
                      time_range: TimeRange | None) -> pl.DataFrame:
        """``pred_a, pred_b, actual, n`` over units both versions scored (one process)."""
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
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
        return self._parts(stmt, [*params_a, *params_b], model_name, _days(time_range),
                           split=False)[0]

    def __repr__(self) -> str:
        return f"ParquetEngine({str(self.path)!r}, workers={self.workers})"


def _polars(table: pa.Table) -> pl.DataFrame:
    return pl.DataFrame(pl.from_arrow(table))

