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
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlmkit._lazy import require
from mlmkit.exceptions import StoreError
from mlmkit.store.engines import _finish as fin
from mlmkit.store.engines import portable as sql
from mlmkit.store.engines.dataset import load_manifest, partition_files
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange

__all__ = ["SPARK", "SparkEngine", "local_session"]

SPARK = sql.Dialect("spark", "unix_micros({c})",
                    "CASE WHEN isnan({c}) OR abs({c}) = CAST('Infinity' AS DOUBLE) THEN NULL "
                    "ELSE {c} END", "`")

_TYPES = {"prediction_id": "STRING", "model_name": "STRING", "version": "STRING",
          "ts": "TIMESTAMP", "prediction": "BOOLEAN", "score": "DOUBLE",
          "confidence": "DOUBLE", "unit_id": "STRING", "role": "STRING", "actual": "BOOLEAN",
          "labelled_at": "TIMESTAMP"}
_VIEWS = 32  # temporary views (one per model and day range) kept per engine
_serial = itertools.count()


def local_session(*, master: str = "local[*]", shuffle_partitions: int = 4,
                  config: dict[str, str] | None = None) -> Any:
    """A SparkSession for this machine (or the active one): UTC, quiet, small shuffles.

    Parameters
    ----------
    master
        Spark master URL; ``local[*]`` uses every core of this machine.
    shuffle_partitions
        ``spark.sql.shuffle.partitions`` (Spark's default of 200 is meant for clusters; the
        aggregates here are small).
    config
        Further ``spark.*`` settings.
    """
    sql_mod = require("pyspark.sql", "spark")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = {"spark.sql.session.timeZone": "UTC", "spark.ui.enabled": "false",
                "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": str(int(shuffle_partitions)),
                **(config or {})}
    builder = sql_mod.SparkSession.builder.master(master).appName("mlmkit")
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


_LATENCY = "unix_micros(labelled_at) - unix_micros(ts)"
_BAND = 0.001  # half-width (in rank fraction) of the band read exactly around the median


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _banded(st: sql.Statement) -> sql.Statement:
    """``st`` (one row per version) plus ``lat_q``: approximate latency quantiles 0.5 +- band."""
    q = (f"percentile_approx(CASE WHEN actual IS NOT NULL THEN {_LATENCY} END, "
         f"array({0.5 - _BAND}, {0.5 + _BAND}), 100000) AS lat_q")
    return sql.Statement(st.sql.replace(" FROM {src}", f", {q} FROM {{src}}", 1), st.params,
                         st.keys)


def _days(span: TimeRange | None) -> tuple[date | None, date | None]:
    if span is None:
        return None, None
    return (span.start.astimezone(UTC).date(),
            (span.end - timedelta(microseconds=1)).astimezone(UTC).date())


def _cover(a: TimeRange, b: TimeRange) -> tuple[date | None, date | None]:
    return _days(TimeRange(min(a.start, b.start), max(a.end, b.end)))


class SparkEngine:
    """A [`StatisticsEngine`][mlmkit.store.engines.StatisticsEngine] on Apache Spark.

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
        cols = [f"`{c}` {t}" for c, t in _TYPES.items()]
        cols += [f"`{f['dataset_column']}` {'STRING' if f['kind'] == 'categorical' else 'DOUBLE'}"
                 for f in feats.values()]
        return ", ".join([*cols, "`date` DATE"])

    def _view(self, model: str, span: tuple[date | None, date | None]) -> str:
        """A temporary view of the model's day files in ``span``, features also by storage name."""
        files = tuple(str(f) for f in partition_files(self.path, self.manifest, model, *span))
        key = (model, files)
        if key in self._views:
            self._views.move_to_end(key)
            return self._views[key]
        schema = self._schema(model)
        if files:
            frame = self.spark.read.schema(schema).option("basePath", str(self.path)) \
                .parquet(*files)
        else:
            frame = self.spark.createDataFrame([], schema)
        feats = self.manifest["models"].get(model, {}).get("features", {})
        frame = frame.selectExpr("*", *[f"`{f['dataset_column']}` AS `{f['column']}`"
                                        for f in feats.values()
                                        if f["dataset_column"] != f["column"]])
        view = f"{self._tag}_{next(_serial)}"
        frame.createOrReplaceTempView(view)
        self._views[key] = view
        if len(self._views) > _VIEWS:
            _, old = self._views.popitem(last=False)
            self.spark.catalog.dropTempView(old)
        return view

    def _run(self, stmt: str, params: list[Any], model: str,
             span: tuple[date | None, date | None] = (None, None)) -> pl.DataFrame:
        """Run one statement over the model's rows in ``span``; a polars frame (UTC times)."""
        text = stmt.replace("{src}", self._view(model, span))
        errors = require("pyspark.errors", "spark")
        try:
            table = self.spark.sql(text, args=list(params)).toArrow()
        except (errors.PySparkException, require("py4j.protocol", "spark").Py4JError) as err:
            raise StoreError(f"Spark failed on {model!r}: {err}") from err
        frame = pl.DataFrame(pl.from_arrow(table))
        return frame.with_columns(pl.col(c).dt.convert_time_zone("UTC") for c, t in
                                  frame.schema.items() if isinstance(t, pl.Datetime))

    def _merged(self, st: sql.Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        return fin.merge([self._run(st.sql, st.params, model, _days(span))], st.keys)

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
        st = sql.histogram(model_name, versions, time_range, role, bins, labelled_only)
        return self._merged(st, model_name, time_range)

    def window_summary(self, model_name: str, *, versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None, bins: int = 10_000,
                       role: str | None = "served") -> tuple[pl.DataFrame, pl.DataFrame]:
        """Per-version totals and labelled score histograms."""
        totals = self._merged(_banded(sql.totals(model_name, versions, time_range, role)),
                              model_name, time_range)
        out = fin.totals(totals, self._latencies(model_name, versions, time_range, role, totals))
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
            cases = " ".join(f"WHEN {_literal(v)} THEN {int(q[i])}" for v, q in bands.items())
            return f"(CASE version {cases} END){shift}"

        lo, hi = per_version(0, ""), per_version(1, "")
        where, params = sql.where_clause(model, versions, span, role=role)
        stmt = (f"SELECT version, CASE WHEN l < {lo} THEN {per_version(0, ' - 1')} WHEN l > {hi} "
                f"THEN {per_version(1, ' + 1')} ELSE l END AS latency_us, count(*) AS k FROM "
                f"(SELECT version, {_LATENCY} AS l FROM {{src}} WHERE {where} "
                "AND actual IS NOT NULL) t GROUP BY 1, 2")
        lat = fin.merge([self._run(stmt, params, model, _days(span))], full.keys)
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
        frame = self._run(stmt, params, model_name, _days(time_range))
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
        span = _cover(ref.time_range, cur.time_range)
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
        long = self._run(st.sql, st.params, model_name, _cover(ref.time_range, cur.time_range))
        out = {col: np.zeros((2, bins)) for col in ranges}
        for side, col, b, n in long.iter_rows():
            out[col][int(side), int(b)] = n
        return out

    def side_rows(self, model_name: str, columns: Sequence[str], side: Side, *,
                  role: str | None = "served", finite: Sequence[str] = ()) -> pl.DataFrame:
        """The raw values of ``columns`` on one side."""
        stmt, params = sql.rows(model_name, columns, side, role, finite, d=SPARK)
        return self._run(stmt, params, model_name, _days(side.time_range))

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
        frame = self._run(stmt, params, model_name, _days(time_range))
        return frame.with_columns(pl.col("score").cast(pl.Float64),
                                  pl.col("actual").cast(pl.UInt8))

    def has_shadow_rows(self, model_name: str, versions: Sequence[str],
                        time_range: TimeRange | None) -> bool:
        """Whether any of ``versions`` logged shadow rows in the range."""
        where, params = sql.where_clause(model_name, versions, time_range)
        stmt = f"SELECT 1 AS x FROM {{src}} WHERE {where} AND role = 'shadow' LIMIT 1"
        return self._run(stmt, params, model_name, _days(time_range)).height > 0

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
        return self._run(stmt, [*params_a, *params_b], model_name, _days(time_range))

    def __repr__(self) -> str:
        return f"SparkEngine({str(self.path)!r})"
