"""Multiple-testing corrections (Holm, Benjamini-Hochberg); re-exported by the package."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, invalid
from mlmkit.analysis.stats.result import check_alpha

__all__ = ["multiple_testing"]

_MULTITEST_METHODS = ("bonferroni", "fdr_bh", "holm")


def multiple_testing(p_values: Any, *, method: str = "holm", alpha: float = 0.05) -> pl.DataFrame:
    """Adjust p-values for multiple comparisons (family-wise or false-discovery rate).

    Equals ``statsmodels.stats.multitest.multipletests(p_values, alpha, method)``: ``"holm"``
    (step-down, family-wise error), ``"bonferroni"`` and ``"fdr_bh"`` (Benjamini-Hochberg,
    false-discovery rate under independence or positive dependence).

    Parameters
    ----------
    p_values : array-like of float
        P-values in [0, 1] (1-D, at least one). NaN is a test that could not be computed (no
        rows, an infinite variance): it is left out of the family (``p_adjusted`` NaN,
        ``reject`` False) and the others are corrected among themselves.
    method : {"holm", "bonferroni", "fdr_bh"}
        Correction.
    alpha : float
        Family-wise error rate or false-discovery rate.

    Returns
    -------
    polars.DataFrame
        Columns ``p_value``, ``p_adjusted``, ``reject`` in the input order.

    Examples
    --------
    >>> df = multiple_testing([0.01, 0.04, 0.03, 0.2], method="holm")
    >>> df["p_adjusted"].round(4).to_list(), df["reject"].to_list()
    ([0.04, 0.09, 0.09, 0.2], [True, False, False, False])
    """
    method = check_choice("method", method, _MULTITEST_METHODS)
    alpha = check_alpha(alpha)
    try:
        p = np.asarray(p_values, dtype=float)
    except (TypeError, ValueError) as err:
        raise invalid("p_values", "a 1-D array of numbers in [0, 1]", p_values) from err
    tested = ~np.isnan(p)
    if p.ndim != 1 or p.size == 0 or not bool(np.all((p[tested] >= 0) & (p[tested] <= 1))):
        raise invalid("p_values", "a non-empty 1-D array of numbers in [0, 1] (NaN: untested)",
                      p_values)
    adjusted, reject = np.full(p.size, np.nan), np.zeros(p.size, dtype=bool)
    adjusted[tested], reject[tested] = _adjusted(p[tested], method, alpha)
    return pl.DataFrame({"p_value": p, "p_adjusted": adjusted, "reject": reject})


def _adjusted(p: np.ndarray, method: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted p-values and rejections of computed p-values (any number, none included)."""
    m = p.size
    if m == 0:
        return p, np.zeros(0, dtype=bool)
    order = np.argsort(p)
    sorted_p = p[order]
    rank = np.arange(1, m + 1)
    if method == "bonferroni":
        adjusted_sorted = np.minimum(sorted_p * m, 1.0)
        reject_sorted = sorted_p <= alpha / m
    elif method == "holm":
        adjusted_sorted = np.minimum(np.maximum.accumulate(sorted_p * (m - rank + 1)), 1.0)
        failed = sorted_p > alpha / (m - rank + 1)
        first_fail = int(np.argmax(failed)) if failed.any() else m
        reject_sorted = rank <= first_fail
    else:
        ecdf = rank / m
        scaled = sorted_p / ecdf
        adjusted_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        passed = np.nonzero(sorted_p <= ecdf * alpha)[0]
        reject_sorted = rank <= (passed[-1] + 1 if passed.size else 0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    reject = np.empty(m, dtype=bool)
    reject[order] = reject_sorted
    return adjusted, reject
