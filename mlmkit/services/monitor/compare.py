"""The comparison table of `PerformanceMonitor.compare_versions`."""

from __future__ import annotations

import math
import warnings
from typing import cast

import polars as pl

from mlmkit._validation import invalid
from mlmkit.analysis.metrics.binary import UndefinedMetricWarning
from mlmkit.analysis.stats import two_proportion_ztest
from mlmkit.catalogue import Kind, Task, Use, select
from mlmkit.services.monitor.results import WindowMetrics
from mlmkit.services.monitor.task_compare import attach_holm
from mlmkit.services.monitor.window import TotalsRow, proportion_counts, roc_aucs, window_metrics
from mlmkit.store.engines import StatisticsEngine
from mlmkit.values import TimeRange

__all__ = ["binary_comparison", "comparison_frame", "version_comparison"]

_METRICS = select(use=Use.WINDOW, kind=(Kind.COUNT, Kind.SCORE))


def _value(res: WindowMetrics, metric: str) -> float:
    value = getattr(res, metric)
    return math.nan if value is None else float(value)


def comparison_frame(results: list[WindowMetrics], metric: str, alpha: float) -> pl.DataFrame:
    """One row per version with ``metric``, its interval and the Holm-adjusted test vs the first."""
    first = results[0]
    records: list[dict[str, object]] = []
    p_values: list[float] = []
    for res in results:
        rec: dict[str, object] = {"version": res.version, "sample_count": res.sample_count,
                                  "labelled_count": res.labelled_count,
                                  "label_coverage": res.label_coverage,
                                  "insufficient": res.insufficient}
        for name in _METRICS:
            rec[name] = _value(res, name)
        ci = res.confidence_intervals.get(metric)
        rec[f"{metric}_low"] = math.nan if ci is None else ci.low
        rec[f"{metric}_high"] = math.nan if ci is None else ci.high
        rec["difference"] = _value(res, metric) - (getattr(first, metric) or math.nan)
        p = math.nan
        if res is not first:
            a = proportion_counts(metric, first.confusion_matrix)
            b = proportion_counts(metric, res.confusion_matrix)
            if a is not None and b is not None and a[1] and b[1]:
                p = two_proportion_ztest(a[0], a[1], b[0], b[1]).p_value
            p_values.append(p)
        rec["p_value"] = p
        records.append(rec)
    attach_holm(records, p_values, alpha)
    return pl.DataFrame(records)


def binary_comparison(engine: StatisticsEngine, model_name: str, versions: list[str],
                      span: TimeRange, *, metric: str, min_labels: int, alpha: float,
                      confidence: float) -> pl.DataFrame:
    """`comparison_frame` of a binary model's versions over ``span`` (one scan)."""
    totals, _ = engine.window_summary(model_name, versions=versions, time_range=span, bins=0)
    rows = {r["version"]: cast(TotalsRow, r) for r in totals.iter_rows(named=True)}
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        aucs = roc_aucs(engine, model_name, {v: int(r["scored"]) for v, r in rows.items()},
                        span, bins=10_000, role="served")
        for v in versions:
            results.append(window_metrics(
                model_name, v, span.start, span.end, rows.get(v), aucs.get(v),
                min_labels=min_labels, ci=True, confidence=confidence))
    return comparison_frame(results, metric, alpha)


def version_comparison(engine: StatisticsEngine, task: Task, model_name: str,
                       versions: list[str], span: TimeRange, *, metric: str | None,
                       min_labels: int, alpha: float, confidence: float) -> pl.DataFrame:
    """The frame of ``compare_versions`` by the model's task (``metric`` None: its default)."""
    from mlmkit.services.monitor.task_compare import task_comparison
    from mlmkit.services.monitor.task_degradation import task_metric

    if task is not Task.BINARY or metric is None:
        metric = task_metric(task, metric)
    if task is not Task.BINARY:
        return task_comparison(engine, task, model_name, versions, span, metric=metric,
                               min_labels=min_labels, alpha=alpha, confidence=confidence)
    if metric not in _METRICS:
        raise invalid("metric", f"one of {', '.join(_METRICS)}", metric)
    return binary_comparison(engine, model_name, versions, span, metric=metric,
                             min_labels=min_labels, alpha=alpha, confidence=confidence)
