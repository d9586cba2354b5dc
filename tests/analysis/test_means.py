"""Oracle tests of mlmkit.analysis.stats.means (Welch t-test, bootstrap) against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs

from mlmkit.analysis.stats.means import bootstrap_difference, welch_ttest
from mlmkit.exceptions import ValidationError

TOL = 1e-9
# Magnitudes below 1e-100 make the variances underflow, where no two implementations agree
# (found by hypothesis: [0, 0, 2.6e-158] gave different df and p in scipy and here).
samples = hs.lists(hs.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False)
                   .filter(lambda x: x == 0 or abs(x) > 1e-100), min_size=2, max_size=60)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
@settings(max_examples=80, deadline=None)
@given(samples, samples, hs.sampled_from(["two-sided", "greater", "less"]))
def test_welch_equals_scipy(a, b, alternative):
    res = st.ttest_ind(b, a, equal_var=False, alternative=alternative)
    r = welch_ttest(a, b, alternative)
    if np.var(a) == np.var(b) == 0:  # both samples constant: scipy gives NaN df, we decide
        same = np.mean(b) == np.mean(a)
        assert r.statistic == 0.0 if same else np.isinf(r.statistic)
        assert r.p_value == 1.0 if same else r.p_value in (0.0, 1.0)
        return
    assert r.statistic == pytest.approx(res.statistic, rel=1e-9, abs=TOL)
    assert r.p_value == pytest.approx(res.pvalue, abs=TOL)
    assert r.df == pytest.approx(res.df, rel=1e-9)
    assert r.effect == pytest.approx(np.mean(b) - np.mean(a), rel=1e-9, abs=1e-9)


def test_welch_ci_equals_scipy_on_seeded_data():
    rng = np.random.default_rng(5)
    for _ in range(20):
        a = rng.normal(10, rng.uniform(0.5, 3), rng.integers(5, 400))
        b = rng.normal(10.5, rng.uniform(0.5, 3), rng.integers(5, 400))
        res = st.ttest_ind(b, a, equal_var=False)
        ci = res.confidence_interval(0.9)
        r = welch_ttest(a, b, confidence=0.9)
        assert r.ci == pytest.approx((ci.low, ci.high), abs=TOL)
        assert r.p_value == pytest.approx(res.pvalue, abs=TOL)


def test_welch_on_breast_cancer_feature():
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    a, b = x[y == 0, 0], x[y == 1, 0]
    res = st.ttest_ind(b, a, equal_var=False)
    r = welch_ttest(a, b)
    assert (r.statistic, r.p_value) == pytest.approx((res.statistic, res.pvalue), abs=TOL)


def test_bootstrap_is_seeded_and_agrees_with_scipy():
    rng = np.random.default_rng(11)
    a, b = rng.exponential(1.0, 300), rng.exponential(1.3, 250)
    r1 = bootstrap_difference(a, b, seed=3)
    assert r1 == bootstrap_difference(a, b, seed=3)
    assert r1.ci != bootstrap_difference(a, b, seed=4).ci
    assert r1.effect == pytest.approx(b.mean() - a.mean())

    def diff(x, y, axis):
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    ref = st.bootstrap((b, a), diff, n_resamples=9999, method="percentile",
                       confidence_level=0.95, rng=np.random.default_rng(0)).confidence_interval
    se = r1.details["standard_error"]
    assert r1.ci == pytest.approx((ref.low, ref.high), abs=0.1 * se)
    welch = welch_ttest(a, b)  # large-sample agreement with the analytic interval
    assert r1.ci == pytest.approx(welch.ci, abs=0.15 * se)
    assert se == pytest.approx((welch.ci[1] - welch.ci[0]) / (2 * 1.96), rel=0.1)


def test_bootstrap_median_and_chunking():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 5000), rng.normal(0.0, 1, 5000)
    r = bootstrap_difference(a, b, np.median, n_resamples=2000, seed=1)  # several chunks
    assert r.ci[0] < r.effect < r.ci[1]
    assert r.p_value > 0.05
    assert r.effect == pytest.approx(np.median(b) - np.median(a))


def test_bootstrap_p_value_detects_shift():
    rng = np.random.default_rng(8)
    r = bootstrap_difference(rng.normal(0, 1, 400), rng.normal(0.5, 1, 400), n_resamples=999)
    assert r.p_value == pytest.approx(2 / 1000)
    assert r.significant(0.01)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: welch_ttest([1.0], [1.0, 2.0]), "a"),
        (lambda: welch_ttest([1.0, 2.0], [1.0, np.nan]), "b"),
        (lambda: welch_ttest([1.0, 2.0], [[1.0, 2.0]]), "b"),
        (lambda: welch_ttest([1.0, 2.0], ["x", "y"]), "b"),
        (lambda: welch_ttest([1.0, 2.0], [1.0, 2.0], "up"), "alternative"),
        (lambda: bootstrap_difference([1.0, 2.0], [1.0, 2.0], n_resamples=10), "n_resamples"),
        (lambda: bootstrap_difference([1.0, 2.0], [1.0, 2.0], confidence=1.0), "confidence"),
        (lambda: bootstrap_difference([1.0, 2.0], [1.0, 2.0], seed=-1), "seed"),
        (lambda: bootstrap_difference([1.0, 2.0], [1.0, 2.0], "mean"), "statistic"),
        (lambda: bootstrap_difference([1.0, 2.0], [1.0, 2.0], lambda x: 1.0), "statistic"),
        (lambda: bootstrap_difference([1.0, 2.0], [1.0, 2.0], lambda x, axis: x), "statistic"),
    ],
)
def test_bad_inputs_name_the_parameter(call, name):
    with pytest.raises(ValidationError, match=f"^{name} must be .*; got "):
        call()
