"""Turn monitoring aggregates (polars rows from the store) into analysis-layer results."""

from __future__ import annotations

import math
import warnings
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from mlmkit.analysis.metrics import (
    Metrics,
    UndefinedMetricWarning,
    auc_from_histograms,
    auc_histogram_error_bound,
    brier_score_from_sums,
    log_loss_from_sums,
    wilson_interval,
)
from mlmkit.services._monitor_results import WindowMetrics

__all__ = ["PROPORTIONS", "proportion_counts", "rate_rows", "window_metrics"]

#: metric -> (successes, trials) from confusion counts
PROPORTIONS = {
    "accuracy": lambda c: (c["tp"] + c["tn"], c["tp"] + c["fp"] + c["tn"] + c["fn"]),
    "precision": lambda c: (c["tp"], c["tp"] + c["fp"]),
    "recall": lambda c: (c["tp"], c["tp"] + c["fn"]),
    "specificity": lambda c: (c["tn"], c["tn"] + c["fp"]),
}


def proportion_counts(metric: str, counts: dict[str, int]) -> tuple[int, int] | None:
    """``(successes, trials)`` of a count-based metric, or ``None`` for other metrics."""
    rule = PROPORTIONS.get(metric)
    if rule is None:
        return None
    s, n = rule(counts)
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


def _wilson(successes: int, trials: int, confidence: float) -> tuple[float, float, float]:
    if trials == 0:
        return math.nan, math.nan, math.nan
    iv = wilson_interval(successes, trials, confidence=confidence)
    return successes / trials, iv.low, iv.high


def rate_rows(counts: pl.DataFrame, *, confidence: float) -> pl.DataFrame:
    """Add metric columns with Wilson intervals to a frame of confusion counts (one per row).

    Adds ``label_coverage``, ``accuracy[_low|_high]``, ``precision``/``recall``/
    ``specificity`` with intervals, ``f1_score``, ``brier_score`` and ``log_loss``; rows
    without labels get NaN.
    """
    cols: dict[str, list[float]] = {}
    f1: list[float] = []
    for rec in counts.select("tp", "fp", "tn", "fn").iter_rows(named=True):
        c = {k: int(v or 0) for k, v in rec.items()}
        for metric, rule in PROPORTIONS.items():
            value, low, high = _wilson(*rule(c), confidence)
            cols.setdefault(metric, []).append(value)
            cols.setdefault(f"{metric}_low", []).append(low)
            cols.setdefault(f"{metric}_high", []).append(high)
        if sum(c.values()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                f1.append(Metrics.from_counts(c["tp"], c["fp"], c["tn"], c["fn"]).f1_score)
        else:
            f1.append(math.nan)
    n = counts.get_column("n").cast(pl.Float64)
    labelled = counts.get_column("labelled").cast(pl.Float64)
    scored = counts.get_column("scored").cast(pl.Float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = {
            "label_coverage": (labelled / n).fill_nan(None).fill_null(math.nan),
            "brier_score": (counts.get_column("brier_sum").cast(pl.Float64) / scored
                            ).fill_nan(None).fill_null(math.nan),
            "log_loss": (counts.get_column("log_loss_sum").cast(pl.Float64) / scored
                         ).fill_nan(None).fill_null(math.nan),
        }
    return counts.with_columns(
        *[pl.Series(k, v, dtype=pl.Float64) for k, v in cols.items()],
        pl.Series("f1_score", f1, dtype=pl.Float64),
        *[s.alias(k) for k, s in extra.items()])
