"""Human tables for reports and panels: verdicts first, numbers with units and intervals.

Every table is rendered by `mlmkit._html.rows_table` / `dict_table` (everything escaped);
this module only turns values into words: durations in hours or days, rates with their
confidence interval, times as ``Nov 30 12:15 UTC``, missing values as an empty cell (never
``None``), booleans as yes / no. No polars ``shape:`` or dtype rows ever reach the page.

Examples
--------
>>> duration(83_470.0)
'23.2 h'
>>> rate(0.874, 0.861, 0.887)
'0.874 (0.861 to 0.887)'
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import polars as pl

from mlmkit._html import dict_table, rows_table
from mlmkit.catalogue import CATALOGUE, Significance, Task, select

__all__ = ["alerts_table", "concept_table", "drift_table", "duration", "frame_table",
           "history_table", "rate", "summary_table", "task_metrics_rows", "value",
           "versions_table", "verdicts_html"]

_BADGE = {"ok": "#2e7d32", "warning": "#b26a00", "critical": "#c62828"}


def duration(seconds: float | None) -> str:
    """Seconds in the unit a reader thinks in: ``45 s``, ``12 min``, ``23.2 h``, ``3.5 d``."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    s = float(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 3 * 86_400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86_400:.1f} d"


def rate(estimate: float | None, low: float | None = None, high: float | None = None) -> str:
    """A rate with 3 decimals and, when known, its interval."""
    if estimate is None or math.isnan(float(estimate)):
        return ""
    text = f"{float(estimate):.3f}"
    if low is not None and high is not None and not (math.isnan(low) or math.isnan(high)):
        text += f" ({float(low):.3f} to {float(high):.3f})"
    return text


def value(v: Any) -> str:
    """Any value as short text: floats to 4 significant digits, times in UTC, yes / no."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, datetime):
        return v.strftime("%b %d %H:%M UTC")
    return str(v)


def frame_table(frame: pl.DataFrame, columns: Mapping[str, str] | None = None, *,
                title: str | None = None, formats: Mapping[str, Callable[[Any], str]] | None = None,
                max_rows: int = 50) -> str:
    """A polars frame as an escaped table: ``columns`` maps column -> header label."""
    columns = dict(columns or {c: c for c in frame.columns})
    formats = formats or {}
    rows = [{label: formats.get(col, value)(row.get(col)) for col, label in columns.items()}
            for row in frame.head(max_rows).iter_rows(named=True)]
    if frame.height > max_rows:
        title = f"{title or ''} (first {max_rows} of {frame.height:,})".strip()
    if not rows:
        return f"<p class='mlmkit-empty'>{html.escape(title or 'Nothing to show')}: none.</p>"
    return rows_table(list(columns.values()), rows, title=title)


def verdicts_html(verdicts: Iterable[Any]) -> str:
    """The verdict block: one severity badge, sentence and next step per model."""
    parts = []
    for v in verdicts:
        colour = _BADGE.get(v.severity, "#555")
        parts.append(
            f"<div class='mlmkit-verdict' data-severity='{html.escape(v.severity)}' "
            f"style='border-left:6px solid {colour};padding:4px 10px;margin:6px 0'>"
            f"<p style='margin:2px 0'><span style='background:{colour};color:#fff;"
            f"padding:1px 6px;border-radius:3px;font-weight:bold'>"
            f"{html.escape(v.severity.upper())}</span> {html.escape(v.sentence)}</p>"
            f"<p style='margin:2px 0'><b>Next:</b> {html.escape(v.action)}</p></div>")
    return "<section class='mlmkit-verdicts'>" + "".join(parts) + "</section>"


def _shown(name: str) -> bool:
    """A metric of the window, not a volume (a flag rate is a metric of a score-only model)."""
    return CATALOGUE[name].test is not Significance.NONE and name != "label_coverage"


def task_metrics_rows(metrics: Any) -> dict[str, str]:
    """The headline numbers of a multiclass, regression or score-only window, as text.

    Metrics with an interval read ``estimate (low to high)``; labels come from the catalogue.
    """
    d = metrics.to_dict()

    def one(name: str) -> str:
        return rate(d.get(name), d.get(f"{name}_low"), d.get(f"{name}_high")) \
            if f"{name}_low" in d else value(d.get(name))

    rows: dict[str, str] = {}
    for name in select(task=Task(metrics.task)):
        if name in d and _shown(name):
            ci = " (95% CI)" if f"{name}_low" in d else ""
            rows[f"{CATALOGUE[name].label}{ci}"] = one(name)
    if metrics.task == "multiclass":
        rows["classes"] = value(len(d.get("labels") or []))
    elif metrics.task == "regression":
        rows["bias, mean of prediction - actual (95% CI)"] = one("bias")
        rows["median residual"] = value(d.get("residual_q50"))
        if d.get("mape_note"):
            rows["MAPE note"] = str(d["mape_note"])
    else:
        rows["mean score"] = value(d.get("mean_score"))
        rows["score median / 95th percentile"] = \
            f"{value(d.get('score_q50'))} / {value(d.get('score_q95'))}"
    return {k: v for k, v in rows.items() if v}


def summary_table(metrics: Any, verdict: Any) -> str:
    """The key numbers of the report window, and the degradation check of the verdict.

    A multiclass, regression or score-only window shows its task's metrics
    (`task_metrics_rows`) instead of the binary rates.
    """
    if getattr(metrics, "task", "binary") != "binary":
        return _task_summary(metrics, verdict)
    d = metrics.to_dict()
    ci = d.get("confidence_intervals") or {}

    def with_ci(name: str) -> str:
        interval = ci.get(name) or {}
        return rate(d.get(name), interval.get("low"), interval.get("high"))

    info = verdict.degradation
    rows = {
        "window": f"{value(d['start'])} to {value(d['end'])}",
        "predictions": value(d["sample_count"]),
        "labelled": f"{d['labelled_count']:,} ({d['label_coverage']:.0%})",
        "median label delay": duration(d.get("median_label_latency_s")),
        "accuracy (95% CI)": with_ci("accuracy"),
        "precision (95% CI)": with_ci("precision"),
        "recall (95% CI)": with_ci("recall"),
        "F1 (95% CI)": with_ci("f1_score"),
        "ROC AUC": rate(d.get("roc_auc")),
        f"{info.metric}, last {verdict.window} vs baseline":
            f"{rate(info.current_value)} vs {rate(info.baseline_value)} "
            f"({info.baseline_source}): {info.severity}",
    }
    return dict_table(rows, title=f"{metrics.model_name} {metrics.version}")


def _task_summary(metrics: Any, verdict: Any) -> str:
    d, info = metrics.to_dict(), verdict.degradation
    rows = {"window": f"{value(d['start'])} to {value(d['end'])}",
            "task": str(metrics.task), "predictions": value(d["sample_count"]),
            "labelled": f"{d['labelled_count']:,} ({value(d['label_coverage'] * 100)} %)"
            if d["sample_count"] else "0",
            **task_metrics_rows(metrics),
            f"{info.metric}, last {verdict.window} vs baseline":
                f"{value(info.current_value)} vs {value(info.baseline_value)} "
                f"({info.baseline_source}): {info.severity}"}
    return dict_table(rows, title=f"{metrics.model_name} {metrics.version} ({metrics.task})")


def versions_table(frame: pl.DataFrame) -> str:
    """``ws.monitor.compare_versions`` as a table with accuracy intervals.

    The frame of a multiclass, regression or score-only model (no ``f1_score`` column) shows
    its own metric columns, the first with its interval.
    """
    if "f1_score" not in frame.columns:
        return _task_versions(frame)
    data = frame.with_columns(pl.struct("accuracy", "accuracy_low", "accuracy_high").map_elements(
        lambda r: rate(r["accuracy"], r["accuracy_low"], r["accuracy_high"]),
        return_dtype=pl.String).alias("accuracy_ci"))
    return frame_table(data, {"version": "version", "sample_count": "predictions",
                              "labelled_count": "labelled", "accuracy_ci": "accuracy (95% CI)",
                              "f1_score": "F1", "roc_auc": "ROC AUC",
                              "p_adjusted": "p (adjusted)", "significant": "differs"},
                       formats={"accuracy_ci": str, "f1_score": rate, "roc_auc": rate})


def _task_versions(frame: pl.DataFrame) -> str:
    names = [c for c in frame.columns if c in CATALOGUE and _shown(c)]
    cols = {"version": "version", "sample_count": "predictions", "labelled_count": "labelled"}
    formats: dict[str, Callable[[Any], str]] = {}
    data = frame
    if names and {f"{names[0]}_low", f"{names[0]}_high"} <= set(frame.columns):
        first = names[0]
        data = frame.with_columns(pl.struct(first, f"{first}_low", f"{first}_high").map_elements(
            lambda r: rate(r[first], r[f"{first}_low"], r[f"{first}_high"]),
            return_dtype=pl.String).alias(f"{first}_ci"))
        cols[f"{first}_ci"] = f"{CATALOGUE[first].label} (95% CI)"
        formats[f"{first}_ci"] = str
        names = names[1:]
    cols.update({n: CATALOGUE[n].label for n in names})
    cols.update({c: label for c, label in (("p_adjusted", "p (adjusted)"),
                                           ("significant", "differs")) if c in frame.columns})
    return frame_table(data, cols, formats=formats)


def drift_table(frame: pl.DataFrame) -> str:
    """``ws.monitor.data_drift`` as a table (statistic against its own threshold)."""
    cols = {"feature": "feature", "method": "method", "statistic": "statistic",
            "threshold": "drift from", "p_value": "p", "drift": "drift",
            "n_reference": "reference rows", "n_current": "current rows"}
    return frame_table(frame, {k: v for k, v in cols.items() if k in frame.columns})


def concept_table(result: Any) -> str:
    """A concept-drift result: when each detector fired, error rates before / after."""
    d = result.to_dict()
    rows: dict[str, str] = {"drift detected": value(d.get("drift_detected"))}
    for name, at in (d.get("detectors") or {}).items():
        rows[f"{name} fired"] = value(at) if at is not None else "did not fire"
    rows["error rate before → after"] = (f"{rate(d.get('error_rate_before'))} → "
                                         f"{rate(d.get('error_rate_after'))}")
    rows["p (before vs after)"] = value(d.get("p_value"))
    rows["labelled predictions"] = value(d.get("labelled_count"))
    return dict_table(rows)


def alerts_table(alerts: pl.DataFrame) -> str:
    """Alerts, newest first, messages in full."""
    return frame_table(alerts, {"alert_id": "id", "created_at": "created", "rule": "rule",
                                "severity": "severity", "version": "version",
                                "status": "status", "message": "message"},
                       title="Alerts")


def history_table(history: pl.DataFrame) -> str:
    """The registry's deployment history, oldest first."""
    return frame_table(history, {"event_at": "when", "action": "action", "version": "version",
                                 "environment": "environment",
                                 "previous_version": "replaced", "reason": "reason"},
                       title="Deployments")
