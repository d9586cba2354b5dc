"""Metrics from sufficient statistics: score histograms and SQL sums, no rows needed.

A service can compute per-bin counts of positives and negatives (``GROUP BY`` a score bin)
or a few sums inside the database and get ranking metrics, Brier score and log loss here.
"""

from __future__ import annotations

import math
from typing import Any

from mlmkit._validation import check_int, check_real
from mlmkit.analysis.metrics import _kernels
from mlmkit.analysis.metrics._inputs import IntArray, as_counts, check_length, warn_undefined


def _histograms(pos_counts: Any, neg_counts: Any) -> tuple[IntArray, IntArray]:
    pos = as_counts("pos_counts", pos_counts)
    neg = as_counts("neg_counts", neg_counts)
    check_length("neg_counts", neg, "pos_counts", pos.shape[0])
    return pos, neg


def _undefined_if_one_class(name: str, pos: IntArray, neg: IntArray) -> bool:
    if pos.sum() == 0 or neg.sum() == 0:
        warn_undefined([name], "needs both positives and negatives", stacklevel=4)
        return True
    return False


def auc_from_histograms(pos_counts: Any, neg_counts: Any) -> float:
    """ROC AUC from per-bin counts of positives and negatives over ordered score bins.

    Bins must be ordered by increasing score. A positive beats every negative in a lower
    bin and ties (counts 1/2) with every negative in its own bin. With one bin per distinct
    score this *is* the exact AUC; with coarser bins it differs from the AUC of the
    underlying rows by at most
    [`auc_histogram_error_bound`][mlmkit.analysis.metrics.auc_histogram_error_bound]
    (half the share of positive-negative pairs that fall in the same bin). For ``B`` uniform bins on
    [0, 1] and a negative-score density bounded by ``D`` that bound is at most ``0.5 * D / B`` (e.g.
    ≤ 1e-4 for 10,000 bins and ``D <= 2``); the realised error is typically far smaller because
    pairs inside a bin split nearly evenly.

    Parameters
    ----------
    pos_counts, neg_counts : array-like of non-negative int
        Positives and negatives per bin, same length.

    Returns
    -------
    float
        The AUC, NaN with an UndefinedMetricWarning when one class is absent.

    Examples
    --------
    >>> round(auc_from_histograms([0, 1, 2], [2, 1, 0]), 4)  # 8.5 of 9 pairs
    0.9444
    """
    pos, neg = _histograms(pos_counts, neg_counts)
    if _undefined_if_one_class("roc_auc", pos, neg):
        return math.nan
    return float(_kernels.hist_auc(pos, neg))


def auc_histogram_error_bound(pos_counts: Any, neg_counts: Any) -> float:
    """Largest possible gap between `auc_from_histograms` and the exact row AUC.

    Equals ``0.5 * sum(pos * neg) / (sum(pos) * sum(neg))``: only pairs sharing a bin can
    be ordered either way, and the histogram counts each of them 1/2.

    Parameters
    ----------
    pos_counts, neg_counts : array-like of non-negative int
        Positives and negatives per bin, same length.

    Returns
    -------
    float
        The bound (NaN when one class is absent).

    Examples
    --------
    >>> round(auc_histogram_error_bound([0, 1, 2], [2, 1, 0]), 4)  # one tied pair of 9
    0.0556
    """
    pos, neg = _histograms(pos_counts, neg_counts)
    return _kernels.hist_auc_bound(pos, neg)


def average_precision_from_histograms(pos_counts: Any, neg_counts: Any) -> float:
    """Average precision (PR AUC) from per-bin counts over ordered score bins.

    Each bin is one threshold (all its rows share a score), so this equals scikit-learn's
    ``average_precision_score`` on scores replaced by their bin, and is exact with one bin
    per distinct score.

    Parameters
    ----------
    pos_counts, neg_counts : array-like of non-negative int
        Positives and negatives per bin ordered by increasing score, same length.

    Returns
    -------
    float
        Average precision, NaN with an UndefinedMetricWarning when there are no positives.

    Examples
    --------
    >>> round(average_precision_from_histograms([0, 1, 2], [2, 1, 0]), 4)
    0.9167
    """
    pos, neg = _histograms(pos_counts, neg_counts)
    if pos.sum() == 0:
        warn_undefined(["pr_auc"], "no positives")
        return math.nan
    return float(_kernels.hist_average_precision(pos, neg))


def brier_score_from_sums(
    n: int, positives: int, sum_score_positive: float, sum_squared_score: float
) -> float:
    """Brier score from ``n``, the positive count, ``Σ score`` over positives and ``Σ score²``.

    ``Σ (score - actual)² = Σ score² - 2 Σ_{actual=1} score + positives``.

    Parameters
    ----------
    n : int
        Number of rows.
    positives : int
        Rows with ``actual == 1``.
    sum_score_positive : float
        Sum of scores over the positive rows.
    sum_squared_score : float
        Sum of squared scores over all rows.

    Returns
    -------
    float
        Mean squared error of the scores, NaN (with a warning) when ``n`` is 0.

    Examples
    --------
    >>> brier_score_from_sums(2, 1, 0.75, 0.75**2 + 0.5**2)
    0.15625
    """
    n = check_int("n", n, low=0)
    positives = check_int("positives", positives, low=0, high=n)
    s_pos = check_real("sum_score_positive", sum_score_positive, low=0.0, high=positives)
    s_sq = check_real("sum_squared_score", sum_squared_score, low=0.0, high=n)
    if n == 0:
        warn_undefined(["brier_score"], "no rows")
        return math.nan
    return max(0.0, (s_sq - 2.0 * s_pos + positives) / n)


def log_loss_from_sums(
    n: int, sum_log_score_positive: float, sum_log1m_score_negative: float
) -> float:
    """Log loss from ``Σ log(score)`` over positives and ``Σ log(1 - score)`` over negatives.

    To match `log_loss` (and scikit-learn), clip scores to ``[eps, 1 - eps]`` with
    ``eps = 2.220446049250313e-16`` before taking logs, e.g. in SQL
    ``ln(greatest(score, eps))``.

    Parameters
    ----------
    n : int
        Number of rows.
    sum_log_score_positive : float
        ``Σ log(score)`` over rows with ``actual == 1`` (≤ 0).
    sum_log1m_score_negative : float
        ``Σ log(1 - score)`` over rows with ``actual == 0`` (≤ 0).

    Returns
    -------
    float
        Mean negative log-likelihood, NaN (with a warning) when ``n`` is 0.

    Examples
    --------
    >>> round(log_loss_from_sums(2, math.log(0.8), math.log(0.6)), 6)
    0.366985
    """
    n = check_int("n", n, low=0)
    pos = check_real("sum_log_score_positive", sum_log_score_positive, high=0.0)
    neg = check_real("sum_log1m_score_negative", sum_log1m_score_negative, high=0.0)
    if n == 0:
        warn_undefined(["log_loss"], "no rows")
        return math.nan
    return -(pos + neg) / n

