"""Turn monitoring aggregates (polars rows from the store) into analysis-layer results."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NotRequired, TypeAlias, TypedDict

import numpy as np
import polars as pl

from mlmkit.analysis.metrics import roc_auc
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
from mlmkit.store.engines import StatisticsEngine
from mlmkit.values import TimeRange

__all__ = ["EXACT_AUC_MAX_ROWS", "PROPORTIONS", "RocAuc", "TotalsRow", "proportion_counts",
           "rate_rows", "roc_aucs", "window_metrics"]

#: count metrics that are proportions of confusion counts
PROPORTIONS = select(kind=Kind.COUNT, test=Significance.PROPORTION)

#: Up to this many labelled, scored rows per version ROC AUC is exact (the ``(score, actual)``
#: pairs are read and sorted); beyond, it comes from a score histogram with a stated bound.
EXACT_AUC_MAX_ROWS = 1_000_000


#: Per-bin counts of a labelled score histogram (one side: positives or negatives).
_Counts: TypeAlias = "np.ndarray[tuple[int], np.dtype[np.int64]]"


class TotalsRow(TypedDict):
    """One row of ``monitor_sql.window_summary`` / ``window_counts`` totals (``named=True``).

    ``window_counts`` (the ``scores=False`` path) has no score sums and no ``mean_score``
    (its ``scored`` is 0).
    """

    version: str
    n: int
    labelled: int
    tp: int
    fp: int
    tn: int
    fn: int
    scored: int
    predicted_positive: int
    median_label_latency_s: float | None
    scored_pos: NotRequired[int]
    score_sum_pos: NotRequired[float]
    score_sq_sum: NotRequired[float]
    log_pos_sum: NotRequired[float]
    log1m_neg_sum: NotRequired[float]
    mean_score: NotRequired[float | None]


@dataclass(frozen=True)
class RocAuc:
    """A window's ROC AUC, how it was computed and its worst-case error (0 when exact)."""

    value: float
    method: str  # "exact" | "histogram"
    error_bound: float


def _histogram_auc(pos: _Counts, neg: _Counts) -> RocAuc:
    value = auc_from_histograms(pos, neg)
    bound = math.nan if math.isnan(value) else auc_histogram_error_bound(pos, neg)
    return RocAuc(value, "histogram", bound)


def roc_aucs(engine: StatisticsEngine, model_name: str, scored: Mapping[str, int],
             span: TimeRange, *, bins: int, role: str,
             exact_max_rows: int | None = None) -> dict[str, RocAuc]:
    """ROC AUC per version with labelled, scored rows (``scored`` maps version to their count).

    Exact ([`mlmkit.analysis.metrics.roc_auc`][mlmkit.analysis.metrics.roc_auc] on the
    version's ``(score, actual)`` pairs, one plain scan) when the version has at most
    ``exact_max_rows`` (default `EXACT_AUC_MAX_ROWS`) of them; else from one ``bins``-bin histogram
    scan over the remaining versions, with
    [`auc_histogram_error_bound`][mlmkit.analysis.metrics.auc_histogram_error_bound] as
    its bound.
    """
    if exact_max_rows is None:
        exact_max_rows = EXACT_AUC_MAX_ROWS
    out: dict[str, RocAuc] = {}
    large = [v for v, n in scored.items() if n > exact_max_rows]
    for version, n in scored.items():
        if 0 < n <= exact_max_rows:
            pairs = engine.labelled_scores(model_name, versions=[version], time_range=span,
                                    role=role)
            value = roc_auc(pairs.get_column("actual").to_numpy(),
                            pairs.get_column("score").to_numpy())
            out[version] = RocAuc(value, "exact", math.nan if math.isnan(value) else 0.0)
    if large:
        hist = engine.score_histogram(model_name, versions=large, time_range=span, bins=bins,
                               role=role)
        for version in large:
            part = hist.filter(pl.col("version") == version)
            out[version] = _histogram_auc(part.get_column("pos").to_numpy(),
                                          part.get_column("neg").to_numpy())
    return out


def proportion_counts(metric: str, counts: dict[str, int]) -> tuple[int, int] | None:
    """``(successes, trials)`` of a count-based metric, or ``None`` for other metrics."""
    if metric not in PROPORTIONS:
        return None
    s, n = proportion(metric, counts)
    return int(s), int(n)


def _score_metrics(row: TotalsRow) -> tuple[float | None, float | None]:
    scored = int(row["scored"])
    if scored == 0:
        return None, None
    brier = brier_score_from_sums(scored, int(row["scored_pos"]),
                                  min(float(row["score_sum_pos"]), float(row["scored_pos"])),
                                  min(float(row["score_sq_sum"]), float(scored)))
    loss = log_loss_from_sums(scored, min(float(row["log_pos_sum"]), 0.0),
                              min(float(row["log1m_neg_sum"]), 0.0))
    return brier, loss


def window_metrics(model_name: str, version: str, start: datetime, end: datetime,
                   row: TotalsRow | None, auc: RocAuc | None, *,
                   min_labels: int, ci: bool, confidence: float) -> WindowMetrics:
    """Build `WindowMetrics` from one ``window_summary`` totals row and its ROC AUC."""
    if row is None or int(row["n"]) == 0:
        return WindowMetrics(model_name, version, start, end, None, 0, 0, None, math.nan, None,
                             min_labels=min_labels)
    n, labelled = int(row["n"]), int(row["labelled"])
    metrics = None
    bound = method = value = None
    if labelled:
        brier, loss = _score_metrics(row)
        if auc is not None and brier is not None:
            value, method = auc.value, auc.method
            bound = None if math.isnan(auc.error_bound) else auc.error_bound
        metrics = Metrics.from_counts(int(row["tp"]), int(row["fp"]), int(row["tn"]),
                                      int(row["fn"]), roc_auc=value, brier_score=brier,
                                      log_loss=loss, ci=ci, confidence=confidence)
    latency = row.get("median_label_latency_s")
    mean_score = row.get("mean_score")
    return WindowMetrics(
        model_name, version, start, end, metrics, n, labelled,
        None if latency is None else float(latency),
        int(row["predicted_positive"]) / n,
        None if mean_score is None else float(mean_score),
        min_labels=min_labels, roc_auc_error_bound=bound, roc_auc_method=method)


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
