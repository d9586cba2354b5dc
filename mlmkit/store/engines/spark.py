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
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
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
_PER_DOUBLING = 128  # label latency buckets per doubling of |latency| (see _bucketed)
_BUCKET = ("CASE WHEN mlmkit_lat >= 0 THEN CAST(floor(log2(mlmkit_lat + 1) * {k}) AS INT) "
           "ELSE -1 - CAST(floor(log2(1 - mlmkit_lat) * {k}) AS INT) END")
_BUCKET_COLUMNS = ("lat_b", "lat_min", "lat_max", "lat_k")


def _bucketed(st: sql.Statement) -> sql.Statement:
    """``st`` (one row per version) grouped also by a log-scale label latency bucket.

    Adds ``lat_b`` (the bucket: monotone in the latency, ``_PER_DOUBLING`` per doubling of its
    magnitude; null for unlabelled rows), ``lat_min``, ``lat_max`` and ``lat_k`` (the bucket's
    smallest and largest latency and their count). Every column of ``st`` is a count, sum,
    minimum or maximum, so `_split` combines the buckets back into ``st``'s rows exactly. Unlike
    Spark's ``percentile_approx`` (an object aggregate that takes every other aggregate of the
    statement off the generated-code hash aggregation: ~3x the scan), this stays one fast scan.
    """
    forms = {"SELECT version, ": (" GROUP BY 1", "GROUP BY 1, 2"),  # (one version: a parameter)
             "SELECT ? AS version, ": (" HAVING count(*) > 0", "GROUP BY 2")}
    head = next((h for h, (t, _) in forms.items()
                 if st.sql.startswith(h) and st.sql.endswith(t)), None)
    assert head is not None, st.sql
    tail, group = forms[head]
    lat = f"CASE WHEN actual IS NOT NULL THEN {_LATENCY} END"
    body = st.sql[len(head):-len(tail)].replace(
        " FROM {src}", f" FROM (SELECT *, {lat} AS mlmkit_lat FROM {{src}}) mlmkit_l", 1)
    text = (f"{head}{_BUCKET.format(k=_PER_DOUBLING)} AS lat_b, min(mlmkit_lat) AS lat_min, "
            f"max(mlmkit_lat) AS lat_max, count(mlmkit_lat) AS lat_k, {body} {group}")
    return sql.Statement(text, st.params, ("version", "lat_b"))


def _split(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, tuple[int, int]]]:
    """A `_bucketed` result: the statement's rows, and per version the latency band.

    The band ``(lo, hi)`` of a version runs from the smallest latency of the bucket holding
    rank ``(0.5 - _BAND) * (n - 1)`` to the largest of the one holding ``(0.5 + _BAND) *
    (n - 1)`` (0-based ranks among its ``n`` latencies), so it holds both median ranks;
    `SparkEngine._latencies` checks that with exact counts either way.
    """
    rows = fin.combine(frame.drop(_BUCKET_COLUMNS), ("version",))
    bands = {}
    live = frame.filter(pl.col("lat_k") > 0).sort("version", "lat_b")
    for version in live["version"].unique(maintain_order=True).to_list():
        part = live.filter(pl.col("version") == version)
        cum = part["lat_k"].cum_sum().to_numpy()
        last = int(cum[-1]) - 1
        r1 = min(max(int((0.5 - _BAND) * last), 0), last)
        r2 = min(max(math.ceil((0.5 + _BAND) * last), 0), last)
        i1, i2 = (int(np.searchsorted(cum, r, side="right")) for r in (r1, r2))
        bands[version] = (int(part["lat_min"][i1]), int(part["lat_max"][i2]))
    return rows, bands


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
    def cached(self, model_name: str, time_range: TimeRange | None = None, *,
               persist: bool = False) -> Iterator[None]:
        """Within the block, share work between the calls on ``model_name`` in ``time_range``.

        Window totals, label latencies and score histograms are computed for every version at
        once and shared by the calls of the block on that model and inside that range (a
        monitoring summary of both versions, their comparison, trend and drift is then 6
        statements instead of 12). Results are those of the same calls outside a block.

        ``persist=True`` also reads the day files of the range once into Spark's memory
        (``DataFrame.cache``, without the columns no aggregate reads; unpersisted on exit). In
        local mode that does not pay: measured on 2e7 rows (benchmarks/bench_spark.py), filling
        the cache took ~27 s and a statement over the cached rows was no faster than over the
        Parquet files (3.6-4.1 s against 3.1 s), so by default the block reads the files.
        """
        files = self._files(model_name, days(time_range))
        frame = self._frame(model_name, files).drop(*UNCACHED)
        frame = frame.cache() if persist else frame
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
                  split: bool = True, groups: int = 0) -> list[pl.DataFrame]:
        """Spark computes over every row at once: the one partial is final (no hints)."""
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
            totals, bands = _split(self._merged(
                _bucketed(sql.totals(model_name, vs, time_range, role)), model_name, time_range))
            return fin.totals(totals, self._latencies(model_name, vs, time_range, role, bands))

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
        counts, bands = _split(self._merged(_bucketed(st), model_name, time_range))
        return fin.counts(counts, self._latencies(model_name, versions, time_range, role, bands))

    def _latencies(self, model: str, versions: Sequence[str] | None, span: TimeRange | None,
                   role: str | None, bands: dict[str, tuple[int, int]]) -> pl.DataFrame:
        """Latency value counts that give the exact median, without one row per distinct value.

        Latencies below (above) each version's band ``(lo, hi)`` around the median (from
        `_split`) are counted under one value just below (above) the band; if a median rank
        falls outside the band the full value counts are read.
        """
        full = sql.latencies(model, versions, span, role, d=SPARK)
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
            mine = lat.filter(pl.col("version") == version, pl.col("latency_us").is_not_null())
            n = int(mine["k"].sum())
            below = int(mine.filter(pl.col("latency_us") < low)["k"].sum())
            above = int(mine.filter(pl.col("latency_us") > high)["k"].sum())
            if not below <= (n - 1) // 2 <= n // 2 < n - above:
                return self._merged(full, model, span)
        return lat

    def __repr__(self) -> str:
        return f"SparkEngine({str(self.path)!r})"
