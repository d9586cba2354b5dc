"""Charts of multiclass, regression and score-only models (built, never displayed).

Each builder takes what a service returned (a `MulticlassWindowMetrics`,
`RegressionWindowMetrics`, `ScoreWindowMetrics` or a histogram frame from
[`mlmkit.viz.data`][mlmkit.viz.data]) and returns an Altair chart; the data is aggregated
before it gets here (K x K cells, histogram bins, a bounded sample).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_int, invalid
from mlmkit.analysis.metrics.multiclass.cells import ClassCells
from mlmkit.viz._theme import INK, PALETTE, SEVERITY_COLORS, altair, check_points

__all__ = ["class_confusion_matrix", "class_metrics", "residual_histogram", "residual_scatter",
           "score_distribution"]


def _data(frame: pl.DataFrame) -> pl.DataFrame:
    """At most MAX_POINTS rows, NaN as null (JSON has no NaN)."""
    frame = check_points(frame)
    return frame.with_columns([pl.col(c).fill_nan(None) for c, t in frame.schema.items()
                               if t.is_float()])


#: Classes a confusion heatmap draws; beyond, the rest are folded into one "(other)" class.
TOP_CLASSES = 40
_OTHER = "(other)"


def _classes(metrics: Any, top: int) -> tuple[list[str], np.ndarray[Any, Any], int]:
    """Labels (as text), the matrix of at most ``top`` classes plus "(other)", and K.

    Reads the non-zero cells (`ClassCells`) where the result has them, so a model with 50,000
    classes is drawn from its cells, never from a K x K matrix.
    """
    labels = getattr(metrics, "labels", None)
    inner = getattr(metrics, "metrics", metrics)
    cells = getattr(inner, "cells", None)
    if labels is not None and isinstance(cells, ClassCells):
        a, p, n = cells.actual, cells.predicted, cells.count
    else:
        matrix = getattr(metrics, "confusion_matrix", getattr(metrics, "matrix", None))
        if labels is None or not isinstance(matrix, np.ndarray) or matrix.ndim != 2 \
                or matrix.shape != (len(labels), len(labels)):
            raise invalid("metrics", "a multiclass result (labels and a K x K "
                          "confusion_matrix)", type(metrics).__name__)
        a, p = np.nonzero(matrix)
        n = matrix[a, p]
    k = len(labels)
    names = [str(v) for v in labels]
    if k > top:  # the classes with most rows (actual or predicted), in label order
        weight = np.bincount(a, weights=n, minlength=k) + np.bincount(p, weights=n, minlength=k)
        kept = np.sort(np.argsort(-weight, kind="stable")[:top])
        slot = np.full(k, top, dtype=np.int64)
        slot[kept] = np.arange(top)
        names = [names[i] for i in kept] + [_OTHER]
        a, p = slot[a], slot[p]
    size = len(names)
    flat = np.bincount(a * size + p, weights=n, minlength=size * size)
    return names, flat.astype(np.int64).reshape(size, size), k


def _cell(k: int) -> int:
    """Pixels per cell: the matrix stays about 420 px wide, cells 16 to 40 px."""
    return int(min(40, max(16, 420 // max(k, 1))))


def class_confusion_matrix(metrics: Any, *, normalize: bool = False, top: int = TOP_CLASSES,
                           title: str | None = None) -> Any:
    """K x K heatmap of a multiclass confusion matrix: rows actual, columns predicted.

    Parameters
    ----------
    metrics
        A `MulticlassWindowMetrics` (``labels``, ``confusion_matrix``) or the analysis-layer
        `MulticlassMetrics` (``labels``, ``matrix``).
    normalize : bool
        Colour (and label) each cell by its share of the actual class's row (recall on the
        diagonal) instead of its count. Both are in the tooltip either way.
    top : int
        Classes drawn: beyond, the ``top`` classes with most rows (actual or predicted) are
        kept in label order and every other class is folded into one ``(other)`` row and
        column (the counts still add up to the matrix's).

    Returns
    -------
    altair.LayerChart
        One ``rect`` per cell (K x K rows of data, counts equal to the matrix), the labels in
        matrix order on both axes; cells shrink to 16 px from about 10 classes, numbers are
        written in the cells up to 20 classes.
    """
    alt = altair()
    labels, matrix, classes = _classes(metrics, check_int("top", top, low=1))
    k = len(labels)
    rows = matrix.sum(axis=1)
    frame = pl.DataFrame({
        "actual": [a for a in labels for _ in labels],
        "predicted": [p for _ in labels for p in labels],
        "count": matrix.reshape(-1).astype(np.int64),
        "row_share": [float(matrix[i, j] / rows[i]) if rows[i] else math.nan
                      for i in range(k) for j in range(k)]},
        schema={"actual": pl.String, "predicted": pl.String, "count": pl.Int64,
                "row_share": pl.Float64})  # (typed: a window without labels has no class)
    field, fmt = ("row_share", ".0%") if normalize else ("count", "d")
    frame = frame.with_columns(
        (pl.col("row_share") * 100).round(0).cast(pl.Int64, strict=False)
        .cast(pl.String).fill_null("").add("%").alias("label") if normalize
        else pl.col("count").cast(pl.String).alias("label"))
    values = frame[field].to_numpy()
    peak = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    peak = peak or 1.0
    frame = frame.with_columns((pl.col(field).fill_nan(0.0) / peak).alias("strength"))
    cell = _cell(k)
    angle = -45 if k > 6 else 0
    base = alt.Chart(_data(frame)).encode(
        x=alt.X("predicted:N", sort=labels, title="predicted",
                axis=alt.Axis(labelAngle=angle, labelLimit=90)),
        y=alt.Y("actual:N", sort=labels, title="actual", axis=alt.Axis(labelLimit=90)))
    rect = base.mark_rect().encode(
        color=alt.Color(f"{field}:Q", scale=alt.Scale(scheme="blues"),
                        title="share of row" if normalize else "count",
                        legend=alt.Legend(format=fmt)),
        tooltip=["actual", "predicted", "count:Q",
                 alt.Tooltip("row_share:Q", title="share of actual", format=".1%")])
    layers = [rect]
    if k <= 20:
        layers.append(base.mark_text(fontSize=max(8, min(13, cell // 3))).encode(
            text="label:N",
            color=alt.condition(alt.datum.strength > 0.5, alt.value("white"),
                                alt.value("black"))))
    what = "share of actual class" if normalize else "counts"
    return alt.layer(*layers).properties(
        width=cell * k, height=cell * k,
        title=title or f"Confusion matrix ({what}" + (
            f"; top {k - 1} of {classes:,} classes)" if classes > k else ")"))


def class_metrics(metrics: Any, *, which: Sequence[str] = ("precision", "recall", "f1"),
                  title: str = "Per-class precision, recall and F1") -> Any:
    """Grouped horizontal bars: precision / recall / F1 of each class, Wilson bounds as rules.

    Parameters
    ----------
    metrics
        A `MulticlassWindowMetrics` or `MulticlassMetrics` (its ``per_class`` frame).
    which
        Columns of ``per_class`` to draw.
    """
    alt = altair()
    per_class = getattr(metrics, "per_class", None)
    if not isinstance(per_class, pl.DataFrame) or "label" not in per_class.columns:
        raise invalid("metrics", "a multiclass result with a per_class frame",
                      type(metrics).__name__)
    missing = [m for m in which if m not in per_class.columns]
    if missing:
        raise invalid("which", f"columns of per_class ({', '.join(per_class.columns)})",
                      missing)
    order = [str(v) for v in per_class["label"].to_list()]
    parts = []
    for name in which:
        low, high = f"{name}_low", f"{name}_high"
        bounds = [pl.col(low), pl.col(high)] if {low, high} <= set(per_class.columns) \
            else [pl.lit(None, pl.Float64), pl.lit(None, pl.Float64)]
        parts.append(per_class.select(
            pl.col("label").cast(pl.String).alias("class"), pl.lit(name).alias("metric"),
            pl.col(name).cast(pl.Float64).alias("value"), bounds[0].alias("low"),
            bounds[1].alias("high"), pl.col("support")))
    long = pl.concat(parts)
    band = max(12, min(30, 360 // max(len(order), 1)))
    base = alt.Chart(_data(long)).encode(
        y=alt.Y("class:N", sort=order, title="class"),
        yOffset=alt.YOffset("metric:N", sort=list(which)),
        color=alt.Color("metric:N", sort=list(which), title="metric",
                        scale=alt.Scale(range=PALETTE[:len(which)])))
    bars = base.mark_bar().encode(
        x=alt.X("value:Q", title="value", scale=alt.Scale(domain=[0, 1])),
        tooltip=["class", "metric", alt.Tooltip("value:Q", format=".3f"),
                 alt.Tooltip("low:Q", format=".3f"), alt.Tooltip("high:Q", format=".3f"),
                 "support:Q"])
    ci = base.mark_rule(color=INK).encode(x="low:Q", x2="high:Q")
    return (bars + ci).properties(width=360, height=alt.Step(band // len(which) or 4),
                                  title=title)


def _hist_frame(hist: pl.DataFrame, name: str) -> pl.DataFrame:
    need = {"bin_start", "bin_end", "n"}
    if not isinstance(hist, pl.DataFrame) or not need <= set(hist.columns):
        raise invalid(name, "a histogram frame (bin_start, bin_end, n) from mlmkit.viz.data",
                      type(hist).__name__ if not isinstance(hist, pl.DataFrame)
                      else hist.columns)
    return hist


def _bars(alt: Any, hist: pl.DataFrame, x_title: str) -> Any:
    color = {"color": alt.Color("version:N", title="version")} \
        if "version" in hist.columns and hist["version"].n_unique() > 1 else {}
    return alt.Chart(_data(hist)).mark_bar(opacity=0.75, binSpacing=0).encode(
        x=alt.X("bin_start:Q", title=x_title, bin="binned"), x2="bin_end:Q",
        y=alt.Y("n:Q", title="predictions", stack=None),
        tooltip=[alt.Tooltip("bin_start:Q", format=".4g"), alt.Tooltip("bin_end:Q", format=".4g"),
                 "n:Q", *(["version"] if "version" in hist.columns else [])], **color)


def _rules(alt: Any, marks: list[dict[str, Any]], colour: str) -> list[Any]:
    if not marks:
        return []
    rules = alt.Chart(alt.Data(values=marks)).encode(x="x:Q")
    return [rules.mark_rule(color=colour, strokeDash=[4, 3]).encode(tooltip=["label:N"]),
            rules.mark_text(align="left", dx=3, fontSize=10, color=INK, angle=0).encode(
                text="label:N", y=alt.Y("row:Q", scale=None))]


def residual_histogram(hist: pl.DataFrame, metrics: Any = None, *,
                       title: str = "Residuals (prediction - actual)") -> Any:
    """Histogram of the residuals, the residual quantiles marked as labelled rules.

    Parameters
    ----------
    hist : polars.DataFrame
        ``bin_start, bin_end, n`` (and ``version``), e.g. from
        [`mlmkit.viz.data.residual_histogram`][mlmkit.viz.data.residual_histogram].
    metrics
        A `RegressionWindowMetrics`: its ``residual_quantiles`` are drawn (``q5`` ... ``q95``)
        and a rule at zero.
    """
    alt = altair()
    hist = _hist_frame(hist, "hist")
    layers = [_bars(alt, hist, "residual (prediction - actual)")]
    quantiles = getattr(metrics, "residual_quantiles", None)
    marks = [{"x": 0.0, "label": "0", "row": 8}]
    labelled = int(getattr(metrics, "labelled_count", 0) or 0)
    if isinstance(quantiles, pl.DataFrame) and labelled:
        marks += [{"x": float(v), "label": f"q{100 * q:g} {v:.3g}", "row": 22 + 13 * i}
                  for i, (q, v) in enumerate(quantiles.select("quantile", "value").iter_rows())
                  if v is not None and math.isfinite(v)]
    layers += _rules(alt, marks, SEVERITY_COLORS["warning"])
    return alt.layer(*layers).properties(title=title)


def residual_scatter(sample: pl.DataFrame, *, title: str | None = None) -> Any:
    """Residual against prediction from a bounded sample, a zero line for reference.

    Parameters
    ----------
    sample : polars.DataFrame
        ``prediction, residual`` (and ``version``), at most 5,000 rows, e.g. from
        [`mlmkit.viz.data.residual_sample`][mlmkit.viz.data.residual_sample] (its
        ``sampled_from`` column, when present, goes into the subtitle).
    """
    alt = altair()
    if not isinstance(sample, pl.DataFrame) or not {"prediction", "residual"} <= set(
            sample.columns):
        raise invalid("sample", "a frame with prediction and residual columns",
                      type(sample).__name__)
    keep = [c for c in ("prediction", "residual", "version") if c in sample.columns]
    data = sample.select(keep)
    color = {"color": alt.Color("version:N", title="version")} if "version" in keep else {}
    points = alt.Chart(_data(data)).mark_circle(size=14, opacity=0.45).encode(
        x=alt.X("prediction:Q", title="prediction", scale=alt.Scale(zero=False)),
        y=alt.Y("residual:Q", title="residual (prediction - actual)"),
        tooltip=[alt.Tooltip("prediction:Q", format=".4g"),
                 alt.Tooltip("residual:Q", format=".4g")], **color)
    zero = alt.Chart(alt.Data(values=[{"y": 0.0}])).mark_rule(
        color=INK, strokeDash=[4, 3]).encode(y="y:Q")
    sub = ""
    if "sampled_from" in sample.columns and sample.height:
        sub = f"{sample.height:,} of {int(sample['sampled_from'][0]):,} labelled predictions"
    return (points + zero).properties(
        title=alt.TitleParams(title or "Residual vs prediction", subtitle=sub or ""))


def score_distribution(hist: pl.DataFrame, *, threshold: float | None = None,
                       flag_rate: float | None = None,
                       title: str = "Score distribution") -> Any:
    """Histogram of a score-only model's scores with its flag threshold marked.

    Parameters
    ----------
    hist : polars.DataFrame
        ``bin_start, bin_end, n`` (and ``version``), e.g. from
        [`mlmkit.viz.data.score_histogram`][mlmkit.viz.data.score_histogram].
    threshold : float, optional
        The score from which a row is flagged (the version's ``configuration["threshold"]``);
        bins at or above it are drawn in the warning colour.
    flag_rate : float, optional
        The window's flagged share, written beside the threshold.
    """
    alt = altair()
    hist = _hist_frame(hist, "hist")
    layers: list[Any] = []
    if threshold is not None and math.isfinite(float(threshold)):
        t = float(threshold)
        hist = hist.with_columns(pl.when(pl.col("bin_start") >= t).then(pl.lit("flagged"))
                                 .otherwise(pl.lit("not flagged")).alias("side"))
        layers.append(_bars(alt, hist, "score").encode(color=alt.Color(
            "side:N", title=None, scale=alt.Scale(domain=["not flagged", "flagged"],
                                                  range=[PALETTE[0],
                                                         SEVERITY_COLORS["warning"]]))))
        label = f"flag threshold {t:.4g}"
        if flag_rate is not None and math.isfinite(float(flag_rate)):
            label += f" (flag rate {float(flag_rate):.1%})"
        layers += _rules(alt, [{"x": t, "label": label, "row": 8}], SEVERITY_COLORS["critical"])
    else:
        layers.append(_bars(alt, hist, "score"))
    return alt.layer(*layers).properties(title=title)
