"""Baselines and the degradation verdict for ``get_performance_degradation_info``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlmkit._validation import check_probability, check_real, invalid
from mlmkit.analysis.monitoring import (
    SEVERITIES,
    drop_severity,
    one_proportion_test,
    relative_drop,
)
from mlmkit.analysis.stats import two_proportion_ztest
from mlmkit.catalogue import Kind, Task, Use, select
from mlmkit.services.monitor.results import DegradationInfo, WindowMetrics
from mlmkit.services.monitor.task_degradation import (
    baseline_span,
    boundary,
    gated,
    window_source,
)
from mlmkit.services.monitor.window import proportion_counts
from mlmkit.values import TimeRange

if TYPE_CHECKING:
    from mlmkit.services.alerts.service import AlertingService
    from mlmkit.services.monitor.service import PerformanceMonitor

__all__ = ["HIGHER_IS_BETTER", "INSUFFICIENT", "Baseline", "assess", "degradation_info", "fire",
           "message", "resolve_baseline", "with_alert"]

#: The severity of a verdict that cannot be made (too few labels, no value to compare).
INSUFFICIENT = SEVERITIES[-1]

HIGHER_IS_BETTER = select(use=Use.WINDOW, kind=(Kind.COUNT, Kind.SCORE), higher_is_better=True)


@dataclass(frozen=True)
class Baseline:
    """A baseline value, where it came from, and its counts when it is a window."""

    value: float
    source: str
    window: WindowMetrics | None = None


def _window(monitor: PerformanceMonitor, model_name: str, version: str, metric: str,
            span: TimeRange, min_labels: int) -> Baseline:
    # scores (and the exact AUC) only for ROC AUC: the count metrics need the cells alone
    ref = monitor._window_metrics(model_name, version, span, min_labels=min_labels, ci=False,
                                  scores=metric == "roc_auc", latency=False)
    value = getattr(ref, metric)
    return Baseline(math.nan if value is None else float(value), window_source(span), ref)


def resolve_baseline(monitor: PerformanceMonitor, model_name: str, version: str, metric: str,
                     baseline: object, current: TimeRange, *, min_labels: int,
                     registered: Mapping[str, float]) -> Baseline:
    """Turn the ``baseline`` argument into a `Baseline` (see the public method).

    ``registered`` is the version's ``performance_metrics``, read by the caller's edge check.
    """
    found = baseline_span(metric, baseline, current, registered)
    if isinstance(found, TimeRange):
        return _window(monitor, model_name, version, metric, found, min_labels)
    return Baseline(*found)


def _significance(metric: str, current: WindowMetrics, ref: Baseline) -> float:
    cur = proportion_counts(metric, current.confusion_matrix)
    if cur is None or cur[1] == 0:
        return math.nan
    if ref.window is not None:
        base = proportion_counts(metric, ref.window.confusion_matrix)
        if base is None or base[1] == 0:
            return math.nan
        return two_proportion_ztest(base[0], base[1], cur[0], cur[1],
                                    alternative="less").p_value
    if math.isnan(ref.value) or not 0.0 <= ref.value <= 1.0:
        return math.nan
    return one_proportion_test(cur[0], cur[1], ref.value, alternative="less").p_value


def assess(model_name: str, version: str, metric: str, current: WindowMetrics,
           ref: Baseline, *, threshold: float, alpha: float) -> DegradationInfo:
    """The verdict: relative drop, severity and significance.

    The severity is ``"insufficient"`` (nothing judged, never alerted on) when the current or
    the baseline window has fewer than ``min_labels`` labels or the drop cannot be computed
    (no value on one side, a zero baseline); else
    [`drop_severity`][mlmkit.analysis.monitoring.drop_severity], and ``"ok"`` when the drop is
    not significant at ``alpha`` (`gated`, as for the other tasks): against a registered value
    the test is of a drop beyond the threshold itself (the value lowered by ``threshold``),
    against a baseline window of any drop. Without it an hourly check alarmed on the noise of
    a new window: 100 labels of a model as accurate as its registered 0.9 show a 5 % drop
    7.3 % of the time, 180 labels 2.2 %.
    """
    threshold = check_real("threshold_percent", threshold, low=0.0, high=1.0, low_open=True)
    alpha = check_probability("alpha", alpha, open_interval=True)
    value = getattr(current, metric)
    cur_value = math.nan if value is None else float(value)
    drop = relative_drop(ref.value, cur_value)
    insufficient = current.insufficient or (ref.window is not None and ref.window.insufficient) \
        or math.isnan(drop)
    severity = INSUFFICIENT if insufficient else drop_severity(drop, threshold)
    p = _significance(metric, current, ref)
    if severity in ("warning", "critical"):  # as every task: significant beyond the noise
        severity = gated(severity, p if ref.window is not None else _significance(
            metric, current, Baseline(boundary(metric, ref.value, cur_value, threshold),
                                      ref.source)), alpha)
    return DegradationInfo(
        model_name=model_name, version=version, metric=metric, baseline_value=ref.value,
        current_value=cur_value, relative_drop=drop, threshold=threshold, severity=severity,
        baseline_source=ref.source, current_n=current.labelled_count,
        baseline_n=None if ref.window is None else ref.window.labelled_count,
        p_value=p, significant=bool(not math.isnan(p) and p <= alpha),
        insufficient=bool(insufficient),
        details={"window_start": current.start.isoformat(),
                 "window_end": current.end.isoformat(), "alpha": alpha})


def with_alert(info: DegradationInfo, alert_id: int | None) -> DegradationInfo:
    """A copy of ``info`` carrying the id of the alert it fired."""
    return dataclasses.replace(info, alert_id=alert_id)


def message(info: DegradationInfo) -> str:
    """``"<metric> of <model> <version> dropped|rose|moved <x>% (<baseline> -> <current>)"``."""
    word = {"lower_is_better": "rose", "either": "moved"}.get(
        str(info.details.get("direction")), "dropped")
    return (f"{info.metric} of {info.model_name} {info.version} {word} "
            f"{info.degradation_percent:.1f}% ({info.baseline_value:.4g} -> "
            f"{info.current_value:.4g})")


def fire(alerts: AlertingService, info: DegradationInfo) -> DegradationInfo:
    """Fire the ``degradation`` alert of a degraded ``info``; ``info`` with its alert id."""
    if not info.has_degraded:
        return info
    alert_id = alerts.fire("degradation", info.severity, info.model_name, info.version,
                           message(info), info.to_dict(),
                           dedup_key=f"degradation:{info.model_name}:{info.version}:"
                                     f"{info.metric}")
    return with_alert(info, alert_id)


def degradation_info(monitor: PerformanceMonitor, model_name: str, version: str,
                     metric: str | None, span: TimeRange, threshold: float, *, baseline: object,
                     registered: Mapping[str, float], alpha: float, min_labels: int
                     ) -> DegradationInfo:
    """``get_performance_degradation_info`` without the alert, by the model's task."""
    from mlmkit.services.monitor.task_degradation import task_degradation, task_metric

    task = monitor.registry.task(model_name)
    if task is not Task.BINARY:
        return task_degradation(monitor.engine, task, model_name, version,
                                task_metric(task, metric), span, threshold=threshold,
                                alpha=alpha, baseline=baseline, min_labels=min_labels,
                                registered=registered)
    metric = "accuracy" if metric is None else metric
    if metric not in HIGHER_IS_BETTER:
        raise invalid("metric", f"one of {', '.join(HIGHER_IS_BETTER)}", metric)
    current = monitor._window_metrics(model_name, version, span, min_labels=min_labels,
                                      ci=False, scores=metric == "roc_auc", latency=False)
    threshold = check_real("threshold_percent", threshold, low=0.0, high=1.0, low_open=True)
    ref = resolve_baseline(monitor, model_name, version, metric, baseline, span,
                           min_labels=min_labels, registered=registered)
    return assess(model_name, version, metric, current, ref, threshold=threshold, alpha=alpha)
