"""The per-task aggregates of every engine, written once over the portable partial statements.

`TaskAggregates` is a mixin: an engine that can run a portable `Statement` and merge its
partials (``_merged(statement, model, span)``) in its ``dialect`` gets every method of
[`TaskStatisticsEngine`][mlmkit.store.engines.TaskStatisticsEngine] from it. Histogram
edges that depend on the data (residuals, scores of a score-only model) take two scans: the
sums statement's ``lo`` / ``hi`` per version, then the bins.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from mlmkit._spread import cancels
from mlmkit.store.engines import _finish as fin
from mlmkit.store.engines import portable_tasks as tsql
from mlmkit.store.engines.portable import DUCKDB, Dialect, Statement
from mlmkit.values import TimeRange

if TYPE_CHECKING:
    from mlmkit.store.engines.segments import ResolvedSegment

__all__ = ["LOG_EPS_LOSS", "TaskAggregates", "centred"]

#: ``-ln(eps)``: the clipped loss of a row whose probabilities leave out its actual class.
LOG_EPS_LOSS = -math.log(tsql.EPS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _bucketing(span: TimeRange | None, interval: timedelta | None
               ) -> tuple[datetime, int | None, int]:
    origin = span.start if span is not None else _EPOCH
    step = None if interval is None else int(interval / timedelta(microseconds=1))
    return origin, step, fin.epoch_us(origin)


def _edges_frame(hist: pl.DataFrame, ranges: Mapping[str, tuple[float, float]]) -> pl.DataFrame:
    lo = pl.col("version").replace_strict({v: r[0] for v, r in ranges.items()},
                                          return_dtype=pl.Float64)
    hi = pl.col("version").replace_strict({v: r[1] for v, r in ranges.items()},
                                          return_dtype=pl.Float64)
    return hist.with_columns(lo.alias("lo"), hi.alias("hi"))


def centred(frame: pl.DataFrame, rerun: Callable[[float], pl.DataFrame],
            of: str = "actual") -> pl.DataFrame:
    """``frame`` with ``shift_<of>``; read again centred when its sums of squares cancel.

    ``of``: ``"actual"`` (a ``regression_sums`` frame: ``sum_actual``, ``sum_squared_actual``)
    or ``"score"`` (``score_totals``: ``sum_score``, ``sum_squared_score``); ``n`` counts the
    summed values. When some group's values have a mean far beyond their spread
    (`mlmkit._spread.cancels`: R²'s ``Σy² - (Σy)²/n`` of ETA targets as epoch seconds, 1.7e9
    ± 60, gave 0.7158 where scikit-learn says 0.7428), the sums of ``value - c`` with ``c``
    the frame's mean (``rerun(c)``: the same statement over the rows, one more scan) replace
    them, exact to rounding whatever the offset; a group whose own mean is far from ``c`` as
    well keeps what precision that gives. Constant values (``Σ(y - ȳ)² = 0``) read again too,
    and then say so exactly.
    """
    column = f"shift_{of}"
    shifted = frame.with_columns(pl.lit(0.0).alias(column))
    if not frame.height or f"sum_{of}" not in frame.columns:
        return shifted
    n, total, squares = (frame[c].cast(pl.Float64).fill_null(0.0).to_list()
                         for c in ("n", f"sum_{of}", f"sum_squared_{of}"))
    labelled = sum(n)
    mean = sum(total) / labelled if labelled else math.nan
    if not any(map(cancels, n, total, squares)) or not math.isfinite(mean):
        return shifted
    return rerun(mean).with_columns(pl.lit(mean).alias(column))


class TaskAggregates:
    """Multiclass, regression and score-only aggregates over `_merged` (see the module)."""

    dialect: Dialect = DUCKDB

    def _merged(self, st: Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        raise NotImplementedError  # provided by the engine

    # ------------------------------------------------------------------ multiclass
    def class_confusion(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, interval: timedelta | None = None,
                        role: str | None = "served", segment: ResolvedSegment | None = None
                        ) -> pl.DataFrame:
        """``version[, bucket], actual, predicted, count`` (``actual`` NULL: unlabelled rows).

        ``segment`` (a `ResolvedSegment`) groups by its keys ``segment_0..`` too, after
        ``version``, and keeps only the rows its filter selects.
        """
        origin, step, origin_us = _bucketing(time_range, interval)
        st = tsql.class_confusion(model_name, versions, time_range, role, bucket_us=step,
                                  origin_us=origin_us, d=self.dialect, seg=segment)
        return fin.buckets(_limited(self._merged(st, model_name, time_range), segment), origin,
                           interval)

    def _class_log_loss_by_actual(self, model_name: str, versions: Sequence[str] | None,
                                  time_range: TimeRange | None, interval: timedelta | None,
                                  role: str | None, segment: ResolvedSegment | None = None
                                  ) -> pl.DataFrame:
        origin, step, origin_us = _bucketing(time_range, interval)
        st = tsql.class_log_loss(model_name, versions, time_range, role, bucket_us=step,
                                 origin_us=origin_us, d=self.dialect, seg=segment)
        frame = fin.buckets(self._merged(st, model_name, time_range), origin, interval)
        return frame.with_columns(
            pl.col("n").cast(pl.Int64), pl.col("matched").cast(pl.Int64),
            (pl.col("sum_neg_log_p").fill_null(0.0)
             + (pl.col("n") - pl.col("matched")).cast(pl.Float64) * LOG_EPS_LOSS)
            .alias("sum_neg_log_p"))

    def class_log_loss(self, model_name: str, *, versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None, interval: timedelta | None = None,
                       role: str | None = "served", segment: ResolvedSegment | None = None
                       ) -> pl.DataFrame:
        """``version[, bucket], n, sum_neg_log_p`` over labelled rows with probabilities.

        ``sum_neg_log_p`` is ``Σ -ln clip(p(actual), eps, 1 - eps)`` (``eps`` = 2.22e-16, as
        scikit-learn's ``log_loss``); an actual class missing from a row's list has ``p = 0``.
        ``segment``: as in `class_confusion` (one row per version and segment).
        """
        frame = self._class_log_loss_by_actual(model_name, versions, time_range, interval,
                                               role, segment)
        keys = ["version", *(segment.key_names() if segment is not None else []),
                *(["bucket"] if "bucket" in frame.columns else [])]
        return frame.group_by(keys, maintain_order=True).agg(
            pl.col("n").sum(), pl.col("sum_neg_log_p").sum()).sort(keys)

    def class_score_histogram(self, model_name: str, *, versions: Sequence[str] | None = None,
                              time_range: TimeRange | None = None, bins: int = 1000,
                              role: str | None = "served",
                              segment: ResolvedSegment | None = None) -> pl.DataFrame:
        """``version, class, bin, positives, negatives``: one-vs-rest histograms of ``p(class)``.

        ``bins`` uniform bins on [0, 1] shared by every class, over the labelled rows with
        probabilities; a row is a positive of ``class`` when its actual is that class. A class
        a row's list leaves out (probability 0) counts in bin 0, so every class has ``n`` rows.
        ``segment``: its keys after ``version``, each segment's classes and rows its own.
        """
        st = tsql.class_histogram(model_name, versions, time_range, role, bins, d=self.dialect,
                                  seg=segment)
        hist = self._merged(st, model_name, time_range).with_columns(
            pl.col("bin").cast(pl.Int64), pl.col("positives").cast(pl.Int64),
            pl.col("negatives").cast(pl.Int64))
        by_actual = self._class_log_loss_by_actual(model_name, versions, time_range, None, role,
                                                   segment)
        return _fill_missing(hist, by_actual, ["version", *(
            segment.key_names() if segment is not None else [])])

    # ------------------------------------------------------------------ regression
    def regression_sums(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, interval: timedelta | None = None,
                        role: str | None = "served", segment: ResolvedSegment | None = None
                        ) -> pl.DataFrame:
        """One row per version (and ``bucket``): ``total`` rows, then the `RegressionSums` fields.

        Columns ``n, sum_error, sum_abs_error, sum_squared_error, sum_actual,
        sum_squared_actual, sum_abs_percentage_error, zero_actuals,
        sum_squared_abs_percentage_error, sum_fourth_error`` over labelled rows (``error =
        prediction - actual``; the percentage sums over non-zero actuals) and ``lo`` / ``hi``
        the smallest and largest error. ``segment``: as in `class_confusion`. ``shift_actual``:
        the constant ``sum_actual`` / ``sum_squared_actual`` are sums of ``actual - c`` of
        (0.0, or the mean when their plain sums cancel: `centred`).
        """
        def raw(shift: float | None) -> pl.DataFrame:
            return self._regression_sums(model_name, versions, time_range, interval, role,
                                         segment, shift)

        return centred(raw(None), raw)

    def _regression_sums(self, model: str, versions: Sequence[str] | None,
                         span: TimeRange | None, interval: timedelta | None, role: str | None,
                         segment: ResolvedSegment | None, shift: float | None = None
                         ) -> pl.DataFrame:
        """`regression_sums` of the rows, its actuals' sums of ``actual - shift``."""
        origin, step, origin_us = _bucketing(span, interval)
        st = tsql.regression_sums(model, versions, span, role, bucket_us=step,
                                  origin_us=origin_us, d=self.dialect, seg=segment, shift=shift)
        frame = fin.buckets(_limited(self._merged(st, model, span), segment), origin, interval)
        sums = [c for c in frame.columns if c.startswith("sum_")]
        return frame.with_columns(*[pl.col(c).cast(pl.Float64).fill_null(0.0) for c in sums],
                                  *[pl.col(c).cast(pl.Int64) for c in
                                    ("total", "n", "zero_actuals")])

    def regression_pairs(self, model_name: str, *, versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None, role: str | None = "served",
                         segment: ResolvedSegment | None = None) -> pl.DataFrame:
        """``version, actual, predicted, count``: labelled rows as weighted distinct pairs.

        For tests that need rows (the bootstrap of RMSE or R²); one group per distinct pair.
        ``segment``: its keys after ``version`` (sorted by version, segment, actual, predicted).
        """
        st = tsql.regression_pairs(model_name, versions, time_range, role, d=self.dialect,
                                   seg=segment)
        keys = ["version", *(segment.key_names() if segment is not None else [])]
        return self._merged(st, model_name, time_range).with_columns(
            pl.col("actual").cast(pl.Float64), pl.col("predicted").cast(pl.Float64),
            pl.col("count").cast(pl.Int64)).sort(*keys, "actual", "predicted",
                                                  nulls_last=True)

    def residual_histogram(self, model_name: str, *, versions: Sequence[str] | None = None,
                           time_range: TimeRange | None = None, bins: int = 1000,
                           ranges: Mapping[str, tuple[float, float]] | None = None,
                           role: str | None = "served") -> pl.DataFrame:
        """``version, bin, n, lo, hi``: labelled errors on ``bins`` equal bins of ``[lo, hi]``.

        ``ranges`` maps version to its ``(lo, hi)``; default each version's smallest and
        largest error in the window (one more scan). The last bin is closed.
        """
        if ranges is None:
            sums = self.regression_sums(model_name, versions=versions, time_range=time_range,
                                        role=role).filter(pl.col("n") > 0)
            ranges = {v: (lo, hi) for v, lo, hi in sums.select("version", "lo", "hi").rows()}
        return self._edged(tsql.residual_histogram(model_name, ranges, time_range, role, bins)
                           if ranges else None, model_name, time_range, ranges)

    def class_probability_sums(self, model_name: str, version: str, *,
                               time_range: TimeRange | None = None,
                               role: str | None = "served") -> pl.DataFrame:
        """``predicted, actual, p_sum, p_sq_sum`` of one version's rows with probabilities."""
        st = tsql.class_probability_sums(model_name, version, time_range, role, d=self.dialect)
        return self._merged(st, model_name, time_range).with_columns(
            pl.col("p_sum").cast(pl.Float64), pl.col("p_sq_sum").cast(pl.Float64))

    def task_error_stream(self, model_name: str, version: str, *, task: str,
                          time_range: TimeRange | None = None, role: str | None = "served"
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Labelled rows in time order: ``(ts as epoch seconds, error)``.

        ``task`` ``"multiclass"``: error 1.0 for a misclassified row, else 0.0;
        ``"regression"``: the residual ``prediction - actual``. Rows of one timestamp come
        in increasing error order.
        """
        st = tsql.error_stream(model_name, version, time_range, role, task, d=self.dialect)
        frame = self._merged(st, model_name, time_range).sort("t_us", "e")
        k = frame["k"].cast(pl.Int64).to_numpy()
        return (np.repeat(frame["t_us"].cast(pl.Float64).to_numpy() / 1e6, k),
                np.repeat(frame["e"].cast(pl.Float64).to_numpy(), k))

    # ------------------------------------------------------------------ score-only
    def score_totals(self, model_name: str, *, versions: Sequence[str] | None = None,
                     time_range: TimeRange | None = None, interval: timedelta | None = None,
                     role: str | None = "served", segment: ResolvedSegment | None = None
                     ) -> pl.DataFrame:
        """Volumes and sums of a score-only model's rows per version (and ``bucket``).

        ``total, n, sum_score, sum_squared_score, lo, hi, flagged, flag_n, labelled,
        confirmed, shift_score`` (the score sums are of ``score - shift_score``: `centred`).
        ``segment``: as in `class_confusion`.
        """
        def raw(shift: float | None) -> pl.DataFrame:
            origin, step, origin_us = _bucketing(time_range, interval)
            st = tsql.score_totals(model_name, versions, time_range, role, bucket_us=step,
                                   origin_us=origin_us, d=self.dialect, seg=segment,
                                   shift=shift)
            frame = fin.buckets(_limited(self._merged(st, model_name, time_range), segment),
                                origin, interval)
            return frame.with_columns(
                *[pl.col(c).cast(pl.Float64).fill_null(0.0) for c in ("sum_score",
                                                                       "sum_squared_score")],
                *[pl.col(c).cast(pl.Int64) for c in ("total", "n", "flagged", "flag_n",
                                                     "labelled", "confirmed")])

        return centred(raw(None), raw, "score")

    def score_distribution(self, model_name: str, *, versions: Sequence[str] | None = None,
                           time_range: TimeRange | None = None, bins: int = 1000,
                           ranges: Mapping[str, tuple[float, float]] | None = None,
                           role: str | None = "served") -> pl.DataFrame:
        """``version, bin, n, lo, hi``: scores on ``bins`` equal bins of each version's range.

        ``ranges`` as in `residual_histogram` (default the window's smallest and largest score).
        """
        if ranges is None:
            totals = self.score_totals(model_name, versions=versions, time_range=time_range,
                                       role=role).filter(pl.col("n") > 0)
            ranges = {v: (lo, hi) for v, lo, hi in totals.select("version", "lo", "hi").rows()}
        return self._edged(tsql.score_histogram(model_name, ranges, time_range, role, bins)
                           if ranges else None, model_name, time_range, ranges)

    def _edged(self, st: Statement | None, model: str, span: TimeRange | None,
               ranges: Mapping[str, tuple[float, float]]) -> pl.DataFrame:
        if st is None:
            return pl.DataFrame(schema={"version": pl.String, "bin": pl.Int64, "n": pl.Int64,
                                        "lo": pl.Float64, "hi": pl.Float64})
        hist = self._merged(st, model, span).with_columns(pl.col("bin").cast(pl.Int64),
                                                          pl.col("n").cast(pl.Int64))
        return _edges_frame(hist, ranges).sort("version", "bin")


def _fill_missing(hist: pl.DataFrame, by_actual: pl.DataFrame, keys: Sequence[str] = ("version",)
                  ) -> pl.DataFrame:
    """Add to bin 0 each class's rows whose list left it out (so every class covers n rows).

    ``keys``: the groups (``version`` and any segment keys) whose classes and rows are apart.
    """
    k = list(keys)
    kc = [*k, "class"]
    totals = by_actual.group_by(k).agg(pl.col("n").sum().alias("rows"))
    support = by_actual.select(*k, pl.col("actual").alias("class"),
                               pl.col("n").alias("support"))
    classes = pl.concat([hist.select(kc), support.select(kc)],
                        how="vertical_relaxed").unique()
    counted = hist.group_by(kc).agg(
        pl.col("positives").sum().alias("pos"), pl.col("negatives").sum().alias("neg"))
    fill = (classes.join(totals, on=k, how="left", nulls_equal=True)
            .join(support, on=kc, how="left", nulls_equal=True)
            .join(counted, on=kc, how="left", nulls_equal=True)
            .with_columns(pl.col(c).fill_null(0) for c in ("rows", "support", "pos", "neg"))
            .select(*kc, pl.lit(0, pl.Int64).alias("bin"),
                    (pl.col("support") - pl.col("pos")).cast(pl.Int64).alias("positives"),
                    (pl.col("rows") - pl.col("support") - pl.col("neg")).cast(pl.Int64)
                    .alias("negatives"))
            .filter((pl.col("positives") > 0) | (pl.col("negatives") > 0)))
    out = pl.concat([hist.select(*kc, "bin", "positives", "negatives"), fill],
                    how="vertical_relaxed")
    return out.group_by(*kc, "bin").agg(
        pl.col("positives").sum(), pl.col("negatives").sum()).sort(*kc, "bin", nulls_last=True)


def _limited(frame: pl.DataFrame, segment: ResolvedSegment | None) -> pl.DataFrame:
    """``frame``, refused when a ``segment=`` call has more segments than allowed."""
    return frame if segment is None else segment.limited(frame)
