"""``ws.monitor.detect_concept_drift``: the method, per model or per segment (a monitor base).

The rule per task is `mlmkit.services.monitor.concept`'s; with ``segment=`` the error stream
of every segment comes from one grouped scan and each segment runs the same rule
(`mlmkit.services.monitor.segment_verdicts.segment_concept_drift`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import overload

import polars as pl

from mlmkit._validation import check_choice, check_int, check_probability, invalid
from mlmkit.analysis.detectors import DETECTORS
from mlmkit.catalogue import Task
from mlmkit.services.monitor.base import canonical_version
from mlmkit.services.monitor.concept import (
    concept_drift,
    default_detectors,
    task_concept_drift,
)
from mlmkit.services.monitor.results import ConceptDriftResult
from mlmkit.services.monitor.segment_verdicts import segment_concept_drift
from mlmkit.services.monitor.segments import SegmentMethods
from mlmkit.store.engines.segments import SegmentLike
from mlmkit.values import DefaultWindow, VersionLike, WindowLike, resolve_range

__all__ = ["ConceptMethods"]

_24H = DefaultWindow("24h")


class ConceptMethods(SegmentMethods):
    """Concept drift of ``ws.monitor`` (a base of ``PerformanceMonitor``)."""

    @overload
    def detect_concept_drift(
            self, model_name: str, version: VersionLike, window: WindowLike | None = ..., *,
            start: datetime | None = ..., end: datetime | None = ...,
            detectors: Sequence[str] | None = ..., alpha: float = ..., min_labels: int = ...,
            alert: bool = ..., segment: None = ...) -> ConceptDriftResult: ...

    @overload
    def detect_concept_drift(
            self, model_name: str, version: VersionLike, window: WindowLike | None = ..., *,
            start: datetime | None = ..., end: datetime | None = ...,
            detectors: Sequence[str] | None = ..., alpha: float = ..., min_labels: int = ...,
            alert: bool = ..., segment: SegmentLike) -> pl.DataFrame: ...

    def detect_concept_drift(self, model_name: str, version: VersionLike,
                             window: WindowLike | None = _24H, *,
                             start: datetime | None = None, end: datetime | None = None,
                             detectors: Sequence[str] | None = None,
                             alpha: float = 0.01, min_labels: int = 100,
                             alert: bool = False, segment: SegmentLike | None = None
                             ) -> ConceptDriftResult | pl.DataFrame:
        """Run streaming detectors over the window's labelled error stream (time order).

        See `mlmkit.services.monitor.concept` for the rule per task (multiclass: the
        misclassifications; regression: the absolute residuals); the result is truthy when
        drift was found. ``detectors`` default: ``ddm, adwin, page_hinkley`` (regression:
        ``adwin, page_hinkley``). ``alert=True`` fires a ``drift`` alert.

        ``segment`` (a feature name, a list of them or a filter): a polars frame, one row per
        segment, the segment features then the result's fields (``fired_<detector>``: when
        each detector fired), ``p_adjusted`` / ``significant_adjusted`` (Holm's correction of
        the segments' window tests) and ``alert_id``. The segments' streams come from one
        grouped scan; each row equals the call on that segment's rows alone. A segment alerts
        (its own dedup key) when a detector fired, or when only the window test did and it
        survives the correction. The detectors themselves are not corrected: with many
        segments, expect more of them to fire by chance.
        """
        ver = canonical_version(version)
        self._registered(model_name, [ver])
        task = self.registry.task(model_name)
        span = resolve_range(window, start=start, end=end)
        detectors = default_detectors(task) if detectors is None else detectors
        if isinstance(detectors, str) or not isinstance(detectors, Sequence) or not detectors:
            raise invalid("detectors", "a non-empty list of detector names", detectors)
        for name in detectors:
            check_choice("detectors", name, tuple(DETECTORS))
        alpha = check_probability("alpha", alpha, open_interval=True)
        min_labels = check_int("min_labels", min_labels, low=0)
        if segment is not None:
            if task is Task.SCORE_ONLY:  # the unsegmented call's refusal, per segment
                task_concept_drift(self.engine, task, model_name, ver, span,
                                   detectors=list(detectors), alpha=alpha, min_labels=0)
            return segment_concept_drift(
                self.engine, task, model_name, ver, span, self._segment(model_name, segment),
                detectors=list(detectors), alpha=alpha, min_labels=min_labels,
                alerts=self.alerts if alert else None)
        result = concept_drift(self.engine, model_name, ver, span, detectors=list(detectors),
                               alpha=alpha, min_labels=min_labels) if task is Task.BINARY \
            else task_concept_drift(self.engine, task, model_name, ver, span, alpha=alpha,
                                    detectors=list(detectors), min_labels=min_labels)
        if alert and result.drift_detected:
            self.alerts.fire("drift", "warning", model_name, ver,
                             f"concept drift in {model_name} {ver} ({result.detector})",
                             result.to_dict(), dedup_key=f"concept:{model_name}:{ver}")
        return result
