"""Two-version comparisons of multiclass and regression metrics (the catalogue's ``test``).

Effects are **B minus A** and every function returns a
[`TestResult`][mlmkit.analysis.stats.TestResult], as in the rest of
`mlmkit.analysis.stats`. Which test a metric takes is its catalogue ``test``:

- Welch on a mean of per-row values, from sums alone:
  [`welch_from_sums`][mlmkit.analysis.stats.welch_from_sums] and, on two
  `RegressionSums`, [`regression_welch`][mlmkit.analysis.stats.regression_welch] (MAE:
  ``|e|``; MAPE: ``|e|/|y|``; bias: ``e``).
- Bootstrap for the rest:
  [`bootstrap_class_metric`][mlmkit.analysis.stats.bootstrap_class_metric] resamples
  each confusion matrix as one multinomial draw (F1-macro and the other averages, no rows
  needed);
  [`bootstrap_regression_metric`][mlmkit.analysis.stats.bootstrap_regression_metric]
  resamples rows (RMSE, R², ...). Both are seeded and vectorised, with the percentile interval
  and p-value of `bootstrap_difference`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlmkit._validation import check_int, invalid
from mlmkit.analysis.metrics.multiclass.cells import ClassCells, as_cells
from mlmkit.analysis.metrics.multiclass.confusion import (
    CLASS_COUNT_METRICS,
    cell_metrics,
    resampled_metric,
)
from mlmkit.analysis.metrics.regression import RegressionSums
from mlmkit.analysis.metrics.summaries import variance_from_sums
from mlmkit.analysis.stats.result import TestResult, check_alpha, check_alternative, check_sample
from mlmkit.catalogue import Kind, Significance, select

__all__ = ["bootstrap_class_metric", "bootstrap_regression_metric", "regression_welch",
           "welch_from_sums"]

#: Regression metrics compared with Welch (the catalogue's) plus bias, which has no direction.
WELCH_REGRESSION = (*select(kind=Kind.REGRESSION, test=Significance.WELCH), "bias")
REGRESSION_METRICS = select(kind=Kind.REGRESSION)
_CHUNK_CELLS = 1 << 22


def welch_from_sums(n_a: int, sum_a: float, sum_squares_a: float, n_b: int, sum_b: float,
                    sum_squares_b: float, alternative: str = "two-sided", *,
                    confidence: float = 0.95) -> TestResult:
    """Welch's t-test of ``mean(b) - mean(a)`` from each group's ``(n, Σx, Σx²)``.

    Equals `welch_ttest` on the rows (and ``scipy.stats.ttest_ind_from_stats(...,
    equal_var=False)``) up to the rounding of the sums (see `variance_from_sums`); sums whose
    spread rounding took give a NaN statistic, p-value and interval (offset errors of 1.7e12 ±
    1 had a spread of exactly 0 in one window, p = 0 for any difference of means, and one far
    too large in another, a test without power).

    Examples
    --------
    >>> r = welch_from_sums(4, 10.0, 30.0, 5, 26.0, 168.0)  # [1, 2, 3, 4] vs [2, 3, 5, 7, 9]
    >>> round(r.statistic, 4), round(r.df, 4), round(r.p_value, 4)
    (1.8827, 5.7922, 0.1105)
    """
    n_a, n_b = check_int("n_a", n_a, low=2), check_int("n_b", n_b, low=2)
    alternative = check_alternative(alternative)
    confidence = check_alpha(confidence, "confidence")
    from scipy.stats import t as t_dist

    mean_a, mean_b = sum_a / n_a, sum_b / n_b
    vn_a = variance_from_sums(n_a, sum_a, sum_squares_a) / n_a
    vn_b = variance_from_sums(n_b, sum_b, sum_squares_b) / n_b
    diff, se = mean_b - mean_a, math.sqrt(vn_a + vn_b)
    if math.isnan(se):  # a spread lost to rounding (variance_from_sums warned): no test
        df = half = stat = p = math.nan
    elif se > 0:
        wa, wb = vn_a / (vn_a + vn_b), vn_b / (vn_a + vn_b)
        df = 1.0 / (wb**2 / (n_b - 1) + wa**2 / (n_a - 1))
        stat = diff / se
        p = {"greater": lambda: t_dist.sf(stat, df), "less": lambda: t_dist.cdf(stat, df),
             "two-sided": lambda: 2.0 * t_dist.sf(abs(stat), df)}[alternative]()
        half = float(t_dist.ppf(0.5 + confidence / 2.0, df)) * se
    else:
        df, half = float(n_a + n_b - 2), 0.0
        stat = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p = 1.0 if diff == 0 else float(
            alternative == "two-sided" or (alternative == "greater") != (diff > 0))
    return TestResult(
        statistic=float(stat), p_value=float(p), ci=(diff - half, diff + half), effect=diff,
        method="Welch t-test (from sums)", alternative=alternative, n=n_a + n_b,
        confidence=confidence, df=df, details={"mean_a": mean_a, "mean_b": mean_b})


def regression_welch(a: RegressionSums, b: RegressionSums, *, metric: str = "mae",
                     alternative: str = "two-sided", confidence: float = 0.95) -> TestResult:
    """Welch test of MAE, MAPE or bias between two windows' `RegressionSums` (B minus A).

    MAE is the mean of ``|e|`` (``Σ|e|``, ``Σe²``), bias the mean of ``e`` (``Σe``, ``Σe²``),
    MAPE the mean of ``|e|/|y|`` over non-zero actuals (needs
    ``sum_squared_abs_percentage_error``). A negative effect on MAE means B errs less.

    Examples
    --------
    >>> a = RegressionSums.from_rows([1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 2.0, 5.0])
    >>> b = RegressionSums.from_rows([1.0, 2.0, 3.0, 4.0], [1.1, 2.2, 2.9, 4.3])
    >>> r = regression_welch(a, b)
    >>> round(r.effect, 4), round(r.p_value, 4)
    (-0.575, 0.0229)
    """
    for name, sums in (("a", a), ("b", b)):
        if not isinstance(sums, RegressionSums):
            raise invalid(name, "a RegressionSums", sums)
    if metric not in WELCH_REGRESSION:
        raise invalid("metric", f"one of {', '.join(WELCH_REGRESSION)}", metric)
    moments = [_moments(s, metric) for s in (a, b)]
    result = welch_from_sums(*moments[0], *moments[1], alternative, confidence=confidence)
    return TestResult(**{**result.__dict__, "method": f"Welch t-test of {metric} (from sums)"})


def _moments(sums: RegressionSums, metric: str) -> tuple[int, float, float]:
    if metric == "mae":
        return sums.n, sums.sum_abs_error, sums.sum_squared_error
    if metric == "bias":
        return sums.n, sums.sum_error, sums.sum_squared_error
    if sums.sum_squared_abs_percentage_error is None:
        raise invalid("sum_squared_abs_percentage_error", "a number to compare mape", None)
    return (sums.n - sums.zero_actuals, sums.sum_abs_percentage_error,
            sums.sum_squared_abs_percentage_error)


def _bootstrap_result(observed: float, diffs: np.ndarray, confidence: float, n: int,
                      method: str, details: dict[str, Any]) -> TestResult:
    finite = diffs[np.isfinite(diffs)]
    if finite.size == 0:
        return TestResult(observed, math.nan, (math.nan, math.nan), observed, method,
                          "two-sided", n, confidence=confidence, details=details)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    below = int(np.count_nonzero(finite <= 0)) + 1
    above = int(np.count_nonzero(finite >= 0)) + 1
    p = min(1.0, 2.0 * min(below, above) / (finite.size + 1))
    return TestResult(
        statistic=observed, p_value=p, ci=(float(low), float(high)), effect=observed,
        method=method, alternative="two-sided", n=n, confidence=confidence,
        details={**details, "standard_error": float(np.std(finite, ddof=1)),
                 "undefined_resamples": int(diffs.size - finite.size)})


def _setup(n_resamples: int, confidence: float, seed: int) -> tuple[int, float,
                                                                    np.random.Generator]:
    n_resamples = check_int("n_resamples", n_resamples, low=100)
    confidence = check_alpha(confidence, "confidence")
    return n_resamples, confidence, np.random.default_rng(check_int("seed", seed, low=0))


def bootstrap_class_metric(confusion_a: Any, confusion_b: Any, *, metric: str = "f1_macro",
                           labels: Sequence[Any] | None = None, n_resamples: int = 2000,
                           confidence: float = 0.95, seed: int = 0) -> TestResult:
    """Bootstrap test of a multiclass average (F1-macro, ...) between two confusion matrices.

    Each resample of a version's ``n`` rows is one multinomial draw of its non-zero cells with
    the observed shares (exactly the row bootstrap, in O(cells + K) per resample, never K²), A
    and B independently.
    The p-value is the two-sided percentile-bootstrap one of `bootstrap_difference`.

    Parameters
    ----------
    confusion_a, confusion_b : array-like, polars.DataFrame or ClassCells
        Each version's counts, in any form `multiclass_metrics` takes; the same classes.
    metric : str
        A catalogue metric of kind ``class-count`` (``f1_macro``, ``precision_macro``,
        ``recall_macro``, ``f1_weighted``).
    labels : sequence, optional
        Class order; for two frames default the sorted union of their labels.
    n_resamples, confidence, seed
        Bootstrap rounds (>= 100), interval level, generator seed.

    Examples
    --------
    >>> a = [[80, 10, 10], [10, 80, 10], [10, 10, 80]]
    >>> b = [[90, 5, 5], [5, 90, 5], [5, 5, 90]]
    >>> r = bootstrap_class_metric(a, b)
    >>> round(r.effect, 4), r.significant()
    (0.1, True)
    """
    if metric not in CLASS_COUNT_METRICS:
        raise invalid("metric", f"one of {', '.join(CLASS_COUNT_METRICS)}", metric)
    n_resamples, confidence, rng = _setup(n_resamples, confidence, seed)
    shared = labels if labels is not None else _union(confusion_a, confusion_b)
    ca = as_cells(confusion_a, shared)
    cb = as_cells(confusion_b, None if shared is None else ca.labels)
    if cb.k != ca.k:
        raise invalid("confusion_b", f"a {ca.k}x{ca.k} matrix like confusion_a", cb.k)
    for c in (ca, cb):
        if not c.n:
            raise invalid("confusion", "counts of at least one row", c.frame().rows()[:10])
    observed = cell_metrics(cb)[metric] - cell_metrics(ca)[metric]
    a = resampled_metric(ca, metric, n_resamples, rng)  # (A's draws first, as one draw was)
    diffs = resampled_metric(cb, metric, n_resamples, rng) - a
    return _bootstrap_result(observed, diffs, confidence, ca.n + cb.n,
                             f"bootstrap difference of {metric} (multinomial)",
                             {"n_resamples": n_resamples, "seed": seed})


def _union(a: Any, b: Any) -> list[Any] | None:
    """The sorted labels of two frames or `ClassCells` (``None`` for a matrix: its order)."""
    if not all(isinstance(x, ClassCells) or hasattr(x, "columns") for x in (a, b)):
        return None
    seen: set[Any] = set()
    for part in (a, b):
        if isinstance(part, ClassCells):
            seen.update(part.labels)
            continue
        for column in ("actual", "predicted"):
            if column in part.columns:
                seen.update(part[column].to_list())
    return sorted(seen, key=lambda v: (str(type(v)), v))


def _regression_kernel(metric: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``metric`` along the last axis of actual ``y`` and predicted ``p`` (stacked resamples)."""
    e = p - y
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "mae":
            return np.asarray(np.mean(np.abs(e), axis=-1))
        if metric == "rmse":
            return np.asarray(np.sqrt(np.mean(e * e, axis=-1)))
        if metric == "mape":
            nonzero = y != 0
            ape = np.where(nonzero, np.abs(e) / np.where(nonzero, np.abs(y), 1.0), 0.0)
            return np.asarray(ape.sum(axis=-1) / nonzero.sum(axis=-1))
        centred = y - y.mean(axis=-1, keepdims=True)
        return np.asarray(1.0 - (e * e).sum(axis=-1) / (centred * centred).sum(axis=-1))


def bootstrap_regression_metric(actual_a: Any, predicted_a: Any, actual_b: Any,
                                predicted_b: Any, *, metric: str = "rmse",
                                n_resamples: int = 2000, confidence: float = 0.95,
                                seed: int = 0) -> TestResult:
    """Bootstrap test of a regression metric (RMSE, R², MAE, MAPE) between two versions' rows.

    Rows (actual, predicted pairs) of A and of B are resampled independently in chunks of
    whole index matrices (vectorised, seeded); a resample where the metric is undefined (R² of
    constant actuals, MAPE of only zero actuals) is dropped and counted in
    ``details["undefined_resamples"]``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> y = rng.normal(size=400)
    >>> r = bootstrap_regression_metric(y, y + rng.normal(0, 1.0, 400),
    ...                                 y, y + rng.normal(0, 0.5, 400), seed=1)
    >>> r.effect < 0, r.significant()
    (True, True)
    """
    if metric not in REGRESSION_METRICS:
        raise invalid("metric", f"one of {', '.join(REGRESSION_METRICS)}", metric)
    n_resamples, confidence, rng = _setup(n_resamples, confidence, seed)
    ya, pa = check_sample("actual_a", actual_a), check_sample("predicted_a", predicted_a)
    yb, pb = check_sample("actual_b", actual_b), check_sample("predicted_b", predicted_b)
    for name, y, p in (("predicted_a", ya, pa), ("predicted_b", yb, pb)):
        if p.size != y.size:
            raise invalid(name, f"as many rows as its actuals ({y.size})", p.size)
    observed = float(_regression_kernel(metric, yb, pb) - _regression_kernel(metric, ya, pa))
    chunk = max(1, _CHUNK_CELLS // max(ya.size, yb.size))
    diffs = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        ia = rng.integers(0, ya.size, size=(size, ya.size))
        ib = rng.integers(0, yb.size, size=(size, yb.size))
        diffs[start:start + size] = (_regression_kernel(metric, yb[ib], pb[ib])
                                     - _regression_kernel(metric, ya[ia], pa[ia]))
    return _bootstrap_result(observed, diffs, confidence, ya.size + yb.size,
                             f"bootstrap difference of {metric} (rows)",
                             {"n_resamples": n_resamples, "seed": seed})
