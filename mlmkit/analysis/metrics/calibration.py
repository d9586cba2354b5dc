"""Calibration: reliability bins and expected calibration error, from rows or histograms."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, check_int, invalid
from mlmkit.analysis.metrics._inputs import (
    as_1d,
    as_binary,
    as_counts,
    as_score,
    check_length,
    warn_undefined,
)


def _bin_edges(score: np.ndarray, bins: int, strategy: str) -> np.ndarray:
    if strategy == "quantile":
        if score.size == 0:
            return np.linspace(0.0, 1.0, bins + 1)
        return np.asarray(np.percentile(score, np.linspace(0.0, 100.0, bins + 1)))
    return np.linspace(0.0, 1.0, bins + 1)


def calibration(
    actual: Any, score: Any, *, bins: int = 10, strategy: str = "uniform"
) -> pl.DataFrame:
    """Reliability bins: mean score against observed positive rate per score bin.

    Binning follows scikit-learn's ``calibration_curve`` exactly (``uniform`` edges
    ``linspace(0, 1, bins + 1)`` or ``quantile`` edges at score percentiles; a score on an
    inner edge belongs to the lower bin), so ``observed_rate`` / ``mean_score`` equal its
    ``prob_true`` / ``prob_pred``. Empty bins are left out.

    Parameters
    ----------
    actual : array-like of bool or 0/1
        True labels.
    score : array-like of float in [0, 1]
        Positive-class scores.
    bins : int, default 10
        Number of bins.
    strategy : {"uniform", "quantile"}, default "uniform"
        Equal-width or equal-count bins.

    Returns
    -------
    polars.DataFrame
        Columns ``bin`` (0-based), ``lower``, ``upper``, ``mean_score``, ``observed_rate``,
        ``count``; one row per non-empty bin.

    Examples
    --------
    >>> frame = calibration([0, 0, 1, 1], [0.1, 0.3, 0.7, 0.9], bins=2)
    >>> frame["observed_rate"].to_list(), frame["mean_score"].to_list()
    ([0.0, 1.0], [0.2, 0.8])
    """
    y = as_binary("actual", actual)
    s = as_score("score", score)
    check_length("score", s, "actual", y.shape[0])
    bins = check_int("bins", bins, low=1)
    strategy = check_choice("strategy", strategy, ("uniform", "quantile"))
    edges = _bin_edges(s, bins, strategy)
    index = np.searchsorted(edges[1:-1], s)
    counts = np.bincount(index, minlength=bins)
    positives = np.bincount(index, weights=y, minlength=bins)
    sums = np.bincount(index, weights=s, minlength=bins)
    return _frame(counts, positives, sums, edges)


def _frame(
    counts: np.ndarray, positives: np.ndarray, sums: np.ndarray, edges: np.ndarray
) -> pl.DataFrame:
    keep = counts > 0
    count = counts[keep].astype(np.int64)
    return pl.DataFrame(
        {
            "bin": np.flatnonzero(keep).astype(np.int64),
            "lower": edges[:-1][keep],
            "upper": edges[1:][keep],
            "mean_score": sums[keep] / count,
            "observed_rate": positives[keep] / count,
            "count": count,
        }
    )


def calibration_from_histograms(
    counts: Any, positives: Any, score_sums: Any, *, edges: Any = None
) -> pl.DataFrame:
    """Reliability bins from per-bin row counts, positive counts and score sums.

    Parameters
    ----------
    counts : array-like of non-negative int
        Rows per bin.
    positives : array-like of non-negative int
        Positive rows per bin (``<= counts``).
    score_sums : array-like of float
        Sum of scores per bin.
    edges : array-like of float, optional
        ``len(counts) + 1`` bin edges; default uniform edges on [0, 1].

    Returns
    -------
    polars.DataFrame
        Same columns as `calibration`, one row
        per non-empty bin.

    Examples
    --------
    >>> frame = calibration_from_histograms([2, 0, 2], [0, 0, 1], [0.4, 0.0, 1.6])
    >>> frame["bin"].to_list(), frame["mean_score"].to_list()
    ([0, 2], [0.2, 0.8])
    """
    count = as_counts("counts", counts)
    pos = as_counts("positives", positives)
    check_length("positives", pos, "counts", count.shape[0])
    if np.any(pos > count):
        raise invalid("positives", "at most counts in every bin", pos[:5].tolist())
    sums = as_1d("score_sums", score_sums).astype(np.float64)
    check_length("score_sums", sums, "counts", count.shape[0])
    if not np.all((sums >= 0) & (sums <= count)):
        raise invalid("score_sums", "finite sums in [0, counts] per bin", sums[:5].tolist())
    if edges is None:
        edge_arr = np.linspace(0.0, 1.0, count.shape[0] + 1)
    else:
        edge_arr = as_score("edges", edges)
        check_length("edges", edge_arr, "counts plus one", count.shape[0] + 1)
    return _frame(count, pos.astype(np.float64), sums, edge_arr)


def _ece(frame: pl.DataFrame) -> float:
    total = int(frame["count"].sum())
    if total == 0:
        warn_undefined(["expected_calibration_error"], "no rows", stacklevel=4)
        return float("nan")
    gap = (frame["observed_rate"] - frame["mean_score"]).abs()
    return float((gap * frame["count"]).sum()) / total


def expected_calibration_error(
    actual: Any, score: Any, *, bins: int = 10, strategy: str = "uniform"
) -> float:
    """Compute the expected calibration error: mean ``|observed_rate - mean_score|`` by count.

    Parameters
    ----------
    actual : array-like of bool or 0/1
        True labels.
    score : array-like of float in [0, 1]
        Positive-class scores.
    bins : int, default 10
        Number of bins.
    strategy : {"uniform", "quantile"}, default "uniform"
        Binning, as in `calibration`.

    Returns
    -------
    float
        ECE in [0, 1]; NaN with an UndefinedMetricWarning for empty input.

    Examples
    --------
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.7, 0.9], bins=2), 6)
    0.2
    """
    return _ece(calibration(actual, score, bins=bins, strategy=strategy))


def expected_calibration_error_from_histograms(
    counts: Any, positives: Any, score_sums: Any
) -> float:
    """Compute the expected calibration error from per-bin counts, positives and score sums.

    Parameters
    ----------
    counts, positives, score_sums : array-like
        As in
        [`calibration_from_histograms`][mlmkit.analysis.metrics.calibration_from_histograms].

    Returns
    -------
    float
        ECE in [0, 1]; NaN with an UndefinedMetricWarning when every bin is empty.

    Examples
    --------
    >>> round(expected_calibration_error_from_histograms([2, 2], [0, 2], [0.4, 1.6]), 6)
    0.2
    """
    return _ece(calibration_from_histograms(counts, positives, score_sums))
