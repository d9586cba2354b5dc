"""Paired tests: both versions scored the same units (shadow mode); McNemar's test.

Same conventions as `proportions` (B
minus A, two-sided ``ci``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlmkit._validation import invalid
from mlmkit.analysis.stats.result import TestResult, check_alpha, check_table, z_quantile

__all__ = ["mcnemar", "mcnemar_table"]


def mcnemar_table(table: Any, *, exact: bool = True, correction: bool = True,
                  confidence: float = 0.95) -> TestResult:
    """McNemar's test for paired outcomes of versions A and B on the same traffic.

    The table is ``[[both correct, only A correct], [only B correct, both wrong]]`` (rows: A
    correct / wrong; columns: B correct / wrong). Statistic and p-value equal
    ``statsmodels.stats.contingency_tables.mcnemar(table, exact=exact, correction=correction)``,
    except that with no discordant pairs the result is ``statistic=0, p_value=1``.

    Parameters
    ----------
    table : array-like of shape (2, 2)
        Non-negative integer counts with at least one pair.
    exact : bool
        Exact binomial test on the discordant pairs (statistic = the smaller count); otherwise
        the chi-square approximation with one degree of freedom.
    correction : bool
        Continuity correction of the chi-square variant.
    confidence : float
        Level of ``ci``, a Wald interval for the paired difference of accuracies.

    Returns
    -------
    TestResult
        ``effect = accuracy_b - accuracy_a = (only_b - only_a) / pairs``.

    Examples
    --------
    >>> r = mcnemar_table([[50, 5], [15, 30]])
    >>> r.statistic, round(r.p_value, 4), r.effect
    (5.0, 0.0414, 0.1)
    """
    counts = check_table(table)
    confidence = check_alpha(confidence, "confidence")
    total = int(counts.sum())
    if total == 0:
        raise invalid("table", "a 2x2 table with at least one pair", table)
    from scipy.stats import binom, chi2

    only_a, only_b = int(counts[0, 1]), int(counts[1, 0])
    discordant = only_a + only_b
    if discordant == 0:
        stat, p = 0.0, 1.0
    elif exact:
        stat = float(min(only_a, only_b))
        p = min(1.0, float(binom.cdf(stat, discordant, 0.5)) * 2.0)
    else:
        stat = (abs(only_a - only_b) - int(correction)) ** 2 / discordant
        p = float(chi2.sf(stat, 1))
    effect = (only_b - only_a) / total
    se = math.sqrt(max(discordant - (only_b - only_a) ** 2 / total, 0.0)) / total
    z = z_quantile(confidence)
    return TestResult(
        statistic=float(stat), p_value=p, ci=(effect - z * se, effect + z * se), effect=effect,
        method="McNemar " + ("exact binomial" if exact else "chi-square"),
        alternative="two-sided", n=total, confidence=confidence,
        df=None if exact else 1.0, details={"only_a_correct": only_a, "only_b_correct": only_b},
    )


def mcnemar(correct_a: Any, correct_b: Any, *, exact: bool = True, correction: bool = True,
            confidence: float = 0.95) -> TestResult:
    """McNemar's test from paired per-row outcomes (1/True = that version was correct).

    Builds the 2x2 table of agreements and calls
    [`mcnemar_table`][mlmkit.analysis.stats.mcnemar_table]; use that function directly when
    the counts come from a SQL aggregate.

    Parameters
    ----------
    correct_a, correct_b : array-like of bool or {0, 1}
        Same length; row ``i`` is the same request scored by both versions (shadow mode).
    exact, correction, confidence
        As in [`mcnemar_table`][mlmkit.analysis.stats.mcnemar_table].

    Returns
    -------
    TestResult

    Examples
    --------
    >>> r = mcnemar([1, 1, 0, 0, 1, 0], [1, 1, 1, 1, 1, 0])
    >>> r.statistic, r.p_value, round(r.effect, 4)
    (0.0, 0.5, 0.3333)
    """
    a = _check_binary("correct_a", correct_a)
    b = _check_binary("correct_b", correct_b)
    if a.size != b.size:
        raise invalid("correct_b", f"an array of the same length as correct_a ({a.size})", b.size)
    cells = np.bincount(2 * (1 - a) + (1 - b), minlength=4).reshape(2, 2)
    return mcnemar_table(cells, exact=exact, correction=correction, confidence=confidence)


def _check_binary(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values)
    expectation = "a non-empty 1-D array of booleans or 0/1"
    if arr.ndim != 1 or arr.size == 0:
        raise invalid(name, expectation, values)
    if arr.dtype != bool:
        try:
            num = arr.astype(float)
        except (TypeError, ValueError) as err:
            raise invalid(name, expectation, values) from err
        if not bool(np.all((num == 0) | (num == 1))):
            raise invalid(name, expectation, values)
        arr = num
    return arr.astype(np.int64)
