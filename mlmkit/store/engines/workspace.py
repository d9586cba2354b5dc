"""The workspace engine: the aggregates of the workspace's own DuckDB file (today's SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from mlmkit.store import experiments as _experiments
from mlmkit.store import tuning_runs as _tuning
from mlmkit.store.database import Database
from mlmkit.store.engines.portable import Statement, perfect_hash_bits
from mlmkit.store.engines.segments import ResolvedSegment, SegmentAggregates
from mlmkit.store.engines.tasks import TaskAggregates, centred
from mlmkit.store.predictions import aggregates as _agg
from mlmkit.store.predictions import drift as _drift
from mlmkit.store.predictions import monitoring as _mon
from mlmkit.store.predictions import regression_daily as _daily
from mlmkit.store.predictions import segment_days as _segment_days
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange

__all__ = ["WorkspaceEngine"]


class WorkspaceEngine(TaskAggregates, SegmentAggregates):
    """The `StatisticsEngine` of one workspace database.

    Each method is the store function of the same name on ``db``; ``daily_summaries`` reads
    the ``daily_summary`` table that retention keeps. The per-task aggregates
    (`TaskAggregates`) run the portable statements on the ``predictions`` table.
    """

    name = "workspace"

    def __init__(self, db: Database) -> None:
        self.db = db

    def _merged(self, st: Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        """One portable statement over the ``predictions`` table (already one row per group)."""
        frame = _agg.query(self.db, st.sql.replace("{src}", "predictions"), st.params,
                           perfect_hash_bits=perfect_hash_bits(st.groups))
        return frame.sort(list(st.keys)) if st.keys and frame.height else frame

    def regression_sums(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, interval: timedelta | None = None,
                        role: str | None = "served", segment: ResolvedSegment | None = None
                        ) -> pl.DataFrame:
        """`TaskAggregates.regression_sums`; a window's whole days from per-day sums.

        Without ``interval``, the days of the window whose rows it holds whole come from their
        per-day sums, the rest from the rows: ~one row per day read instead of every row.
        Unsegmented: ``regression_daily`` (m011, kept by every write;
        `mlmkit.store.predictions.regression_daily.window_sums`); with ``segment`` and one
        ``role``: the segment's stored days (m012, stored by the read that computes them;
        `mlmkit.store.predictions.segment_days.window_sums`).
        """
        if interval is not None or time_range is None or (segment is not None and role is None):
            return super().regression_sums(model_name, versions=versions,
                                           time_range=time_range, interval=interval, role=role,
                                           segment=segment)
        span = time_range
        if segment is not None and role is not None:
            days = _segment_days.window_sums(self.db, model_name, versions, span, role, segment,
                                             lambda part, step: self._regression_sums(
                                                 model_name, versions, part, step, role,
                                                 segment))
        else:
            days = _daily.window_sums(self.db, model_name, versions, span, role,
                                      lambda part: self._regression_sums(
                                          model_name, versions, part, None, role, None))
        return centred(days, lambda shift: self._regression_sums(  # (read again: the rows)
            model_name, versions, span, None, role, segment, shift))

    def _feature_map(self, model: str) -> dict[str, tuple[str, str]]:
        rows = self.db.execute("SELECT feature, column_name, kind FROM feature_columns "
                               "WHERE model_name = ?", [model])
        return {f: (c, k) for f, c, k in rows}

    def confusion_counts(self, model_name: str, *, versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None, by_version: bool = True,
                         interval: timedelta | None = None, role: str | None = "served"
                         ) -> pl.DataFrame:
        """See `mlmkit.store.predictions.aggregates.confusion_counts`."""
        return _agg.confusion_counts(self.db, model_name, versions=versions,
                                     time_range=time_range, by_version=by_version,
                                     interval=interval, role=role)

    def score_histogram(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, bins: int = 10_000,
                        labelled_only: bool = True, role: str | None = "served"
                        ) -> pl.DataFrame:
        """See `mlmkit.store.predictions.aggregates.score_histogram`."""
        return _agg.score_histogram(self.db, model_name, versions=versions,
                                    time_range=time_range, bins=bins,
                                    labelled_only=labelled_only, role=role)

    def window_summary(self, model_name: str, *, versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None, bins: int = 10_000,
                       role: str | None = "served") -> tuple[pl.DataFrame, pl.DataFrame]:
        """See `mlmkit.store.predictions.monitoring.window_summary`."""
        return _mon.window_summary(self.db, model_name, versions=versions,
                                   time_range=time_range, bins=bins, role=role)

    def window_counts(self, model_name: str, *, versions: Sequence[str] | None = None,
                      time_range: TimeRange | None = None, role: str | None = "served",
                      latency: bool = True) -> pl.DataFrame:
        """See `mlmkit.store.predictions.monitoring.window_counts`."""
        return _mon.window_counts(self.db, model_name, versions=versions,
                                  time_range=time_range, role=role, latency=latency)

    def error_stream(self, model_name: str, version: str, *,
                     time_range: TimeRange | None = None, role: str | None = "served"
                     ) -> tuple[np.ndarray, np.ndarray]:
        """See `mlmkit.store.predictions.monitoring.error_stream`."""
        return _mon.error_stream(self.db, model_name, version, time_range=time_range,
                                 role=role)

    def daily_rows(self, model_name: str, *, versions: Sequence[str] | None = None,
                   start: datetime | None = None, end: datetime | None = None,
                   role: str = "served") -> pl.DataFrame:
        """See `mlmkit.store.predictions.monitoring.daily_summary` with ``raw=True``."""
        return _mon.daily_summary(self.db, model_name, versions=versions, start=start,
                                  end=end, role=role, raw=True)

    def daily_summaries(self, model_name: str, *, versions: Sequence[str] | None = None,
                        start: datetime | None = None, end: datetime | None = None
                        ) -> pl.DataFrame:
        """The ``daily_summary`` table (`daily_summary`)."""
        return _mon.daily_summary(self.db, model_name, versions=versions, start=start,
                                  end=end)

    def side_stats(self, model_name: str, numeric: Sequence[str], categorical: Sequence[str],
                   ref: Side, cur: Side, *, role: str | None = "served"
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """See `mlmkit.store.predictions.drift.side_stats`."""
        return _drift.side_stats(self.db, model_name, numeric, categorical, ref, cur,
                                 role=role)

    def numeric_histograms(self, model_name: str, ranges: dict[str, tuple[float, float]],
                           ref: Side, cur: Side, *, bins: int = 2000,
                           role: str | None = "served") -> dict[str, np.ndarray]:
        """See `mlmkit.store.predictions.drift.numeric_histograms`."""
        return _drift.numeric_histograms(self.db, model_name, ranges, ref, cur, bins=bins,
                                         role=role)

    def side_rows(self, model_name: str, columns: Sequence[str], side: Side, *,
                  role: str | None = "served", finite: Sequence[str] = ()) -> pl.DataFrame:
        """See `mlmkit.store.predictions.drift.side_rows`."""
        return _drift.side_rows(self.db, model_name, columns, side, role=role, finite=finite)

    def grid_cell_counts(self, model_name: str, thresholds: Sequence[float], *,
                         versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None,
                         role: str | None = "served") -> pl.DataFrame:
        """See `mlmkit.store.tuning_runs.grid_cell_counts`."""
        return _tuning.grid_cell_counts(self.db, model_name, thresholds, versions=versions,
                                        time_range=time_range, role=role)

    def labelled_scores(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None,
                        role: str | None = "served") -> pl.DataFrame:
        """See `mlmkit.store.tuning_runs.labelled_scores`."""
        return _tuning.labelled_scores(self.db, model_name, versions=versions,
                                       time_range=time_range, role=role)

    def has_shadow_rows(self, model_name: str, versions: Sequence[str],
                        time_range: TimeRange | None) -> bool:
        """See `mlmkit.store.experiments.has_shadow_rows`."""
        return _experiments.has_shadow_rows(self.db, model_name, versions, time_range)

    def paired_counts(self, model_name: str, version_a: str, version_b: str,
                      time_range: TimeRange | None) -> pl.DataFrame:
        """See `mlmkit.store.experiments.paired_counts`."""
        return _experiments.paired_counts(self.db, model_name, version_a, version_b,
                                          time_range)

    def __repr__(self) -> str:
        return f"WorkspaceEngine({self.db.path or ':memory:'})"
