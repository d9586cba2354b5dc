"""Comparisons of continuous outcomes (latency, revenue, scores) between versions A and B.

Same conventions as `proportions`:
effects are **B minus A**, ``ci`` is two-sided, every function returns a
[`TestResult`][mlmkit.analysis.stats.TestResult].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlmkit._validation import check_int, invalid
from mlmkit.analysis.stats.result import (
    TestResult,
    check_alpha,
    check_alternative,
    check_sample,
)

__all__ = ["bootstrap_difference", "welch_ttest"]

_CHUNK_CELLS = 1 << 22  # resampled values held in memory at once (~32 MiB of float64)


def welch_ttest(a: Any, b: Any, alternative: str = "two-sided", *,
                confidence: float = 0.95) -> TestResult:
    """Welch's unequal-variance t-test of ``mean(b) - mean(a)``.

    Statistic, degrees of freedom and p-value equal ``scipy.stats.ttest_ind(b, a,
    equal_var=False, alternative=alternative)``. If both samples are constant the statistic is
    0 (equal means, ``p_value=1``) or infinite (``p_value=0``) instead of scipy's NaN.

    Parameters
    ----------
    a, b : array-like of float
        Observations of A and B (1-D, at least two finite values each).
    alternative : {"two-sided", "greater", "less"}
        ``"greater"``: B's mean is greater than A's.
    confidence : float
        Level of the two-sided Welch ``ci`` for the difference of means.

    Returns
    -------
    TestResult
        ``effect = mean_b - mean_a``, ``df`` the Welch-Satterthwaite degrees of freedom.

    Examples
    --------
    >>> r = welch_ttest([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 5.0, 7.0, 9.0])
    >>> round(r.statistic, 4), round(r.df, 4), round(r.p_value, 4)
    (1.8827, 5.7922, 0.1105)
    """
    xa, xb = check_sample("a", a), check_sample("b", b)
    alternative = check_alternative(alternative)
    confidence = check_alpha(confidence, "confidence")
    from scipy.stats import t as t_dist

    n_a, n_b = xa.size, xb.size
    vn_b, vn_a = float(np.var(xb, ddof=1)) / n_b, float(np.var(xa, ddof=1)) / n_a
    diff = float(np.mean(xb) - np.mean(xa))
    se = math.sqrt(vn_b + vn_a)
    if se > 0:
        total = vn_b + vn_a  # scale so that tiny variances cannot underflow when squared
        wb, wa = vn_b / total, vn_a / total
        df = 1.0 / (wb**2 / (n_b - 1) + wa**2 / (n_a - 1))
        stat = diff / se
        if alternative == "greater":
            p = float(t_dist.sf(stat, df))
        elif alternative == "less":
            p = float(t_dist.cdf(stat, df))
        else:
            p = float(2.0 * t_dist.sf(abs(stat), df))
        half = float(t_dist.ppf(0.5 + confidence / 2.0, df)) * se
    else:
        df = float(n_a + n_b - 2)
        stat = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p = 1.0 if diff == 0 else _degenerate_p(diff, alternative)
        half = 0.0
    return TestResult(
        statistic=stat, p_value=p, ci=(diff - half, diff + half), effect=diff,
        method="Welch t-test", alternative=alternative, n=n_a + n_b, confidence=confidence,
        df=df, details={"mean_a": float(np.mean(xa)), "mean_b": float(np.mean(xb))},
    )


def _degenerate_p(diff: float, alternative: str) -> float:
    if alternative == "greater":
        return 0.0 if diff > 0 else 1.0
    if alternative == "less":
        return 0.0 if diff < 0 else 1.0
    return 0.0


def bootstrap_difference(a: Any, b: Any, statistic: Callable[..., Any] = np.mean, *,
                         n_resamples: int = 9999, confidence: float = 0.95,
                         seed: int | None = 0) -> TestResult:
    """Percentile bootstrap of ``statistic(b) - statistic(a)``, seeded and vectorised.

    A and B are resampled independently (with replacement, each to its own size) in
    ``n_resamples`` rounds; the resampling is done in chunks of whole index matrices, so
    ``statistic`` is called once per chunk with ``axis=-1``. The p-value is the two-sided
    bootstrap p-value ``min(1, 2 * min(#{d* <= 0} + 1, #{d* >= 0} + 1) / (n_resamples + 1))``,
    the test inverted from the percentile interval (approximate, as every bootstrap test).

    Parameters
    ----------
    a, b : array-like of float
        Observations of A and B (1-D, at least two finite values each).
    statistic : callable
        ``statistic(x, axis=-1)`` reducing the last axis (``np.mean``, ``np.median``, ...).
    n_resamples : int
        Number of bootstrap rounds (>= 100).
    confidence : float
        Level of the percentile ``ci``.
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same interval.

    Returns
    -------
    TestResult
        ``statistic = effect = statistic(b) - statistic(a)``; ``details["standard_error"]`` is
        the bootstrap standard deviation of the difference.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> a, b = rng.normal(0.0, 1.0, 500), rng.normal(0.3, 1.0, 500)
    >>> r = bootstrap_difference(a, b, seed=7)
    >>> r.ci[0] < r.effect < r.ci[1], r.significant()
    (True, True)
    """
    xa, xb = check_sample("a", a), check_sample("b", b)
    if not callable(statistic):
        raise invalid("statistic", "a callable statistic(x, axis=-1)", statistic)
    n_resamples = check_int("n_resamples", n_resamples, low=100)
    confidence = check_alpha(confidence, "confidence")
    if seed is not None:
        seed = check_int("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    observed = float(_apply(statistic, xb[None, :])[0] - _apply(statistic, xa[None, :])[0])
    chunk = max(1, _CHUNK_CELLS // max(xa.size, xb.size))
    diffs = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        ia = rng.integers(0, xa.size, size=(size, xa.size))
        ib = rng.integers(0, xb.size, size=(size, xb.size))
        diffs[start:start + size] = _apply(statistic, xb[ib]) - _apply(statistic, xa[ia])
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    below = int(np.count_nonzero(diffs <= 0)) + 1
    above = int(np.count_nonzero(diffs >= 0)) + 1
    p = min(1.0, 2.0 * min(below, above) / (n_resamples + 1))
    return TestResult(
        statistic=observed, p_value=p, ci=(float(low), float(high)), effect=observed,
        method="bootstrap difference (percentile)", alternative="two-sided",
        n=xa.size + xb.size, confidence=confidence,
        details={"n_resamples": n_resamples, "standard_error": float(np.std(diffs, ddof=1)),
                 "seed": seed},
    )


def _apply(statistic: Callable[..., Any], samples: np.ndarray) -> np.ndarray:
    try:
        out = np.asarray(statistic(samples, axis=-1), dtype=float)
    except TypeError as err:
        raise invalid("statistic", "a callable statistic(x, axis=-1)", statistic) from err
    if out.shape != samples.shape[:1]:
        raise invalid("statistic", "a callable reducing the last axis to one number", statistic)
    return out
