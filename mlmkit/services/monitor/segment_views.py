"""One segment's part of grouped aggregates, answering as the unsegmented engine would.

The per-segment calls read each aggregate they need **once**, grouped by the segment keys
(`task_segment_frames`: the task's counts or sums, plus the multiclass log-loss sums and
one-vs-rest histograms, or the regression pairs of the row bootstrap), then hand each
segment's part to the code of the unsegmented call through a `SegmentView`
(`segment_view`): a segment's result equals the call on that segment's rows alone.

`segment_window` turns one binary totals row of a grouped scan into `WindowMetrics` (shared
by ``segment_metrics`` and the per-segment degradation / comparison).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import cast

import polars as pl

from mlmkit._validation import invalid
from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.catalogue import Task
from mlmkit.services.monitor.results import WindowMetrics
from mlmkit.services.monitor.window import RocAuc, TotalsRow, window_metrics
from mlmkit.store.engines.segments import ResolvedSegment, SegmentTaskEngine
from mlmkit.values import TimeRange

__all__ = ["SegmentView", "segment_view", "segment_window", "task_segment_frames"]

#: The grouped aggregate each task's window metrics start from.
_BASE = {Task.MULTICLASS: "class_confusion", Task.REGRESSION: "regression_sums",
         Task.SCORE_ONLY: "score_totals"}


def segment_window(model: str, version: str, span: TimeRange, row: Mapping[str, object] | None,
                   auc: RocAuc | None, *, min_labels: int, ci: bool, confidence: float
                   ) -> WindowMetrics:
    """Binary window metrics of one segment's totals row (no label latency per segment).

    ``row`` is one row of ``segment_totals`` (None: the segment has no rows in the window).
    """
    totals = None if row is None else cast(TotalsRow, {**row, "median_label_latency_s": None})
    with warnings.catch_warnings():  # a small segment's NaN metric speaks for itself
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return window_metrics(model, version, span.start, span.end, totals, auc,
                              min_labels=min_labels, ci=ci, confidence=confidence)


def task_segment_frames(engine: SegmentTaskEngine, task: Task, model: str,
                        seg: ResolvedSegment, versions: list[str] | None, span: TimeRange | None,
                        *, role: str, interval: timedelta | None = None,
                        probabilities: bool = False, pairs: bool = False, bins: int = 1000
                        ) -> dict[str, pl.DataFrame]:
    """The grouped aggregates a segment's window needs, by the engine method they answer.

    Always the task's counts or sums (one scan); ``probabilities`` (multiclass): the log-loss
    sums and the ``bins``-bin one-vs-rest histograms too; ``pairs`` (regression): the labelled
    rows as weighted distinct pairs (the row bootstrap's input). Each is one grouped
    statement whatever the number of segments (the histogram's fill reads the log-loss sums
    once more, as unsegmented).
    """
    method = _BASE.get(task)
    if method is None:
        raise invalid("task", "multiclass, regression or score-only", task)
    frames = {method: getattr(engine, method)(model, versions=versions, time_range=span,
                                              interval=interval, role=role, segment=seg)}
    if probabilities and task is Task.MULTICLASS:
        frames["class_score_histogram"] = engine.class_score_histogram(
            model, versions=versions, time_range=span, bins=bins, role=role, segment=seg)
        frames["class_log_loss"] = engine.class_log_loss(
            model, versions=versions, time_range=span, role=role, segment=seg)
    if pairs and task is Task.REGRESSION:
        frames["regression_pairs"] = engine.regression_pairs(
            model, versions=versions, time_range=span, role=role, segment=seg)
    return frames


class SegmentView:
    """One segment's part of grouped aggregates, answering as the unsegmented engine.

    Each method returns its frame (of ``versions`` when given); an aggregate that was not
    read per segment raises a ValidationError naming ``segment``.
    """

    name = "segment"

    def __init__(self, frames: Mapping[str, pl.DataFrame]) -> None:
        self.frames = dict(frames)

    def _part(self, method: str, versions: list[str] | None) -> pl.DataFrame:
        frame = self.frames.get(method)
        if frame is None:
            raise invalid("segment", "an aggregate read per segment (counts, sums, "
                          "probability histograms or regression pairs)", method)
        return frame if versions is None else frame.filter(pl.col("version").is_in(versions))

    def class_confusion(self, model_name: str, *, versions: list[str] | None = None,
                        **_: object) -> pl.DataFrame:
        """The segment's ``class_confusion`` rows."""
        return self._part("class_confusion", versions)

    def regression_sums(self, model_name: str, *, versions: list[str] | None = None,
                        **_: object) -> pl.DataFrame:
        """The segment's ``regression_sums`` rows."""
        return self._part("regression_sums", versions)

    def score_totals(self, model_name: str, *, versions: list[str] | None = None,
                     **_: object) -> pl.DataFrame:
        """The segment's ``score_totals`` rows."""
        return self._part("score_totals", versions)

    def class_log_loss(self, model_name: str, *, versions: list[str] | None = None,
                       **_: object) -> pl.DataFrame:
        """The segment's ``class_log_loss`` rows."""
        return self._part("class_log_loss", versions)

    def class_score_histogram(self, model_name: str, *, versions: list[str] | None = None,
                              **_: object) -> pl.DataFrame:
        """The segment's one-vs-rest histograms."""
        return self._part("class_score_histogram", versions)

    def regression_pairs(self, model_name: str, *, versions: list[str] | None = None,
                         **_: object) -> pl.DataFrame:
        """The segment's labelled pairs (sorted by version, actual, predicted)."""
        return self._part("regression_pairs", versions)

    def _refused(self, *_: object, **__: object) -> object:
        raise invalid("segment", "an aggregate read per segment (counts, sums, probability "
                      "histograms or regression pairs)", "segment")

    residual_histogram = class_probability_sums = task_error_stream = _refused
    score_distribution = _refused


def segment_view(frames: Mapping[str, pl.DataFrame], keys: list[str], key: tuple[object, ...]
                 ) -> SegmentView:
    """The view of segment ``key`` (``keys``: the frames' segment key columns, dropped)."""
    match = pl.all_horizontal([pl.col(k).eq_missing(v) for k, v in zip(keys, key, strict=True)])
    return SegmentView({name: frame.filter(match).drop(keys) for name, frame in frames.items()})
