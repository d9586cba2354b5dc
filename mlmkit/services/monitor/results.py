"""Frozen result types of [`PerformanceMonitor`][mlmkit.services.monitor.PerformanceMonitor]."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime

from mlmkit._html import dict_table
from mlmkit._jsonable import JSONObject
from mlmkit.analysis.metrics.binary import Interval, Metrics
from mlmkit.catalogue import Kind, Use, select

__all__ = ["ConceptDriftResult", "DegradationInfo", "WindowMetrics"]

_NAN = math.nan
_SCORE_METRICS = select(kind=Kind.SCORE)  # None without scored labels
_COUNT_METRICS = select(use=Use.WINDOW, kind=Kind.COUNT)  # NaN without labels


@dataclass(frozen=True)
class WindowMetrics:
    """Metrics of one model version over one window, with the labels they rest on.

    ``metrics`` is the analysis-layer [`Metrics`][mlmkit.analysis.metrics.Metrics] of the
    labelled rows (``None`` when no row is labelled); the metric properties read through to it
    (NaN without labels). ``sample_count`` counts every prediction in the window,
    ``labelled_count`` those with ground truth. ``insufficient`` is true when fewer than
    ``min_labels`` labels exist: such a result is reported but never alerted on.
    ``metrics["accuracy"]`` and ``metrics["confusion_matrix"]`` work like the seed's dict.
    """

    model_name: str
    version: str
    start: datetime
    end: datetime
    metrics: Metrics | None
    sample_count: int
    labelled_count: int
    median_label_latency_s: float | None
    predicted_positive_rate: float
    mean_score: float | None
    min_labels: int = 100
    roc_auc_error_bound: float | None = None
    roc_auc_method: str | None = None

    @property
    def label_coverage(self) -> float:
        """Share of predictions in the window that have a label (NaN for an empty window)."""
        return self.labelled_count / self.sample_count if self.sample_count else _NAN

    @property
    def insufficient(self) -> bool:
        """Whether fewer than ``min_labels`` labels back the metrics."""
        return self.labelled_count < self.min_labels

    def _metric(self, name: str) -> float | None:
        if self.metrics is None:
            return None if name in _SCORE_METRICS else _NAN
        value: float | None = getattr(self.metrics, name)
        return value

    def _count_metric(self, name: str) -> float:  # a count metric is never None
        return _NAN if self.metrics is None else float(getattr(self.metrics, name))

    @property
    def accuracy(self) -> float:
        """Accuracy of the labelled rows."""
        return self._count_metric("accuracy")

    @property
    def precision(self) -> float:
        """Precision of the labelled rows."""
        return self._count_metric("precision")

    @property
    def recall(self) -> float:
        """Recall of the labelled rows."""
        return self._count_metric("recall")

    @property
    def f1_score(self) -> float:
        """F1 of the labelled rows."""
        return self._count_metric("f1_score")

    @property
    def specificity(self) -> float:
        """Specificity of the labelled rows."""
        return self._count_metric("specificity")

    @property
    def roc_auc(self) -> float | None:
        """ROC AUC of the labelled scored rows (``None`` without scores).

        Exact up to `EXACT_AUC_MAX_ROWS` rows
        (``roc_auc_method == "exact"``, ``roc_auc_error_bound == 0``), else from a score
        histogram (``"histogram"``) off by at most ``roc_auc_error_bound``.
        """
        value = self._metric("roc_auc")
        return None if value is None else float(value)

    @property
    def brier_score(self) -> float | None:
        """Brier score of the labelled scored rows."""
        value = self._metric("brier_score")
        return None if value is None else float(value)

    @property
    def log_loss(self) -> float | None:
        """Log loss of the labelled scored rows."""
        value = self._metric("log_loss")
        return None if value is None else float(value)

    @property
    def confusion_matrix(self) -> dict[str, int]:
        """``{"tp", "fp", "tn", "fn"}`` of the labelled rows."""
        if self.metrics is None:
            return {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
        return self.metrics.confusion_matrix

    @property
    def confidence_intervals(self) -> dict[str, Interval]:
        """Intervals per metric (``Interval`` objects; empty without labels)."""
        return {} if self.metrics is None else dict(self.metrics.confidence_intervals)

    def to_dict(self) -> dict[str, object]:
        """Flat dict: window facts, then every metric, then intervals."""
        out: dict[str, object] = {
            "model_name": self.model_name, "version": self.version,
            "start": self.start, "end": self.end,
            "sample_count": self.sample_count, "labelled_count": self.labelled_count,
            "label_coverage": self.label_coverage,
            "median_label_latency_s": self.median_label_latency_s,
            "predicted_positive_rate": self.predicted_positive_rate,
            "mean_score": self.mean_score, "min_labels": self.min_labels,
            "insufficient": self.insufficient,
        }
        if self.metrics is None:
            out.update({k: _NAN for k in _COUNT_METRICS})
            out["confusion_matrix"] = self.confusion_matrix
            return out
        inner = self.metrics.to_dict()
        inner.pop("sample_count", None)
        inner["confusion_matrix"] = self.confusion_matrix
        out.update(inner)
        if self.roc_auc_method is not None:
            out["roc_auc_method"] = self.roc_auc_method
        if self.roc_auc_error_bound is not None:
            out["roc_auc_error_bound"] = self.roc_auc_error_bound
        return out

    def __getitem__(self, key: str) -> object:
        return self.to_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def keys(self) -> list[str]:
        """Names readable with ``result[name]``."""
        return list(self.to_dict())

    def _repr_html_(self) -> str:
        data = {k: v for k, v in self.to_dict().items() if k != "confidence_intervals"}
        return dict_table(data, title=f"{self.model_name} {self.version}")


@dataclass(frozen=True)
class DegradationInfo:
    """Current window against a baseline for one metric.

    ``relative_drop = (baseline - current) / baseline`` (a fraction, 0.2 is a 20 % drop;
    negative when the model improved); ``degradation_percent`` is the same in percent.
    ``severity`` is ``"ok"`` below ``threshold``, ``"warning"`` from ``threshold``, and
    ``"critical"`` from twice it; it is ``"insufficient"`` (and ``insufficient`` is true)
    whenever the verdict cannot be made: the current or baseline window has fewer than
    ``min_labels`` labels, or a side has no value. ``has_degraded`` is true for
    ``warning``/``critical`` only. ``p_value`` tests current < baseline (one-sided two-proportion
    z-test when the baseline is a window; against a fixed value, a one-sample test);
    ``significant`` compares it with ``alpha``.
    """

    model_name: str
    version: str
    metric: str
    baseline_value: float
    current_value: float
    relative_drop: float
    threshold: float
    severity: str
    baseline_source: str
    current_n: int
    baseline_n: int | None
    p_value: float
    significant: bool
    insufficient: bool
    alert_id: int | None = None
    details: JSONObject = field(default_factory=dict)

    @property
    def has_degraded(self) -> bool:
        """Whether the drop reached the warning threshold (on sufficient labels)."""
        return self.severity in ("warning", "critical")

    @property
    def degradation_percent(self) -> float:
        """The relative drop in percent."""
        return 100.0 * self.relative_drop

    def __bool__(self) -> bool:
        return self.has_degraded

    def to_dict(self) -> JSONObject:
        """Flat dict including ``has_degraded`` and ``degradation_percent``."""
        return {
            "model_name": self.model_name, "version": self.version, "metric": self.metric,
            "baseline_value": self.baseline_value, "current_value": self.current_value,
            "relative_drop": self.relative_drop, "threshold": self.threshold,
            "severity": self.severity, "baseline_source": self.baseline_source,
            "current_n": self.current_n, "baseline_n": self.baseline_n,
            "p_value": self.p_value, "significant": self.significant,
            "insufficient": self.insufficient, "alert_id": self.alert_id,
            "details": self.details,
            "has_degraded": self.has_degraded,
            "degradation_percent": self.degradation_percent,
        }

    def __getitem__(self, key: str) -> object:
        return self.to_dict()[key]

    def _repr_html_(self) -> str:
        return dict_table({k: v for k, v in self.to_dict().items() if k != "details"},
                          title=f"degradation of {self.metric}")


@dataclass(frozen=True)
class ConceptDriftResult:
    """Outcome of `PerformanceMonitor.detect_concept_drift`; truthy when drift was found.

    ``detectors`` maps each detector name to the time it first fired (``None`` if it did not).
    ``detected_at`` is the earliest firing time of a streaming detector, or, if none fired but
    the windowed test did, the start of the later half. ``error_rate_before`` /
    ``error_rate_after`` are the error rates of the labelled rows before / from that time
    (halves of the window when nothing fired). ``p_value`` is the two-proportion test of
    the error rate of the later half against the earlier half (one-sided: later is worse).
    """

    model_name: str
    version: str
    drift_detected: bool
    detector: str | None
    detected_at: datetime | None
    detectors: dict[str, datetime | None]
    error_rate_before: float
    error_rate_after: float
    p_value: float
    window_test_significant: bool
    labelled_count: int
    insufficient: bool

    def __bool__(self) -> bool:
        return self.drift_detected

    def to_dict(self) -> dict[str, object]:
        """Flat dict of the fields."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __getitem__(self, key: str) -> object:
        return self.to_dict()[key]

    def _repr_html_(self) -> str:
        return dict_table(self.to_dict(), title="concept drift")
