"""The statistics-engine seam: every aggregate the services read, as one small protocol.

An engine answers the read-only aggregates of the prediction log (confusion counts, window
totals, score histograms, daily rows, feature statistics and histograms, tuning grid cells,
paired counts) with exactly the small frames the analysis layer consumes. Writes and workspace
state (registry, alerts, jobs, rollouts, daily summaries) stay in the DuckDB workspace.

Implementations: `WorkspaceEngine` (the workspace's own
DuckDB file, today's SQL) and `ParquetEngine` (DuckDB over
an exported hive-partitioned Parquet dataset, in-process or over worker processes whose
partial counts and sums are merged). A Spark engine implements the same methods with the
portable statements of `mlmkit.store.engines.portable`.

`TaskStatisticsEngine` holds the aggregates of multiclass, regression and score-only models
(`mlmkit.store.engines.portable_tasks`); an engine gets them from the
`mlmkit.store.engines.tasks.TaskAggregates` mixin by providing ``_merged`` and ``dialect``.
It is a protocol of its own so that an engine without them still is a `StatisticsEngine`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl

from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange

__all__ = ["Side", "StatisticsEngine", "TaskStatisticsEngine", "scope"]


def scope(engine: object, model_name: str, time_range: TimeRange | None
          ) -> AbstractContextManager[None]:
    """A block in which ``engine``'s calls on one model and window may share work.

    The optional ``scope(model_name, time_range)`` method of an engine: `SparkEngine` caches
    the model's rows of the window in Spark's memory (its ``cached``); an engine without one
    (the workspace engine) and the Parquet engine get a ``nullcontext``. Results are those of
    the same calls outside the block.
    """
    opener = getattr(engine, "scope", None)
    return opener(model_name, time_range) if callable(opener) else nullcontext()


@runtime_checkable
class StatisticsEngine(Protocol):
    """Read-only aggregates of the prediction log (the columns are those of the store functions).

    Every method filters on one model, optional versions, a time range (``start <= ts < end``)
    and a role (``None`` = every role). Frames come back ordered by their group columns.
    """

    name: str

    def confusion_counts(self, model_name: str, *, versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None, by_version: bool = True,
                         interval: timedelta | None = None, role: str | None = "served"
                         ) -> pl.DataFrame:
        """Confusion cells and score sums per version (and ``bucket`` with ``interval``)."""
        ...

    def score_histogram(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, bins: int = 10_000,
                        labelled_only: bool = True, role: str | None = "served"
                        ) -> pl.DataFrame:
        """``version, bin, pos, neg, n`` per score bin."""
        ...

    def window_summary(self, model_name: str, *, versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None, bins: int = 10_000,
                       role: str | None = "served") -> tuple[pl.DataFrame, pl.DataFrame]:
        """Per-version window totals and labelled score histograms."""
        ...

    def window_counts(self, model_name: str, *, versions: Sequence[str] | None = None,
                      time_range: TimeRange | None = None, role: str | None = "served",
                      latency: bool = True) -> pl.DataFrame:
        """Per-version confusion counts and the exact median label latency."""
        ...

    def error_stream(self, model_name: str, version: str, *,
                     time_range: TimeRange | None = None, role: str | None = "served"
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Labelled rows in time order: ``(ts as epoch seconds, error 0/1)``."""
        ...

    def daily_rows(self, model_name: str, *, versions: Sequence[str] | None = None,
                   start: datetime | None = None, end: datetime | None = None,
                   role: str = "served") -> pl.DataFrame:
        """Per-version, per-UTC-day statistics computed from the rows."""
        ...

    def daily_summaries(self, model_name: str, *, versions: Sequence[str] | None = None,
                        start: datetime | None = None, end: datetime | None = None
                        ) -> pl.DataFrame:
        """Stored per-day summaries of days retention removed (empty where none are kept)."""
        ...

    def side_stats(self, model_name: str, numeric: Sequence[str], categorical: Sequence[str],
                   ref: Side, cur: Side, *, role: str | None = "served"
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Feature statistics and categorical value counts of a reference and a current side."""
        ...

    def numeric_histograms(self, model_name: str, ranges: dict[str, tuple[float, float]],
                           ref: Side, cur: Side, *, bins: int = 2000,
                           role: str | None = "served") -> dict[str, np.ndarray]:
        """``{column: counts of shape (2, bins)}`` on shared equal-width bins."""
        ...

    def side_rows(self, model_name: str, columns: Sequence[str], side: Side, *,
                  role: str | None = "served", finite: Sequence[str] = ()) -> pl.DataFrame:
        """The raw values of ``columns`` on one side (small samples)."""
        ...

    def grid_cell_counts(self, model_name: str, thresholds: Sequence[float], *,
                         versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None,
                         role: str | None = "served") -> pl.DataFrame:
        """``cell, pos, neg, min_score`` per cell between sorted thresholds."""
        ...

    def labelled_scores(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None,
                        role: str | None = "served") -> pl.DataFrame:
        """``score`` (Float64) and ``actual`` (UInt8) of the labelled, scored rows."""
        ...

    def has_shadow_rows(self, model_name: str, versions: Sequence[str],
                        time_range: TimeRange | None) -> bool:
        """Whether any of ``versions`` logged shadow rows in the range."""
        ...

    def paired_counts(self, model_name: str, version_a: str, version_b: str,
                      time_range: TimeRange | None) -> pl.DataFrame:
        """``pred_a, pred_b, actual, n`` over units both versions scored."""
        ...


@runtime_checkable
class TaskStatisticsEngine(Protocol):
    """Per-task aggregates of labelled rows in a window, per version (and ``bucket``).

    Same filters as `StatisticsEngine`; partial aggregates merge exactly across workers.
    """

    name: str

    def class_confusion(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, interval: timedelta | None = None,
                        role: str | None = "served") -> pl.DataFrame:
        """``version[, bucket], actual, predicted, count`` (``actual`` NULL: unlabelled)."""
        ...

    def class_log_loss(self, model_name: str, *, versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None, interval: timedelta | None = None,
                       role: str | None = "served") -> pl.DataFrame:
        """``version[, bucket], n, sum_neg_log_p`` (p clipped to [eps, 1 - eps])."""
        ...

    def class_score_histogram(self, model_name: str, *, versions: Sequence[str] | None = None,
                              time_range: TimeRange | None = None, bins: int = 1000,
                              role: str | None = "served") -> pl.DataFrame:
        """``version, class, bin, positives, negatives`` on uniform bins of [0, 1]."""
        ...

    def regression_sums(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, interval: timedelta | None = None,
                        role: str | None = "served") -> pl.DataFrame:
        """``version[, bucket], total`` and the ``RegressionSums`` fields, ``lo``, ``hi``."""
        ...

    def regression_pairs(self, model_name: str, *, versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None,
                         role: str | None = "served") -> pl.DataFrame:
        """``version, actual, predicted, count``: labelled rows as weighted distinct pairs."""
        ...

    def residual_histogram(self, model_name: str, *, versions: Sequence[str] | None = None,
                           time_range: TimeRange | None = None, bins: int = 1000,
                           ranges: Mapping[str, tuple[float, float]] | None = None,
                           role: str | None = "served") -> pl.DataFrame:
        """``version, bin, n, lo, hi``: errors on equal bins of each version's range."""
        ...

    def class_probability_sums(self, model_name: str, version: str, *,
                               time_range: TimeRange | None = None,
                               role: str | None = "served") -> pl.DataFrame:
        """``predicted, actual, p_sum, p_sq_sum``: expected confusion sums of CBPE."""
        ...

    def task_error_stream(self, model_name: str, version: str, *, task: str,
                          time_range: TimeRange | None = None, role: str | None = "served"
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Labelled rows in time order: ``(ts as epoch seconds, error or residual)``."""
        ...

    def score_totals(self, model_name: str, *, versions: Sequence[str] | None = None,
                     time_range: TimeRange | None = None, interval: timedelta | None = None,
                     role: str | None = "served") -> pl.DataFrame:
        """Per version: ``total, n, sum_score, sum_squared_score, lo, hi, flagged, ...``.

        Also ``flag_n`` (rows with a flag), ``labelled`` and ``confirmed``.
        """
        ...

    def score_distribution(self, model_name: str, *, versions: Sequence[str] | None = None,
                           time_range: TimeRange | None = None, bins: int = 1000,
                           ranges: Mapping[str, tuple[float, float]] | None = None,
                           role: str | None = "served") -> pl.DataFrame:
        """``version, bin, n, lo, hi``: scores on equal bins of each version's range."""
        ...
