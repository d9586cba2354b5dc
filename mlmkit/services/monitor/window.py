"""Turn monitoring aggregates (polars rows from the store) into analysis-layer results."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from mlmkit.analysis.metrics.binary import (
    Metrics,
    auc_from_histograms,
    auc_histogram_error_bound,
    brier_score_from_sums,
    log_loss_from_sums,
)
from mlmkit.analysis.monitoring import bucket_metrics
from mlmkit.catalogue import Kind, Significance, proportion, select
from mlmkit.services.monitor.results import WindowMetrics

__all__ = ["PROPORTIONS", "proportion_counts", "rate_rows", "window_metrics"]

#: count metrics that are proportions of confusion counts
PROPORTIONS = select(kind=Kind.COUNT, test=Significance.PROPORTION)


def proportion_counts(metric: str, counts: dict[str, int]) -> tuple[int, int] | None:
    """``(successes, trials)`` of a count-based metric, or ``None`` for other metrics."""
    if metric not in PROPORTIONS:
        return None
    s, n = proportion(metric, counts)
    return int(s), int(n)


def _score_metrics(row: dict[str, Any], hist: pl.DataFrame | None
                   ) -> tuple[float | None, float | None, float | None, float | None]:
    scored = int(row["scored"])
    if scored == 0:
        return None, None, None, None
    brier = brier_score_from_sums(scored, int(row["scored_pos"]),
                                  min(float(row["score_sum_pos"]), float(row["scored_pos"])),
                                  min(float(row["score_sq_sum"]), float(scored)))
    loss = log_loss_from_sums(scored, min(float(row["log_pos_sum"]), 0.0),
                              min(float(row["log1m_neg_sum"]), 0.0))
    auc = bound = None
    if hist is not None and hist.height:
        pos = hist.get_column("pos").to_numpy()
        neg = hist.get_column("neg").to_numpy()
        auc = auc_from_histograms(pos, neg)
        bound = None if math.isnan(auc) else auc_histogram_error_bound(pos, neg)
    return auc, brier, loss, bound


def window_metrics(model_name: str, version: str, start: datetime, end: datetime,
                   row: dict[str, Any] | None, hist: pl.DataFrame | None, *,
                   min_labels: int, ci: bool, confidence: float) -> WindowMetrics:
    """Build :class:`WindowMetrics` from one ``window_summary`` totals row and its histogram."""
    if row is None or int(row["n"]) == 0:
        return WindowMetrics(model_name, version, start, end, None, 0, 0, None, math.nan, None,
                             min_labels=min_labels)
    n, labelled = int(row["n"]), int(row["labelled"])
    metrics = None
    bound = None
    if labelled:
        auc, brier, loss, bound = _score_metrics(row, hist)
        metrics = Metrics.from_counts(int(row["tp"]), int(row["fp"]), int(row["tn"]),
                                      int(row["fn"]), roc_auc=auc, brier_score=brier,
                                      log_loss=loss, ci=ci, confidence=confidence)
    latency = row.get("median_label_latency_s")
    mean_score = row.get("mean_score")
    return WindowMetrics(
        model_name, version, start, end, metrics, n, labelled,
        None if latency is None else float(latency),
        int(row["predicted_positive"]) / n,
        None if mean_score is None else float(mean_score),
        min_labels=min_labels, roc_auc_error_bound=bound)


def rate_rows(counts: pl.DataFrame, *, confidence: float) -> pl.DataFrame:
    """Add metric columns with Wilson intervals to a frame of confusion counts (one per row).

    Adds ``label_coverage``, ``accuracy[_low|_high]``, ``precision``/``recall``/
    ``specificity`` with intervals, ``f1_score``, ``brier_score`` and ``log_loss``; rows
    without labels get NaN.
    """
    arrays = [counts.get_column(c).fill_null(0).to_numpy() for c in ("tp", "fp", "tn", "fn")]
    values = bucket_metrics(*arrays, confidence=confidence)
    n = counts.get_column("n").cast(pl.Float64).to_numpy()
    labelled = counts.get_column("labelled").cast(pl.Float64).to_numpy()
    scored = counts.get_column("scored").cast(pl.Float64).to_numpy()
    brier = counts.get_column("brier_sum").cast(pl.Float64).fill_null(np.nan).to_numpy()
    loss = counts.get_column("log_loss_sum").cast(pl.Float64).fill_null(np.nan).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        values["label_coverage"] = np.where(n > 0, labelled / n, np.nan)
        values["brier_score"] = np.where(scored > 0, brier / scored, np.nan)
        values["log_loss"] = np.where(scored > 0, loss / scored, np.nan)
    return counts.with_columns(*[pl.Series(k, v, dtype=pl.Float64) for k, v in values.items()])
