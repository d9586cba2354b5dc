"""Two-version tests of multiclass and regression metrics: oracles and A/A calibration."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.stats import ttest_ind, ttest_ind_from_stats
from sklearn import metrics as skm

from mlmkit.analysis.metrics import RegressionSums, confusion_counts
from mlmkit.analysis.stats import (
    bootstrap_class_metric,
    bootstrap_regression_metric,
    regression_welch,
    welch_from_sums,
    welch_ttest,
)
from mlmkit.exceptions import ValidationError

TOL = 1e-9
ALPHA = 0.05
PAIRS = 500


def mc_ceiling(pairs: int, alpha: float = ALPHA) -> float:
    """alpha plus three Monte-Carlo standard errors of a share over ``pairs`` A/A runs."""
    return alpha + 3.0 * math.sqrt(alpha * (1.0 - alpha) / pairs)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_welch_from_sums_equals_scipy_and_the_row_test(alternative: str) -> None:
    rng = np.random.default_rng(2)
    a, b = rng.gamma(2.0, 3.0, 300), rng.gamma(2.2, 3.0, 250)
    r = welch_from_sums(a.size, a.sum(), a @ a, b.size, b.sum(), b @ b, alternative,
                        confidence=0.9)
    rows = welch_ttest(a, b, alternative, confidence=0.9)
    scipy = ttest_ind(b, a, equal_var=False, alternative=alternative)
    assert (r.statistic, r.p_value, r.df) == pytest.approx(
        (scipy.statistic, scipy.pvalue, scipy.df), abs=TOL)
    assert r.ci == pytest.approx(rows.ci, abs=TOL)
    stats = ttest_ind_from_stats(b.mean(), b.std(ddof=1), b.size, a.mean(), a.std(ddof=1),
                                 a.size, equal_var=False, alternative=alternative)
    assert r.p_value == pytest.approx(stats.pvalue, abs=TOL)


def test_regression_welch_is_welch_on_the_per_row_values() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(50.0, 10.0, 400)
    pa, pb = y + rng.normal(1.0, 4.0, 400), y[:350] + rng.normal(0.0, 3.0, 350)
    a, b = RegressionSums.from_rows(y, pa), RegressionSums.from_rows(y[:350], pb)
    per_row = {"mae": lambda yy, p: np.abs(p - yy), "bias": lambda yy, p: p - yy,
               "mape": lambda yy, p: np.abs(p - yy) / np.abs(yy)}
    for metric, values in per_row.items():
        r = regression_welch(a, b, metric=metric)
        rows = welch_ttest(values(y, pa), values(y[:350], pb))
        assert (r.statistic, r.p_value, r.effect) == pytest.approx(
            (rows.statistic, rows.p_value, rows.effect), abs=TOL), metric
        assert metric in r.method
    assert regression_welch(a, b).effect == pytest.approx(
        skm.mean_absolute_error(y[:350], pb) - skm.mean_absolute_error(y, pa), abs=TOL)


def test_bootstrap_class_metric_effect_is_the_scikit_learn_difference() -> None:
    rng = np.random.default_rng(8)
    y = rng.integers(0, 4, 3000)
    pa = np.where(rng.random(3000) < 0.7, y, rng.integers(0, 4, 3000))
    pb = np.where(rng.random(3000) < 0.8, y, rng.integers(0, 4, 3000))
    r = bootstrap_class_metric(confusion_counts(y, pa), confusion_counts(y, pb), seed=4)
    expected = skm.f1_score(y, pb, average="macro") - skm.f1_score(y, pa, average="macro")
    assert r.effect == pytest.approx(expected, abs=TOL)
    assert r.ci[0] < r.effect < r.ci[1] and r.significant()
    again = bootstrap_class_metric(confusion_counts(y, pa), confusion_counts(y, pb), seed=4)
    assert again == r
    weighted = bootstrap_class_metric(skm.confusion_matrix(y, pa), skm.confusion_matrix(y, pb),
                                      metric="f1_weighted", seed=4)
    assert weighted.effect == pytest.approx(skm.f1_score(y, pb, average="weighted")
                                            - skm.f1_score(y, pa, average="weighted"), abs=TOL)


def test_bootstrap_regression_metric_effects_are_the_scikit_learn_differences() -> None:
    rng = np.random.default_rng(6)
    y = rng.normal(10.0, 3.0, 500)
    pa, pb = y + rng.normal(0, 1.0, 500), y + rng.normal(0, 1.3, 500)
    oracle = {"rmse": skm.root_mean_squared_error, "r2": skm.r2_score,
              "mae": skm.mean_absolute_error, "mape": skm.mean_absolute_percentage_error}
    for metric, fn in oracle.items():
        r = bootstrap_regression_metric(y, pa, y, pb, metric=metric, n_resamples=500)
        assert r.effect == pytest.approx(fn(y, pb) - fn(y, pa), abs=TOL), metric
        assert r.ci[0] <= r.effect <= r.ci[1], metric


def test_aa_welch_on_errors_keeps_its_false_positive_share() -> None:
    """MAE and bias of skewed, heavy-tailed errors: 2000 A/A pairs of 150 rows per arm."""
    rng = np.random.default_rng(21)
    pairs, n = 2000, 150
    hits = {"mae": 0, "bias": 0}
    for _ in range(pairs):
        y = rng.normal(20.0, 5.0, 2 * n)
        e = rng.standard_t(4, 2 * n) + rng.exponential(1.0, 2 * n)
        a = RegressionSums.from_rows(y[:n], y[:n] + e[:n])
        b = RegressionSums.from_rows(y[n:], y[n:] + e[n:])
        for metric in hits:
            hits[metric] += regression_welch(a, b, metric=metric).p_value <= ALPHA
    for metric, count in hits.items():
        assert count / pairs <= mc_ceiling(pairs), (metric, count / pairs)


def test_aa_bootstrap_f1_macro_keeps_its_false_positive_share() -> None:
    """Both arms drawn from one 4-class confusion distribution, 300 rows each, 500 pairs."""
    rng = np.random.default_rng(22)
    shares = np.array([[30, 4, 3, 1], [5, 20, 3, 2], [2, 3, 12, 3], [1, 1, 2, 8]], float)
    shares /= shares.sum()
    hits = 0
    for seed in range(PAIRS):
        a, b = (rng.multinomial(300, shares.ravel()).reshape(4, 4) for _ in range(2))
        hits += bootstrap_class_metric(a, b, n_resamples=500, seed=seed).p_value <= ALPHA
    assert hits / PAIRS <= mc_ceiling(PAIRS), hits / PAIRS


def test_aa_bootstrap_rmse_keeps_its_false_positive_share() -> None:
    """Rows of one model on one population, 120 rows per arm, 500 pairs."""
    rng = np.random.default_rng(23)
    hits = 0
    for seed in range(PAIRS):
        y = rng.normal(0.0, 2.0, 240)
        p = y + rng.standard_t(5, 240)
        r = bootstrap_regression_metric(y[:120], p[:120], y[120:], p[120:], n_resamples=400,
                                        seed=seed)
        hits += r.p_value <= ALPHA
    assert hits / PAIRS <= mc_ceiling(PAIRS), hits / PAIRS


@pytest.mark.parametrize(("call", "match"), [
    (lambda: welch_from_sums(1, 1.0, 1.0, 3, 3.0, 5.0), r"n_a must be an integer >= 2"),
    (lambda: welch_from_sums(3, 1.0, 1.0, 3, 3.0, 5.0, "up"), r"alternative must be one of"),
    (lambda: regression_welch(RegressionSums.from_rows([1.0, 2.0], [1.0, 1.0]), {"n": 2}),
     r"b must be a RegressionSums"),
    (lambda: regression_welch(RegressionSums.from_rows([1.0, 2.0], [1.0, 1.0]),
                              RegressionSums.from_rows([1.0, 2.0], [1.0, 1.0]), metric="rmse"),
     r"metric must be one of mae, mape, bias; got 'rmse'"),
    (lambda: bootstrap_class_metric([[1, 0], [0, 1]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
     r"confusion_b must be a 2x2 matrix"),
    (lambda: bootstrap_class_metric([[1, 0], [0, 1]], [[1, 0], [0, 1]], metric="mae"),
     r"metric must be one of f1_macro"),
    (lambda: bootstrap_class_metric([[0, 0], [0, 0]], [[1, 0], [0, 1]]),
     r"confusion must be counts of at least one row"),
    (lambda: bootstrap_regression_metric([1.0, 2.0], [1.0], [1.0, 2.0], [1.0, 2.0]),
     r"predicted_a must be a 1-D array of at least 2"),
    (lambda: bootstrap_regression_metric([1.0, 2.0, 3.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]),
     r"predicted_a must be as many rows as its actuals \(3\)"),
    (lambda: bootstrap_regression_metric([1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0],
                                         n_resamples=10), r"n_resamples must be"),
])
def test_bad_input_names_the_argument(call: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        call()
