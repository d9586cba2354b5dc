"""Performance charts: trend, confusion matrix, ROC / PR, threshold curve, calibration."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from mlmkit._validation import invalid
from mlmkit.catalogue import CATALOGUE
from mlmkit.viz._charts_tasks import class_confusion_matrix
from mlmkit.viz._theme import (
    DAY_FORMAT,
    HOUR_FORMAT,
    INK,
    SEVERITY_COLORS,
    altair,
    check_points,
    thin,
)


def _label(metric: str) -> str:
    """The catalogue's display label of ``metric`` (the name itself for other columns)."""
    found = CATALOGUE.get(metric)
    return metric if found is None else found.label


def _data(frame: pl.DataFrame) -> pl.DataFrame:
    """The chart's data: at most MAX_POINTS rows, NaN as null (JSON has no NaN)."""
    frame = check_points(frame)
    return frame.with_columns([pl.col(c).fill_nan(None) for c, t in frame.schema.items()
                               if t.is_float()])


def _time_axis(alt: Any, field: str, frame: pl.DataFrame, *, title: str | None = None) -> Any:
    """A temporal x encoding with dates on the ticks (hours too when the span is short)."""
    fmt = DAY_FORMAT
    if frame.height and frame.schema[field].is_temporal():
        lo, hi = frame[field].min(), frame[field].max()
        if isinstance(lo, datetime) and isinstance(hi, datetime) and \
                (hi - lo).total_seconds() <= 3 * 86_400:
            fmt = HOUR_FORMAT
    return alt.X(f"{field}:T", title=title, axis=alt.Axis(format=fmt, labelAngle=0,
                                                         labelOverlap=True))


def _deploy_layers(alt: Any, deployments: pl.DataFrame, lo: Any, hi: Any) -> list[Any]:
    """Dashed rules at the registry's deployment events in ``[lo, hi]``, labelled."""
    events = deployments.filter(pl.col("event_at").is_between(lo, hi)
                                & pl.col("action").is_in(["deploy", "rollback", "undeploy"])
                                ).select(
        "event_at", "action", "version", "environment",
        pl.format("{} {}", "action", "version").alias("label"))
    if not events.height:
        return []
    rules = alt.Chart(_data(events)).encode(x="event_at:T")
    # a label in the right fifth of the span is drawn left of its rule, so it stays inside
    # the plot (it ran into the legend beside the plot before)
    span = (hi - lo) if hi > lo else None
    right = (events["event_at"] - lo) / span > 0.8 if span else pl.Series([False] * events.height)
    layers = [rules.mark_rule(color=INK, strokeDash=[4, 3]).encode(
        tooltip=["action", "version", "environment",
                 alt.Tooltip("event_at:T", format=HOUR_FORMAT)])]
    for align, dx, part in (("left", 3, events.filter(~right)),
                            ("right", -3, events.filter(right))):
        if part.height:
            layers.append(alt.Chart(_data(part)).mark_text(
                align=align, dx=dx, dy=-4, fontSize=10, color=INK, angle=0).encode(
                x="event_at:T", text="label:N", y=alt.value(8)))
    return layers


def _alert_layers(alt: Any, alerts: pl.DataFrame, lo: Any, hi: Any) -> list[Any]:
    """A tick at the top of the plot at each alert's creation time, coloured by severity."""
    found = alerts.filter(pl.col("created_at").is_between(lo, hi)).select(
        "created_at", "severity", "rule", "message")
    if not found.height:
        return []
    return [alt.Chart(_data(found.filter(pl.col("severity") == level))).mark_point(
                shape="triangle-down", size=90, filled=True, color=colour, opacity=1).encode(
                x="created_at:T", y=alt.value(0),
                tooltip=[alt.Tooltip("created_at:T", format=HOUR_FORMAT), "severity", "rule",
                         "message"])
            for level, colour in SEVERITY_COLORS.items()
            if found.filter(pl.col("severity") == level).height]


def _threshold_layers(alt: Any, baseline: float, threshold: float | None,
                      higher_is_better: bool | None = True) -> list[Any]:
    """The baseline and, with a threshold, the warning and critical limits as rules.

    The limits sit below the baseline for a higher-is-better metric, above it for a
    lower-is-better one (an error such as MAE or log loss: a rise is bad) and on both sides
    for a metric without a direction (a flag rate: a move either way is a change).
    """
    lines = [{"value": baseline, "label": f"baseline {baseline:.3f}", "kind": "baseline"}]
    signs = {True: (-1.0,), False: (1.0,), None: (-1.0, 1.0)}[higher_is_better]
    for sign in () if threshold is None else signs:
        t = float(threshold or 0.0)
        warn, crit = baseline * (1 + sign * t), baseline * (1 + 2 * sign * t)
        lines += [{"value": warn, "kind": "warning", "label": f"warning {warn:.3f}"},
                  {"value": crit, "kind": "critical", "label": f"critical {crit:.3f}"}]
    colours = {"baseline": INK, **SEVERITY_COLORS}
    layers = []
    for line in lines:
        one = alt.Chart(alt.Data(values=[line])).encode(y="value:Q")
        layers += [one.mark_rule(strokeDash=[2, 2], color=colours[str(line["kind"])]),
                   one.mark_text(align="right", dy=-4, fontSize=10, color=INK).encode(
                       text="label:N", x=alt.value(415))]
    return layers


def metric_trend(trend: pl.DataFrame, *, metric: str = "accuracy",
                 deployments: pl.DataFrame | None = None, alerts: pl.DataFrame | None = None,
                 baseline: float | None = None, threshold: float | None = None,
                 title: str | None = None, higher_is_better: bool | None = None) -> Any:
    """Metric per time bucket with its confidence band, one line per version.

    Parameters
    ----------
    trend : polars.DataFrame
        ``ws.monitor.get_performance_trend(...)`` of a model of any task: ``version, bucket,
        <metric>`` and, when present, ``<metric>_low`` / ``<metric>_high`` (drawn as a band).
    metric : str
        A metric column of the trend (``accuracy``, ``f1_macro``, ``mae``, ``flag_rate`` ...).
    deployments : polars.DataFrame, optional
        ``ws.registry.history(model)``; deploy, rollback and undeploy events inside the
        trend's time span are drawn as dashed rules at their time, labelled with the version.
    alerts : polars.DataFrame, optional
        ``ws.alerts.list(model)``; alerts created inside the span are marked at the top.
    baseline, threshold : float, optional
        The degradation rule's baseline value and relative threshold: the baseline and the
        warning (``baseline * (1 - threshold)``) and critical (``1 - 2 * threshold``) limits
        are drawn as horizontal rules; above the baseline (``1 + threshold``,
        ``1 + 2 * threshold``) for a lower-is-better metric.
    higher_is_better : bool, optional
        The metric's direction; default the catalogue's (limits on both sides for a metric
        without one, such as ``flag_rate``; below for a column the catalogue does not know).

    Returns
    -------
    altair.LayerChart
        The x axis is temporal, its ticks are dates (``%b %d``; with hours over spans up to
        three days).
    """
    if not isinstance(trend, pl.DataFrame):
        raise invalid("trend", "a polars frame from ws.monitor.get_performance_trend", trend)
    alt = altair()
    if metric not in trend.columns:
        listed = ", ".join(c for c in trend.columns if c in CATALOGUE)
        raise invalid("metric", f"a metric column of the trend ({listed})", metric)
    has_band = f"{metric}_low" in trend.columns and f"{metric}_high" in trend.columns
    cols = ["version", "bucket", "n", "labelled", metric]
    cols += [f"{metric}_low", f"{metric}_high"] if has_band else []
    data = trend.select([c for c in cols if c in trend.columns]).sort("version", "bucket")
    base = alt.Chart(_data(data)).encode(
        x=_time_axis(alt, "bucket", data),
        color=alt.Color("version:N", title="version",
                        legend=alt.Legend(orient="bottom", direction="horizontal")))
    line = base.mark_line(point=True).encode(
        y=alt.Y(f"{metric}:Q", title=_label(metric), scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("bucket:T", format=HOUR_FORMAT),
                 *[alt.Tooltip(c) for c in data.columns if c != "bucket"]])
    layers = []
    if has_band:
        layers.append(base.mark_area(opacity=0.18).encode(
            y=alt.Y(f"{metric}_low:Q"), y2=alt.Y2(f"{metric}_high:Q")))
    layers.append(line)
    if baseline is not None and math.isfinite(float(baseline)):
        found = CATALOGUE.get(metric)
        direction = higher_is_better if higher_is_better is not None else (
            True if found is None else found.higher_is_better)
        layers += _threshold_layers(alt, float(baseline), threshold, direction)
    if data.height:
        lo, hi = data["bucket"].min(), data["bucket"].max()
        if "bucket_end" in trend.columns:
            hi = trend["bucket_end"].max()
        if deployments is not None and deployments.height:
            layers += _deploy_layers(alt, deployments, lo, hi)
        if alerts is not None and alerts.height:
            layers += _alert_layers(alt, alerts, lo, hi)
    return alt.layer(*layers).properties(title=title or f"{_label(metric)} over time")


def _counts(value: Any) -> dict[str, int]:
    cm = getattr(value, "confusion_matrix", value)
    if callable(cm):
        cm = cm()
    if not isinstance(cm, Mapping) or not {"tp", "fp", "tn", "fn"} <= set(cm):
        raise invalid("metrics", "a result with confusion_matrix or a mapping tp/fp/tn/fn",
                      type(value).__name__)
    return {k: int(cm[k]) for k in ("tp", "fp", "tn", "fn")}


def confusion_matrix(metrics: Any, *, title: str = "Confusion matrix") -> Any:
    """2 x 2 heatmap of counts (and share of the labelled rows).

    A multiclass result (``labels`` and a K x K ``confusion_matrix``) is drawn by
    [`class_confusion_matrix`][mlmkit.viz.charts.class_confusion_matrix] instead.

    Parameters
    ----------
    metrics
        A metrics result (``.confusion_matrix``) or a mapping with ``tp, fp, tn, fn``.
    """
    if getattr(metrics, "task", None) == "multiclass":
        return class_confusion_matrix(metrics, title=title)
    alt = altair()
    c = _counts(metrics)
    total = max(sum(c.values()), 1)
    cells = [("positive", "positive", c["tp"]), ("negative", "positive", c["fp"]),
             ("negative", "negative", c["tn"]), ("positive", "negative", c["fn"])]
    frame = pl.DataFrame({"actual": [a for a, _, _ in cells],
                          "predicted": [p for _, p, _ in cells],
                          "count": [n for _, _, n in cells]}).with_columns(
        (pl.col("count") / total).alias("share"),
        pl.format("{}", pl.col("count")).alias("label"))
    base = alt.Chart(_data(frame)).encode(
        x=alt.X("predicted:N", sort=["positive", "negative"], title="predicted"),
        y=alt.Y("actual:N", sort=["positive", "negative"], title="actual"))
    rect = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
        tooltip=["actual", "predicted", "count", alt.Tooltip("share:Q", format=".1%")])
    text = base.mark_text(fontSize=16).encode(
        text="label:N",
        color=alt.condition(alt.datum.share > 0.3, alt.value("white"), alt.value("black")))
    return (rect + text).properties(width=220, height=220, title=title)


def _curve_frame(curve: Any) -> pl.DataFrame:
    frame = getattr(curve, "curve", curve)
    if not isinstance(frame, pl.DataFrame) or not {"threshold", "tp", "fp", "tn", "fn"} <= set(
            frame.columns):
        raise invalid("curve", "a threshold-curve frame (threshold, tp, fp, tn, fn)",
                      type(curve).__name__)
    keep = ["threshold", "tp", "fp", "tn", "fn"] + (["version"] if "version" in frame.columns
                                                    else [])
    return frame.select(keep).with_columns(
        (pl.col("tp") / (pl.col("tp") + pl.col("fn"))).alias("tpr"),
        (pl.col("fp") / (pl.col("fp") + pl.col("tn"))).alias("fpr"),
        (pl.col("tp") / (pl.col("tp") + pl.col("fp"))).alias("precision"))


def _by_version(frame: pl.DataFrame, max_points: int) -> pl.DataFrame:
    if "version" not in frame.columns or frame.is_empty():  # (no labelled row: an empty plot)
        return thin(frame, max_rows=max_points)
    parts = [thin(p, max_rows=max_points) for _, p in frame.group_by("version",
                                                                    maintain_order=True)]
    return pl.concat(parts)


def roc_curve(curve: Any, *, max_points: int = 400, title: str = "ROC curve") -> Any:
    """ROC curve (TPR vs FPR) from a threshold curve, thinned to ``max_points`` per version.

    Parameters
    ----------
    curve
        A frame with ``threshold, tp, fp, tn, fn`` (optionally ``version``), e.g. from
        [`mlmkit.viz.data.threshold_curve`][mlmkit.viz.data.threshold_curve] or a tuning result's
        ``curve``.
    """
    alt = altair()
    frame = _by_version(_curve_frame(curve), max_points)
    color = {"color": alt.Color("version:N")} if "version" in frame.columns else {}
    line = alt.Chart(_data(frame)).mark_line().encode(
        x=alt.X("fpr:Q", title="false positive rate", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("tpr:Q", title="true positive rate", scale=alt.Scale(domain=[0, 1])),
        order="threshold:Q", tooltip=["threshold:Q", "fpr:Q", "tpr:Q"], **color)
    diag = alt.Chart(alt.Data(values=[{"x": 0, "y": 0}, {"x": 1, "y": 1}])).mark_line(
        color="#999", strokeDash=[4, 4]).encode(x="x:Q", y="y:Q")
    return (diag + line).properties(width=260, height=260, title=title)


def pr_curve(curve: Any, *, max_points: int = 400, title: str = "Precision-recall curve") -> Any:
    """Precision vs recall from a threshold curve, thinned to ``max_points`` per version."""
    alt = altair()
    frame = _by_version(_curve_frame(curve), max_points).filter(pl.col("precision").is_not_nan())
    color = {"color": alt.Color("version:N")} if "version" in frame.columns else {}
    return alt.Chart(_data(frame)).mark_line().encode(
        x=alt.X("tpr:Q", title="recall", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("precision:Q", title="precision", scale=alt.Scale(domain=[0, 1])),
        order="threshold:Q", tooltip=["threshold:Q", "precision:Q", "tpr:Q"], **color,
    ).properties(width=260, height=260, title=title)


def threshold_curve(curve: Any, *, current: float | None = None, optimal: float | None = None,
                    selected: float | None = None,
                    metrics: Sequence[str] = ("precision", "recall", "f1_score"),
                    max_points: int = 400, title: str = "Metrics vs threshold") -> Any:
    """Precision / recall / F1 against the threshold, current and optimal thresholds marked.

    The labels of the marks sit on separate rows (the leftmost to the left of its rule), so
    ``current`` and ``optimal`` never overlap even when they are close.

    Parameters
    ----------
    curve
        A threshold-curve frame or a tuning result (its ``curve``, ``current_threshold``
        and ``optimal_threshold`` are used when ``current`` / ``optimal`` are not given).
    selected : float, optional
        A threshold being considered (a panel's slider value), drawn as a bolder rule; build
        the chart again when it changes.
    """
    alt = altair()
    frame = getattr(curve, "curve", curve)
    current = getattr(curve, "current_threshold", None) if current is None else current
    optimal = getattr(curve, "optimal_threshold", None) if optimal is None else optimal
    if not isinstance(frame, pl.DataFrame) or "threshold" not in frame.columns:
        raise invalid("curve", "a threshold-curve frame or a tuning result", type(curve).__name__)
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        raise invalid("metrics", f"columns of the curve ({', '.join(frame.columns)})", missing)
    long = thin(frame.select("threshold", *metrics), max_rows=max_points).unpivot(
        index="threshold", on=list(metrics), variable_name="metric", value_name="value")
    lines = alt.Chart(_data(long)).mark_line().encode(
        x=alt.X("threshold:Q", title="threshold"),
        y=alt.Y("value:Q", title="value", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("metric:N"), tooltip=["metric", "threshold:Q", "value:Q"])
    layers = [lines]
    named = [(name, v) for name, v in (("current", current), ("optimal", optimal),
                                       ("selected", selected)) if v is not None]
    marks = []
    for row, (name, v) in enumerate(sorted(named, key=lambda item: float(item[1]))):
        # one text row per mark, left of the rule for the leftmost: labels never overlap
        marks.append({"threshold": float(v), "which": f"{name} {float(v):.3g}", "name": name,
                      "row": 10 + 14 * row, "align": "right" if row == 0 and len(named) > 1
                      else "left"})
    if marks:
        rules = alt.Chart(alt.Data(values=marks)).encode(x="threshold:Q")
        layers.append(rules.mark_rule(strokeDash=[5, 3], color=INK).encode(
            tooltip=["which:N"],
            strokeWidth=alt.condition(alt.datum.name == "selected", alt.value(2.5),
                                      alt.value(1.2))))
        for align, dx in (("left", 3), ("right", -3)):
            layers.append(rules.transform_filter(alt.datum.align == align).mark_text(
                align=align, dx=dx, fontSize=10, color=INK).encode(
                text="which:N", y=alt.Y("row:Q", scale=None)))
    return alt.layer(*layers).properties(title=title)


def calibration(frame: pl.DataFrame, *, title: str = "Calibration") -> Any:
    """Reliability diagram: observed positive rate vs mean score per bin (size = rows).

    Parameters
    ----------
    frame : polars.DataFrame
        ``mean_score, observed_rate, count`` per bin, e.g. from
        [`mlmkit.viz.data.calibration_frame`][mlmkit.viz.data.calibration_frame] or
        `mlmkit.analysis.metrics.calibration`.
    """
    need = {"mean_score", "observed_rate", "count"}
    if not isinstance(frame, pl.DataFrame):
        raise invalid("frame", "a calibration frame (mean_score, observed_rate, count)", frame)
    alt = altair()
    if not need <= set(frame.columns):
        raise invalid("frame", "a calibration frame (mean_score, observed_rate, count)",
                      frame.columns)
    data = frame.select(sorted(need))
    diag = alt.Chart(alt.Data(values=[{"x": 0, "y": 0}, {"x": 1, "y": 1}])).mark_line(
        color="#999", strokeDash=[4, 4]).encode(x="x:Q", y="y:Q")
    pts = alt.Chart(_data(data)).encode(
        x=alt.X("mean_score:Q", title="mean predicted score", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("observed_rate:Q", title="observed positive rate",
                scale=alt.Scale(domain=[0, 1])))
    return (diag + pts.mark_line() + pts.mark_circle().encode(
        size=alt.Size("count:Q", legend=None),
        tooltip=["mean_score:Q", "observed_rate:Q", "count:Q"])).properties(
        width=260, height=260, title=title)
