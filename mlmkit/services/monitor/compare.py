"""The comparison table of `PerformanceMonitor.compare_versions`."""

from __future__ import annotations

import math

import polars as pl

from mlmkit.analysis.stats import multiple_testing, two_proportion_ztest
from mlmkit.catalogue import Kind, Use, select
from mlmkit.services.monitor.results import WindowMetrics
from mlmkit.services.monitor.window import proportion_counts

__all__ = ["comparison_frame"]

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
    adjusted = [math.nan] * len(results)
    valid = [(i + 1, p) for i, p in enumerate(p_values) if not math.isnan(p)]
    if valid:
        adj = multiple_testing([p for _, p in valid], method="holm", alpha=alpha)
        for (idx, _), value in zip(valid, adj.get_column("p_adjusted").to_list(), strict=True):
            adjusted[idx] = float(value)
    for rec, value in zip(records, adjusted, strict=True):
        rec["p_adjusted"] = value
        rec["significant"] = bool(not math.isnan(value) and value <= alpha)
    return pl.DataFrame(records)
