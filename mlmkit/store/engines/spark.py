"""Apache Spark over an exported Parquet dataset (``pip install 'mlmkit[spark]'``).

The statements are the portable partials of `mlmkit.store.engines.portable` in the
``SPARK`` dialect (``unix_micros``, backquoted identifiers, ``isnan``), run by Spark SQL
with positional ``?`` parameters over a temporary view of the model's day files (pruned to the
time range through the manifest, read with a schema built from it, so no inference job runs).
Spark computes each aggregate over every row at once, so the "partials" are already final
and go through the same finishing code as the DuckDB Parquet engine
(`mlmkit.store.engines._finish`). Results come back through Arrow (``DataFrame.toArrow``),
never pandas.
"""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlmkit._lazy import require
from mlmkit.exceptions import StoreError
from mlmkit.store.engines import _finish as fin
from mlmkit.store.engines import portable as sql
from mlmkit.store.engines._spark import UNCACHED, Scope, cover, days, literal, local_session, only
from mlmkit.store.engines.dataset import load_manifest, partition_files
from mlmkit.store.engines.spark_tasks import SPARK, TASK_TYPES, SparkAggregates
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange

__all__ = ["SPARK", "SparkEngine", "local_session"]

_TYPES = {"prediction_id": "STRING", "model_name": "STRING", "version": "STRING",
          "ts": "TIMESTAMP", "prediction": "BOOLEAN", "score": "DOUBLE",
          "confidence": "DOUBLE", "unit_id": "STRING", "role": "STRING", "actual": "BOOLEAN",
          "labelled_at": "TIMESTAMP", **TASK_TYPES}
_VIEWS = 32  # temporary views (one per model and day range) kept per engine
_serial = itertools.count()
_LATENCY = "unix_micros(labelled_at) - unix_micros(ts)"
_BAND = 0.001  # half-width (in rank fraction) of the band read exactly around the median


def _banded(st: sql.Statement) -> sql.Statement:
    """``st`` (one row per version) plus ``lat_q``: approximate latency quantiles 0.5 +- band."""
    q = (f"percentile_approx(CASE WHEN actual IS NOT NULL THEN {_LATENCY} END, "
         f"array({0.5 - _BAND}, {0.5 + _BAND}), 100000) AS lat_q")
    return sql.Statement(st.sql.replace(" FROM {src}", f", {q} FROM {{src}}", 1), st.params,
                         st.keys)


class SparkEngine(SparkAggregates):
    """A [`StatisticsEngine`][mlmkit.store.engines.StatisticsEngine] on Apache Spark.

    Also the per-task and segment aggregates (`mlmkit.store.engines.spark_tasks`).

    Parameters
    ----------
    dataset_path
        A dataset directory written by ``mlmkit export``
        ([`export_dataset`][mlmkit.store.engines.export_dataset]), on a file system
        the Spark executors can read (local, HDFS mount, ...).
    spark
        A ``pyspark.sql.SparkSession`` to use (never stopped by the engine); ``None`` takes
        the active session as it is, or starts one with `local_session` (stopped on `close`).

    Examples
    --------
    >>> engine = SparkEngine("predictions-dataset")  # doctest: +SKIP
    >>> with mlmkit.open("mlm.duckdb", engine=engine) as ws:  # doctest: +SKIP
    ...     ws.monitor.get_current_metrics("fraud", "1.0.0")
    """

    name = "spark"

    def __init__(self, dataset_path: str | os.PathLike[str], spark: Any = None) -> None:
        self.path = Path(dataset_path).absolute()
        self.manifest = load_manifest(self.path)
        active = require("pyspark.sql", "spark").SparkSession.getActiveSession()
        self._owned = spark is None and active is None
        self.spark = spark if spark is not None else active if active is not None \
            else local_session()
        self._views: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._tag = f"mlmkit_src_{next(_serial)}"
        self._scope: Scope | None = None

    # ------------------------------------------------------------------ plumbing
    def refresh(self) -> None:
        """Re-read the manifest (after another export); drops the cached views."""
        self.manifest = load_manifest(self.path)
        self._drop_views()

    def close(self) -> None:
        """Drop the engine's views; stop the session if the engine started it. Idempotent."""
        self._drop_views()
        if self._owned and self.spark is not None:
            self.spark.stop()
            self._owned = False

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop_views(self) -> None:
        while self._views:
            _, view = self._views.popitem()
            self.spark.catalog.dropTempView(view)

    def _schema(self, model: str) -> str:
        feats = self.manifest["models"].get(model, {}).get("features", {})
        cols = [f"{SPARK.ident(c)} {t}" for c, t in _TYPES.items()]
        cols += [f"{SPARK.ident(f['dataset_column'])} "
                 f"{'STRING' if f['kind'] == 'categorical' else 'DOUBLE'}" for f in feats.values()]
        return ", ".join([*cols, "`date` DATE"])

    def _files(self, model: str, span: tuple[date | None, date | None]) -> tuple[str, ...]:
        """The model's day files in ``span`` (the manifest's)."""
        return tuple(str(f) for f in partition_files(self.path, self.manifest, model, *span))

    def _frame(self, model: str, files: tuple[str, ...]) -> Any:
        """The rows of ``files`` (a Spark DataFrame read with the manifest's schema)."""
        if files:
            return self.spark.read.schema(self._schema(model)) \
                .option("basePath", str(self.path)).parquet(*files)
        return self.spark.createDataFrame([], self._schema(model))

    def _register(self, model: str, frame: Any) -> str:
        """A temporary view of ``frame``, features also under their storage names."""
        feats = self.manifest["models"].get(model, {}).get("features", {})
        frame = frame.selectExpr("*", *[
            f"{SPARK.ident(f['dataset_column'])} AS {SPARK.ident(f['column'])}"
            for f in feats.values() if f["dataset_column"] != f["column"]])
        view = f"{self._tag}_{next(_serial)}"
        frame.createOrReplaceTempView(view)
        return view

    def _view(self, model: str, files: tuple[str, ...]) -> str:
        """The (kept) temporary view of ``files`` of ``model``."""
        key = (model, files)
        if key in self._views:
            self._views.move_to_end(key)
            return self._views[key]
        view = self._views[key] = self._register(model, self._frame(model, files))
        if len(self._views) > _VIEWS:
            _, old = self._views.popitem(last=False)
            self.spark.catalog.dropTempView(old)
        return view

    @contextmanager
    def cached(self, model_name: str, time_range: TimeRange | None = None) -> Iterator[None]:
        """Within the block, read ``model_name``'s rows of ``time_range`` from Spark's memory.

        The day files of the range are read once (``DataFrame.cache``, without the columns no
        aggregate reads) and every call of the block on that model and inside that range
        reads the cached rows; window totals, label latencies and score histograms are
        computed for every version at once and shared by the calls (a monitoring summary of
        both versions, their comparison, trend and drift is then 6 statements instead of 13).
        The rows are unpersisted on exit. Results are those of the same calls outside a block.
        """
        files = self._files(model_name, days(time_range))
        frame = self._frame(model_name, files).drop(*UNCACHED).cache()
        previous, self._scope = self._scope, Scope(model_name, frozenset(files), frame,
                                                   self._register(model_name, frame))
        try:
            yield
        finally:
            scope, self._scope = self._scope, previous
            self.spark.catalog.dropTempView(scope.view)
            frame.unpersist()

    def _run(self, stmt: str, params: list[Any], model: str,
             span: tuple[date | None, date | None] = (None, None)) -> pl.DataFrame:
        """Run one statement over the model's rows in ``span``; a polars frame (UTC times)."""
        files = self._files(model, span)
        scope = self._scope
        view = scope.view if scope is not None and scope.covers(model, files, stmt) \
            else self._view(model, files)
        errors = require("pyspark.errors", "spark")
        try:
            table = self.spark.sql(stmt.replace("{src}", view), args=list(params)).toArrow()
        except (errors.PySparkException, require("py4j.protocol", "spark").Py4JError) as err:
            raise StoreError(f"Spark failed on {model!r}: {err}") from err
        frame = pl.DataFrame(pl.from_arrow(table))
        return frame.with_columns(pl.col(c).dt.convert_time_zone("UTC") for c, t in
                                  frame.schema.items() if isinstance(t, pl.Datetime))

    def _shared(self, key: tuple[Any, ...], model: str, span: TimeRange | None,
                compute: Callable[[Sequence[str] | None], pl.DataFrame],
                versions: Sequence[str] | None) -> pl.DataFrame:
        """``compute(versions)``; in a `cached` block ``compute(None)`` once, then filtered."""
        scope = self._scope
        if scope is None or not scope.covers(model, self._files(model, days(span)), ""):
            return compute(versions)
        return only(scope.shared((*key, model, span), lambda: compute(None)), versions)

    # ------------------------------------------------------------------ aggregates
    def confusion_counts(self, model_name: str, *, versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None, by_version: bool = True,
                         interval: timedelta | None = None, role: str | None = "served"
                         ) -> pl.DataFrame:
        """Confusion cells and score sums per version (and ``bucket``)."""
        origin = time_range.start if time_range is not None else datetime(1970, 1, 1, tzinfo=UTC)
        step = None if interval is None else int(interval / timedelta(microseconds=1))
        st = sql.confusion(model_name, versions, time_range, role, by_version=by_version,
                           bucket_us=step, origin_us=fin.epoch_us(origin), d=SPARK)
        return fin.buckets(self._merged(st, model_name, time_range), origin, interval)

    def score_histogram(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, bins: int = 10_000,
                        labelled_only: bool = True, role: str | None = "served"
                        ) -> pl.DataFrame:
        """``version, bin, pos, neg, n`` per score bin."""
        def run(vs: Sequence[str] | None) -> pl.DataFrame:
            st = sql.histogram(model_name, vs, time_range, role, bins, labelled_only)
            return self._merged(st, model_name, time_range)

        return self._shared(("histogram", bins, labelled_only, role), model_name, time_range,
                            run, versions)

    def window_summary(self, model_name: str, *, versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None, bins: int = 10_000,
                       role: str | None = "served") -> tuple[pl.DataFrame, pl.DataFrame]:
        """Per-version totals and labelled score histograms."""
        def run(vs: Sequence[str] | None) -> pl.DataFrame:
            totals = self._merged(_banded(sql.totals(model_name, vs, time_range, role)),
                                  model_name, time_range)
            return fin.totals(totals, self._latencies(model_name, vs, time_range, role, totals))

        out = self._shared(("totals", role), model_name, time_range, run, versions)
        if bins <= 0:
            return out, pl.DataFrame(schema={"version": pl.String, "bin": pl.Int64,
                                             "pos": pl.Int64, "neg": pl.Int64})
        return out, self.score_histogram(model_name, versions=versions, time_range=time_range,
                                         bins=bins, role=role).drop("n")

    def window_counts(self, model_name: str, *, versions: Sequence[str] | None = None,
                      time_range: TimeRange | None = None, role: str | None = "served",
                      latency: bool = True) -> pl.DataFrame:
        """Per-version confusion counts and the exact median label latency."""
        st = sql.confusion(model_name, versions, time_range, role, by_version=True,
                           bucket_us=None, origin_us=None, d=SPARK)
        if not latency:
            return fin.counts(self._merged(st, model_name, time_range), None)
        counts = self._merged(_banded(st), model_name, time_range)
        return fin.counts(counts, self._latencies(model_name, versions, time_range, role, counts))

    def _latencies(self, model: str, versions: Sequence[str] | None, span: TimeRange | None,
                   role: str | None, banded: pl.DataFrame) -> pl.DataFrame:
        """Latency value counts that give the exact median, without one row per distinct value.

        Latencies below (above) each version's approximate band around the median (the
        ``lat_q`` column of a `_banded` result) are counted under one value just below (above)
        the band; if a median rank falls outside the band the full value counts are read.
        """
        full = sql.latencies(model, versions, span, role, d=SPARK)
        bands = {v: q for v, q in banded.select("version", "lat_q").iter_rows() if q}
        if not bands:
            return self._merged(full, model, span)

        def per_version(i: int, shift: str) -> str:
            cases = " ".join(f"WHEN {literal(v)} THEN {int(q[i])}" for v, q in bands.items())
            return f"(CASE version {cases} END){shift}"

        lo, hi = per_version(0, ""), per_version(1, "")
        where, params = sql.where_clause(model, versions, span, role=role)
        stmt = (f"SELECT version, CASE WHEN l < {lo} THEN {per_version(0, ' - 1')} WHEN l > {hi} "
                f"THEN {per_version(1, ' + 1')} ELSE l END AS latency_us, count(*) AS k FROM "
                f"(SELECT version, {_LATENCY} AS l FROM {{src}} WHERE {where} "
                "AND actual IS NOT NULL) t GROUP BY 1, 2")
        lat = fin.merge([self._run(stmt, params, model, days(span))], full.keys)
        for version, (low, high) in bands.items():
            mine = lat.filter(pl.col("version") == version)
            n = int(mine["k"].sum())
            below = int(mine.filter(pl.col("latency_us") < low)["k"].sum())
            above = int(mine.filter(pl.col("latency_us") > high)["k"].sum())
            if not below <= (n - 1) // 2 <= n // 2 < n - above:
                return self._merged(full, model, span)
        return lat

    def error_stream(self, model_name: str, version: str, *,
                     time_range: TimeRange | None = None, role: str | None = "served"
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Labelled rows in time order: ``(ts as epoch seconds, error 0/1)``."""
        where, params = sql.where_clause(model_name, [version], time_range, role=role)
        stmt = (f"SELECT {SPARK.epoch_us.format(c='ts')} AS t_us, CASE WHEN prediction <> "
                f"actual THEN 1 ELSE 0 END AS e FROM {{src}} WHERE {where} "
                "AND actual IS NOT NULL")
        frame = self._run(stmt, params, model_name, days(time_range))
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
        frame = fin.merge([self._run(st.sql, st.params, model_name, (first, last))], st.keys)
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
        span = cover(ref.time_range, cur.time_range)
        st = sql.numeric_stats(model_name, numeric, ref, cur, role, d=SPARK)
        parts = [self._run(st.sql, st.params, model_name, span)]
        cats = None
        if categorical:
            ct = sql.category_counts(model_name, categorical, ref, cur, role, d=SPARK)
            cats = fin.merge([self._run(ct.sql, ct.params, model_name, span)], ct.keys)
        return fin.side_stats(parts, cats, numeric, categorical)

    def numeric_histograms(self, model_name: str, ranges: dict[str, tuple[float, float]],
                           ref: Side, cur: Side, *, bins: int = 2000,
                           role: str | None = "served") -> dict[str, np.ndarray]:
        """``{column: counts of shape (2, bins)}`` from the long UNPIVOT form."""
        if not ranges:
            return {}
        st = sql.feature_histograms(model_name, ranges, ref, cur, bins, role, d=SPARK)
        long = self._run(st.sql, st.params, model_name, cover(ref.time_range, cur.time_range))
        out = {col: np.zeros((2, bins)) for col in ranges}
        for side, col, b, n in long.iter_rows():
            out[col][int(side), int(b)] = n
        return out

    def side_rows(self, model_name: str, columns: Sequence[str], side: Side, *,
                  role: str | None = "served", finite: Sequence[str] = ()) -> pl.DataFrame:
        """The raw values of ``columns`` on one side."""
        stmt, params = sql.rows(model_name, columns, side, role, finite, d=SPARK)
        return self._run(stmt, params, model_name, days(side.time_range))

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
        frame = self._run(stmt, params, model_name, days(time_range))
        return frame.with_columns(pl.col("score").cast(pl.Float64),
                                  pl.col("actual").cast(pl.UInt8))

    def has_shadow_rows(self, model_name: str, versions: Sequence[str],
                        time_range: TimeRange | None) -> bool:
        """Whether any of ``versions`` logged shadow rows in the range."""
        where, params = sql.where_clause(model_name, versions, time_range)
        stmt = f"SELECT 1 AS x FROM {{src}} WHERE {where} AND role = 'shadow' LIMIT 1"
        return self._run(stmt, params, model_name, days(time_range)).height > 0

    def paired_counts(self, model_name: str, version_a: str, version_b: str,
                      time_range: TimeRange | None) -> pl.DataFrame:
        """``pred_a, pred_b, actual, n`` over units both versions scored."""
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
        return self._run(stmt, [*params_a, *params_b], model_name, days(time_range))

    def __repr__(self) -> str:
        return f"SparkEngine({str(self.path)!r})"
