"""Score-only metrics: distribution, flag rate and their drift against numpy, scipy, statsmodels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy.stats import chi2_contingency, ks_2samp
from statsmodels.stats.proportion import proportion_confint

from mlmkit.analysis.drift import psi_from_counts
from mlmkit.analysis.metrics import flag_drift, flag_rate, score_drift, score_summary
from mlmkit.exceptions import ValidationError

TOL = 1e-9


def histogram(scores: np.ndarray, bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.minimum((scores * bins).astype(int), bins - 1)
    return edges, np.bincount(index, minlength=bins)


def test_exact_moments_and_bracketed_quantiles() -> None:
    rng = np.random.default_rng(4)
    s = rng.beta(2.0, 5.0, 5000)
    edges, counts = histogram(s)
    summary = score_summary(edges, counts, sum_score=float(s.sum()),
                            sum_squared_score=float(s @ s))
    assert summary.n == s.size and summary.exact_moments
    assert summary.mean == pytest.approx(s.mean(), abs=TOL)
    assert summary.std == pytest.approx(np.std(s, ddof=1), abs=TOL)
    exact = np.quantile(s, summary.quantiles["quantile"].to_numpy())
    assert np.all(summary.quantiles["low"].to_numpy() <= exact)
    assert np.all(exact <= summary.quantiles["high"].to_numpy())
    assert np.all(np.abs(summary.quantiles["value"].to_numpy() - exact) <= 1 / 50)
    approx = score_summary(edges, counts)
    assert not approx.exact_moments
    assert abs(approx.mean - s.mean()) <= 0.5 / 50  # midpoints: within half a bin


def test_flag_rate_is_the_wilson_interval() -> None:
    for flagged, n in ((0, 50), (7, 300), (300, 300)):
        ci = flag_rate(flagged, n, confidence=0.9)
        low, high = proportion_confint(flagged, n, alpha=0.1, method="wilson")
        assert (ci.low, ci.high, ci.estimate) == pytest.approx((low, high, flagged / n),
                                                               abs=TOL)


def test_score_drift_reuses_the_drift_statistics() -> None:
    rng = np.random.default_rng(9)
    ref, cur = rng.integers(0, 20, 3000), rng.integers(2, 20, 2000)  # integer scores
    ref_counts, cur_counts = np.bincount(ref, minlength=20), np.bincount(cur, minlength=20)
    assert score_drift(ref_counts, cur_counts) == psi_from_counts(ref_counts, cur_counts)
    ks = score_drift(ref_counts, cur_counts, method="ks")  # one bin per value: exact statistic
    assert ks.statistic == pytest.approx(ks_2samp(ref, cur).statistic, abs=TOL)
    chi = score_drift(ref_counts, cur_counts, method="chi_square")
    expected = chi2_contingency(np.vstack([ref_counts, cur_counts]))
    assert (chi.statistic, chi.p_value) == pytest.approx(
        (expected.statistic, expected.pvalue), abs=TOL)
    assert ks.drift_detected and chi.drift_detected


@settings(max_examples=60, deadline=None)
@given(hs.integers(1, 500), hs.integers(0, 500), hs.integers(1, 500), hs.integers(0, 500))
def test_flag_drift_equals_scipy_chi2_contingency(n_a: int, f_a: int, n_b: int, f_b: int) -> None:
    f_a, f_b = min(f_a, n_a), min(f_b, n_b)
    table = np.array([[f_a, n_a - f_a], [f_b, n_b - f_b]])
    d = flag_drift(f_a, n_a, f_b, n_b)
    if (table.sum(axis=0) == 0).any():  # a column empty in both rows is dropped
        return
    expected = chi2_contingency(table)
    assert d.statistic == pytest.approx(expected.statistic, abs=1e-8)
    assert d.p_value == pytest.approx(expected.pvalue, abs=1e-8)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: score_drift([1, 2], [2, 1], method="wasserstein"), r"method must be one of"),
    (lambda: flag_rate(5, 3), r"flagged must be an integer >= 0 and <= 3; got 5"),
    (lambda: flag_drift(1, 0, 1, 2), r"reference_n must be an integer >= 1"),
    (lambda: score_summary([0.0, 1.0], [1, 2]), r"edges must be 3 increasing"),
    (lambda: score_summary([0.0, 0.5, 1.0], [1, 2], sum_score=1.0),
     r"sum_squared_score must be given together with sum_score"),
    (lambda: score_summary([0.0, 0.5, 1.0], [1, -2]), r"counts must be non-negative"),
])
def test_bad_input_names_the_argument(call: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        call()


def test_an_empty_histogram_has_nan_summaries() -> None:
    s = score_summary([0.0, 0.5, 1.0], [0, 0])
    assert s.n == 0 and math.isnan(s.mean) and math.isnan(s.std)
    assert s.quantiles["value"].is_nan().all()
