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
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from mlmkit._lazy import require
from mlmkit.exceptions import StoreError
from mlmkit.store.engines import _finish as fin
from mlmkit.store.engines import portable as sql
from mlmkit.store.engines._spark import UNCACHED, Scope, days, literal, local_session, only
from mlmkit.store.engines.dataset import load_manifest, partition_files
from mlmkit.store.engines.dataset_engine import DatasetEngine
from mlmkit.store.engines.spark_tasks import SPARK, TASK_TYPES
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


class SparkEngine(DatasetEngine):
    """A [`StatisticsEngine`][mlmkit.store.engines.StatisticsEngine] on Apache Spark.

    Every aggregate, per-task and segment ones included, is the shared code of
    `mlmkit.store.engines.dataset_engine.DatasetEngine` in the Spark dialect; this class adds
    the Spark plumbing and `cached` (also as ``scope``).

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
    dialect = SPARK

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

    def _partials(self, stmt: str, params: list[Any], model: str,
                  span: tuple[date | None, date | None] = (None, None), *,
                  split: bool = True) -> list[pl.DataFrame]:
        """Spark computes over every row at once: the one partial is final."""
        return [self._run(stmt, params, model, span)]

    def scope(self, model_name: str, time_range: TimeRange | None = None
              ) -> AbstractContextManager[None]:
        """`cached`: the calls of the block read the rows from Spark's memory."""
        return self.cached(model_name, time_range)

    def _shared(self, key: tuple[Any, ...], model: str, span: TimeRange | None,
                compute: Callable[[Sequence[str] | None], pl.DataFrame],
                versions: Sequence[str] | None) -> pl.DataFrame:
        """``compute(versions)``; in a `cached` block ``compute(None)`` once, then filtered."""
        scope = self._scope
        if scope is None or not scope.covers(model, self._files(model, days(span)), ""):
            return compute(versions)
        return only(scope.shared((*key, model, span), lambda: compute(None)), versions)

    # ------------------------------------------------------------------ aggregates
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

    def __repr__(self) -> str:
        return f"SparkEngine({str(self.path)!r})"
