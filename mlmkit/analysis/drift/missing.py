"""Missingness as a drift signal: a change in the share of missing values of a feature.

A feature whose values start to go missing (a broken upstream join, a sensor that reports NaN)
may keep the distribution of its *present* values intact, so value drift alone misses it.
`missing_drift` compares, per feature, the missing share of the reference with that of
the current window:

- **test**: chi-square test of homogeneity on the 2 x 2 table ``(missing, present)`` x
  ``(reference, current)``, with Yates' continuity correction (exactly
  ``scipy.stats.chi2_contingency(table)``, as the ``chi_square`` drift method); the p-values of
  the testable features are adjusted together (Holm by default, as `detect_drift`).
- **effect size**: Cohen's ``h = 2 asin(sqrt(q)) - 2 asin(sqrt(p))`` between the reference
  share ``p`` and the current share ``q`` (the difference on the variance-stabilised scale,
  so ``|h|`` means about the same at 1 % as at 50 % missing).
- **verdict**: drift when the adjusted p-value is below ``alpha`` **and** ``|h| >= min_effect``
  (default 0.1). The test keeps small samples from flagging noise; the floor keeps huge
  samples from flagging negligible changes (at 10^6 rows a move from 1.0 % to 1.2 % missing,
  ``h = 0.019``, is "significant"). 0 % -> 30 % missing is ``h = 1.16``; 0 % -> 1 % is 0.2.

A side with no rows at all has no share: its shares, effect and p-values are null and it
never drifts. A feature missing everywhere on both sides has p = 1 (nothing changed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, check_real, invalid
from mlmkit.analysis.drift import kernels as k

__all__ = ["cohens_h", "missing_drift"]


def cohens_h(reference_share: Any, current_share: Any) -> np.ndarray:
    """Cohen's effect size ``h`` between two proportions (current minus reference).

    Examples
    --------
    >>> round(float(cohens_h(0.0, 0.3)), 4)
    1.1593
    """
    p = np.asarray(reference_share, dtype=np.float64)
    q = np.asarray(current_share, dtype=np.float64)
    return np.asarray(2.0 * np.arcsin(np.sqrt(q)) - 2.0 * np.arcsin(np.sqrt(p)))


def _counts(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.dtype.kind not in "iuf" or (arr.size and (
            not np.isfinite(arr).all() or (arr < 0).any() or (arr != np.round(arr)).any())):
        raise invalid(name, "non-negative whole counts (a number or a 1-D array)", value)
    return arr.astype(np.float64)


def missing_drift(reference_missing: Any, reference_total: Any, current_missing: Any,
                  current_total: Any, *, alpha: float = 0.05, min_effect: float = 0.1,
                  correction: str | None = "holm") -> pl.DataFrame:
    """Per-feature test of a change in the share of missing values.

    Parameters
    ----------
    reference_missing, reference_total, current_missing, current_total : int or 1-D array
        Per feature: rows with the value missing, and all rows, on each side.
    alpha : float, default 0.05
        Significance level applied to the adjusted p-values.
    min_effect : float, default 0.1
        Smallest ``|h|`` (Cohen's effect size) that counts as drift.
    correction : {"holm", "fdr_bh", None}, default "holm"
        Adjustment across the features that can be tested (both sides non-empty).

    Returns
    -------
    polars.DataFrame
        One row per feature: ``share_reference, share_current, effect (h), statistic (chi-square),
        p_value, adjusted_p_value, drift``.

    Examples
    --------
    >>> r = missing_drift([0, 50], [1000, 1000], [300, 52], [1000, 1000])
    >>> r["drift"].to_list(), round(r["effect"][0], 3)
    ([True, False], 1.159)
    """
    counts = [_counts(name, value) for name, value in (
        ("reference_missing", reference_missing), ("reference_total", reference_total),
        ("current_missing", current_missing), ("current_total", current_total))]
    if len({c.size for c in counts}) != 1:
        raise invalid("current_total", "arrays of one length for the four counts",
                      [c.size for c in counts])
    rm, rt, cm, ct = counts
    if (rm > rt).any():
        raise invalid("reference_missing", "at most reference_total", reference_missing)
    if (cm > ct).any():
        raise invalid("current_missing", "at most current_total", current_missing)
    level = check_real("alpha", alpha, low=0.0, high=1.0, low_open=True)
    floor = check_real("min_effect", min_effect, low=0.0)
    check_choice("correction", correction, ("holm", "fdr_bh", None))
    testable = (rt > 0) & (ct > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(rt > 0, rm / rt, np.nan)
        q = np.where(ct > 0, cm / ct, np.nan)
    stat = np.full(rm.size, np.nan)
    pval = np.full(rm.size, np.nan)
    for i in np.flatnonzero(testable):
        stat[i], pval[i] = k.chi_square_counts(np.array([rm[i], rt[i] - rm[i]]),
                                               np.array([cm[i], ct[i] - cm[i]]))
    adjusted = np.full(rm.size, np.nan)
    adjusted[testable] = k.adjust_pvalues(pval[testable], correction)
    h = cohens_h(p, q)
    drift = testable & (adjusted < level) & (np.abs(np.nan_to_num(h)) >= floor)
    return pl.DataFrame({"share_reference": p, "share_current": q, "effect": h,
                         "statistic": stat, "p_value": pval, "adjusted_p_value": adjusted,
                         "drift": drift}, schema={
        "share_reference": pl.Float64, "share_current": pl.Float64, "effect": pl.Float64,
        "statistic": pl.Float64, "p_value": pl.Float64, "adjusted_p_value": pl.Float64,
        "drift": pl.Boolean}, nan_to_null=True)  # (fill_nan: a lazy collect, 3x slower)
