"""Tests of two proportions and 2x2 tables for A/B comparisons; each returns a ``TestResult``.

Conventions, the same for every function here:

- **B minus A.** Two-group comparisons are oriented as B (the challenger) minus A (the
  champion): ``effect = rate_b - rate_a`` (or ``mean_b - mean_a``), a positive ``statistic``
  means B is larger and ``alternative="greater"`` means "B is greater than A".
- **2x2 tables** have one row per group (A, then B) and columns (success, failure).
- ``ci`` is always two-sided at level ``confidence``, also for one-sided tests.
- Bad arguments raise [`ValidationError`][mlmkit.exceptions.ValidationError] naming the parameter.

Paired tests (McNemar) live in `paired`, power and sample sizes in
`sample_size`, the Welch t-test and the bootstrap in
`means`, the always-valid sequential test in
`sequential`; `mlmkit.analysis.stats` re-exports them all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlmkit._validation import check_int, check_real, invalid
from mlmkit.analysis.stats.result import (
    TestResult,
    check_alpha,
    check_alternative,
    check_counts,
    check_table,
    newcombe_interval,
    wilson_interval,
    z_quantile,
)

__all__ = ["chi_square_2x2", "fisher_exact", "sample_ratio_mismatch", "two_proportion_ztest"]

EXACT_CI_MAX_TOTAL = 10_000


def _normal_p(z: float, alternative: str) -> float:
    from scipy.stats import norm

    if alternative == "greater":
        return float(norm.sf(z))
    if alternative == "less":
        return float(norm.cdf(z))
    return float(2.0 * norm.sf(abs(z)))


def two_proportion_ztest(successes_a: int, n_a: int, successes_b: int, n_b: int,
                         alternative: str = "two-sided", *,
                         confidence: float = 0.95) -> TestResult:
    """Pooled two-proportion z-test of ``rate_b - rate_a``.

    The statistic equals ``statsmodels.stats.proportion.proportions_ztest`` called with the
    groups in the order ``[b, a]`` (so a positive z means B converts better). When both groups
    are all successes or all failures the pooled variance is zero; the result is then
    ``statistic=0, p_value=1`` (statsmodels returns NaN).

    Parameters
    ----------
    successes_a, n_a, successes_b, n_b : int
        Successes and trials of groups A and B (``0 <= successes <= n``, ``n >= 1``).
    alternative : {"two-sided", "greater", "less"}
        ``"greater"``: B's rate is greater than A's.
    confidence : float
        Level of ``ci``, Newcombe's hybrid score interval (method 10) for ``rate_b - rate_a``.

    Returns
    -------
    TestResult
        ``effect = rate_b - rate_a``; ``details`` holds ``rate_a``, ``rate_b``, ``relative_lift``.

    Examples
    --------
    >>> r = two_proportion_ztest(100, 1000, 130, 1000)
    >>> round(r.statistic, 4), round(r.p_value, 4), round(r.effect, 3)
    (2.1027, 0.0355, 0.03)
    >>> r.significant()
    True
    """
    s_a, n_a = check_counts(successes_a, n_a, "a")
    s_b, n_b = check_counts(successes_b, n_b, "b")
    alternative = check_alternative(alternative)
    confidence = check_alpha(confidence, "confidence")
    rate_a, rate_b = s_a / n_a, s_b / n_b
    pooled = (s_a + s_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_b + 1.0 / n_a))
    z = (rate_b - rate_a) / se if se > 0 else 0.0
    p = _normal_p(z, alternative) if se > 0 else 1.0
    return TestResult(
        statistic=z, p_value=p, ci=newcombe_interval(s_a, n_a, s_b, n_b, confidence),
        effect=rate_b - rate_a, method="two-proportion z-test (pooled)",
        alternative=alternative, n=n_a + n_b, confidence=confidence,
        details={"rate_a": rate_a, "rate_b": rate_b,
                 "relative_lift": (rate_b - rate_a) / rate_a if rate_a > 0 else math.nan},
    )


def chi_square_2x2(table: Any, *, correction: bool = True,
                   confidence: float = 0.95) -> TestResult:
    """Pearson chi-square test of independence on a 2x2 table (rows A, B; columns success, fail).

    Equals ``scipy.stats.chi2_contingency(table, correction=correction)``. Without Yates'
    correction the statistic is the square of
    [`two_proportion_ztest`][mlmkit.analysis.stats.two_proportion_ztest]'s z.

    Parameters
    ----------
    table : array-like of shape (2, 2)
        Non-negative integer counts; no row or column may be all zero.
    correction : bool
        Apply Yates' continuity correction (scipy's default).
    confidence : float
        Level of ``ci`` (Newcombe interval for ``rate_b - rate_a``).

    Returns
    -------
    TestResult
        ``df=1``; ``effect = rate_b - rate_a`` with rate = first column / row total.

    Examples
    --------
    >>> r = chi_square_2x2([[100, 900], [130, 870]], correction=False)
    >>> round(r.statistic, 4), round(r.p_value, 4)
    (4.4215, 0.0355)
    """
    counts = check_table(table)
    confidence = check_alpha(confidence, "confidence")
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    if np.any(rows == 0) or np.any(cols == 0):
        raise invalid("table", "a 2x2 table without an all-zero row or column", table)
    from scipy.stats import chi2

    total = counts.sum()
    expected = np.outer(rows, cols) / total
    observed = counts.astype(float)
    if correction:
        diff = expected - observed
        observed = observed + np.sign(diff) * np.minimum(0.5, np.abs(diff))
    stat = float(np.sum((observed - expected) ** 2 / expected))
    s_a, s_b, n_a, n_b = int(counts[0, 0]), int(counts[1, 0]), int(rows[0]), int(rows[1])
    return TestResult(
        statistic=stat, p_value=float(chi2.sf(stat, 1)),
        ci=newcombe_interval(s_a, n_a, s_b, n_b, confidence), effect=s_b / n_b - s_a / n_a,
        method="chi-square 2x2" + (" (Yates)" if correction else ""), alternative="two-sided",
        n=int(total), confidence=confidence, df=1.0,
        details={"rate_a": s_a / n_a, "rate_b": s_b / n_b},
    )


def fisher_exact(table: Any, alternative: str = "two-sided", *,
                 confidence: float = 0.95) -> TestResult:
    """Fisher's exact test on a 2x2 table (rows A, B; columns success, failure).

    ``statistic`` is the sample odds ratio of B versus A, ``(b_succ * a_fail) / (b_fail *
    a_succ)``; statistic and p-value equal ``scipy.stats.fisher_exact(table[::-1], alternative)``
    (rows swapped so that ``"greater"`` means B has the higher odds).

    Parameters
    ----------
    table : array-like of shape (2, 2)
        Non-negative integer counts.
    alternative : {"two-sided", "greater", "less"}
        ``"greater"``: the odds of success are higher in B.
    confidence : float
        Level of ``ci`` for the odds ratio: the exact conditional interval
        (``scipy.stats.contingency.odds_ratio(..., kind="conditional")``) for tables of at most
        ``EXACT_CI_MAX_TOTAL = 10_000`` units, Woolf's logit interval above (its cost grows
        with the counts, ~1 s at 20,000 and ~1 min at 200,000; at that size both agree).
        Woolf adds 0.5 to every cell when one is zero.

    Returns
    -------
    TestResult
        ``effect`` equals ``statistic`` (the sample odds ratio B vs A); ``details`` holds
        ``rate_a``, ``rate_b`` and ``ci_method``.

    Examples
    --------
    >>> r = fisher_exact([[3, 7], [9, 1]])
    >>> round(r.statistic, 4), round(r.p_value, 4)
    (21.0, 0.0198)
    """
    counts = check_table(table)
    alternative = check_alternative(alternative)
    confidence = check_alpha(confidence, "confidence")
    from scipy.stats import fisher_exact as scipy_fisher
    from scipy.stats.contingency import odds_ratio

    swapped = counts[::-1]
    res = scipy_fisher(swapped, alternative=alternative)
    rows, total = counts.sum(axis=1), int(counts.sum())
    ci: tuple[float, float] | None = None
    ci_method = "none"
    if np.all(rows > 0) and np.all(counts.sum(axis=0) > 0):
        if total <= EXACT_CI_MAX_TOTAL:
            interval = odds_ratio(swapped, kind="conditional").confidence_interval(
                confidence_level=confidence)
            ci, ci_method = (float(interval.low), float(interval.high)), "exact conditional"
        else:
            ci, ci_method = _woolf_interval(swapped, confidence), "Woolf (logit)"
    rates = [float(counts[i, 0] / rows[i]) if rows[i] > 0 else math.nan for i in (0, 1)]
    return TestResult(
        statistic=float(res.statistic), p_value=float(res.pvalue), ci=ci,
        effect=float(res.statistic), method="Fisher exact", alternative=alternative, n=total,
        confidence=confidence,
        details={"rate_a": rates[0], "rate_b": rates[1], "ci_method": ci_method},
    )


def _woolf_interval(table: np.ndarray, confidence: float) -> tuple[float, float]:
    cells = table.astype(float) + (0.5 if np.any(table == 0) else 0.0)
    log_or = math.log(cells[0, 0] * cells[1, 1] / (cells[0, 1] * cells[1, 0]))
    half = z_quantile(confidence) * math.sqrt(float(np.sum(1.0 / cells)))
    return math.exp(log_or - half), math.exp(log_or + half)


def sample_ratio_mismatch(n_a: int, n_b: int, expected_share_a: float = 0.5, *,
                          alpha: float = 0.001) -> TestResult:
    """Sample-ratio-mismatch check: chi-square goodness of fit of the traffic split.

    Equals ``scipy.stats.chisquare([n_a, n_b], [N * share, N * (1 - share)])``. A mismatch
    (``details["mismatch"]``, also ``result.significant()``) is flagged when
    ``p_value <= alpha``; the conventional threshold is 0.001 because the check runs on every
    experiment and a true mismatch yields tiny p-values.

    Parameters
    ----------
    n_a, n_b : int
        Units assigned to A and B (non-negative, at least one in total).
    expected_share_a : float
        Configured share of A, in (0, 1).
    alpha : float
        Threshold of the mismatch flag.

    Returns
    -------
    TestResult
        ``effect = observed_share_a - expected_share_a`` with a Wilson ``ci`` (95 %).

    Examples
    --------
    >>> r = sample_ratio_mismatch(5500, 4500, 0.5)
    >>> r.statistic, r.details["mismatch"]
    (100.0, True)
    """
    n_a = check_int("n_a", n_a, low=0)
    n_b = check_int("n_b", n_b, low=0)
    share = check_real("expected_share_a", expected_share_a, low=0.0, high=1.0,
                       low_open=True, high_open=True)
    alpha = check_alpha(alpha)
    total = n_a + n_b
    if total == 0:
        raise invalid("n_b", "an integer with n_a + n_b >= 1", n_b)
    from scipy.stats import chi2

    exp_a, exp_b = total * share, total * (1.0 - share)
    stat = (n_a - exp_a) ** 2 / exp_a + (n_b - exp_b) ** 2 / exp_b
    p = float(chi2.sf(stat, 1))
    low, high = wilson_interval(n_a, total, z_quantile(0.95))
    return TestResult(
        statistic=float(stat), p_value=p, ci=(low - share, high - share),
        effect=n_a / total - share, method="sample ratio mismatch (chi-square)",
        alternative="two-sided", n=total, alpha=alpha, confidence=0.95, df=1.0,
        details={"observed_share_a": n_a / total, "expected_share_a": share,
                 "mismatch": bool(p <= alpha)},
    )
