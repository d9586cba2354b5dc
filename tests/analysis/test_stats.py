"""Oracle tests of mlmkit.analysis.stats against scipy / statsmodels."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import polars as pl
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy.stats.contingency import odds_ratio
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from mlmkit.analysis import stats
from mlmkit.analysis.stats import TestResult
from mlmkit.exceptions import ValidationError

TOL = 1e-9
SM_ALT = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}
ALTERNATIVES = list(SM_ALT)
FAST = settings(max_examples=60, deadline=None)


@hs.composite
def count_pairs(draw: hs.DrawFn, max_n: int = 100_000) -> tuple[int, int, int, int]:
    n_a = draw(hs.integers(1, max_n))
    n_b = draw(hs.integers(1, max_n))
    return draw(hs.integers(0, n_a)), n_a, draw(hs.integers(0, n_b)), n_b


tables = hs.lists(hs.integers(0, 500), min_size=4, max_size=4).map(
    lambda v: [[v[0], v[1]], [v[2], v[3]]]
)
small_tables = hs.lists(hs.integers(0, 150), min_size=4, max_size=4).map(
    lambda v: [[v[0], v[1]], [v[2], v[3]]]
)


# --- two-proportion z-test -------------------------------------------------------------------


@FAST
@given(count_pairs(), hs.sampled_from(ALTERNATIVES))
def test_ztest_equals_statsmodels(counts, alternative):
    s_a, n_a, s_b, n_b = counts
    pooled = (s_a + s_b) / (n_a + n_b)
    r = stats.two_proportion_ztest(s_a, n_a, s_b, n_b, alternative)
    if pooled in (0.0, 1.0):
        assert (r.statistic, r.p_value) == (0.0, 1.0)
        return
    z, p = proportions_ztest([s_b, s_a], [n_b, n_a], alternative=SM_ALT[alternative])
    assert r.statistic == pytest.approx(z, abs=TOL)
    assert r.p_value == pytest.approx(p, abs=TOL)
    assert r.effect == pytest.approx(s_b / n_b - s_a / n_a, abs=1e-15)
    assert r.n == n_a + n_b


@FAST
@given(count_pairs(max_n=5000), hs.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_ztest_ci_is_newcombe(counts, confidence):
    s_a, n_a, s_b, n_b = counts
    low, high = confint_proportions_2indep(s_b, n_b, s_a, n_a, method="newcomb",
                                           compare="diff", alpha=1 - confidence)
    r = stats.two_proportion_ztest(s_a, n_a, s_b, n_b, confidence=confidence)
    assert r.ci == pytest.approx((low, high), abs=TOL)
    assert r.ci[0] <= r.effect <= r.ci[1]


def test_ztest_seeded_and_direction():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n_a, n_b = rng.integers(50, 50_000, size=2)
        s_a, s_b = rng.binomial(n_a, 0.3), rng.binomial(n_b, 0.32)
        z, p = proportions_ztest([s_b, s_a], [n_b, n_a])
        r = stats.two_proportion_ztest(int(s_a), int(n_a), int(s_b), int(n_b))
        assert (r.statistic, r.p_value) == pytest.approx((z, p), abs=TOL)
    better_b = stats.two_proportion_ztest(100, 1000, 150, 1000, "greater")
    assert better_b.statistic > 0 and better_b.effect > 0 and better_b.significant()
    assert not stats.two_proportion_ztest(100, 1000, 150, 1000, "less").significant()


def test_ztest_aa_rejects_at_alpha():
    rng = np.random.default_rng(2024)
    sims, n = 2500, 2000
    s = rng.binomial(n, 0.3, size=(sims, 2))
    rate = np.mean([stats.two_proportion_ztest(int(a), n, int(b), n).significant(0.05)
                    for a, b in s])
    mc = math.sqrt(0.05 * 0.95 / sims)
    assert abs(rate - 0.05) < 4 * mc


# --- 2x2 tables ------------------------------------------------------------------------------


@FAST
@given(tables, hs.booleans())
def test_chi_square_equals_scipy(table, correction):
    arr = np.array(table)
    if (arr.sum(axis=0) == 0).any() or (arr.sum(axis=1) == 0).any():
        with pytest.raises(ValidationError, match=r"^table must"):
            stats.chi_square_2x2(table, correction=correction)
        return
    res = st.chi2_contingency(arr, correction=correction)
    r = stats.chi_square_2x2(table, correction=correction)
    assert r.statistic == pytest.approx(res.statistic, abs=TOL)
    assert r.p_value == pytest.approx(res.pvalue, abs=TOL)
    assert r.df == res.dof == 1
    if not correction:
        z = stats.two_proportion_ztest(table[0][0], sum(table[0]), table[1][0], sum(table[1]))
        assert r.statistic == pytest.approx(z.statistic**2, rel=1e-9, abs=1e-12)


@FAST
@given(small_tables, hs.sampled_from(ALTERNATIVES))
def test_fisher_equals_scipy(table, alternative):
    res = st.fisher_exact(np.array(table)[::-1], alternative=alternative)
    r = stats.fisher_exact(table, alternative)
    assert r.p_value == pytest.approx(res.pvalue, abs=TOL)
    if math.isnan(res.statistic):
        assert math.isnan(r.statistic)
    else:
        assert r.statistic == res.statistic


def test_fisher_orientation_and_conditional_ci():
    table = [[30, 70], [45, 55]]  # B converts better
    r = stats.fisher_exact(table, "greater")
    assert r.statistic > 1 and r.significant()
    ci = odds_ratio(np.array(table)[::-1], kind="conditional").confidence_interval(0.95)
    assert r.effect == r.statistic == pytest.approx((45 * 70) / (55 * 30))
    assert r.ci == pytest.approx((ci.low, ci.high), abs=TOL)
    assert r.details["ci_method"] == "exact conditional"


@pytest.mark.parametrize("table", [[[10_000, 90_000], [12_000, 88_000]],
                                   [[0, 6000], [7, 5993]]])
def test_fisher_large_tables_use_woolf_interval(table):
    swapped = np.array(table)[::-1]
    r = stats.fisher_exact(table, confidence=0.9)
    # Haldane-Anscombe: 0.5 added to every cell when one is zero (statsmodels' shift_zeros
    # replaces only the zero cells, so the oracle gets the shifted table)
    shifted = swapped + 0.5 if (swapped == 0).any() else swapped
    ref = Table2x2(shifted, shift_zeros=False).oddsratio_confint(alpha=0.1)
    assert r.details["ci_method"] == "Woolf (logit)"
    assert r.ci == pytest.approx(ref, rel=1e-9)
    assert r.p_value == pytest.approx(st.fisher_exact(swapped).pvalue, abs=TOL)


@FAST
@given(tables.filter(lambda t: t[0][1] + t[1][0] > 0), hs.booleans(), hs.booleans())
def test_mcnemar_equals_statsmodels(table, exact, correction):
    res = sm_mcnemar(np.array(table), exact=exact, correction=correction)
    r = stats.mcnemar_table(table, exact=exact, correction=correction)
    assert r.statistic == pytest.approx(res.statistic, abs=TOL)
    assert r.p_value == pytest.approx(res.pvalue, abs=TOL)
    assert r.effect == pytest.approx((table[1][0] - table[0][1]) / sum(map(sum, table)))


def test_mcnemar_on_breast_cancer_models():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.5, random_state=0)
    model_a = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x_tr, y_tr)
    model_b = make_pipeline(StandardScaler(), LogisticRegression()).fit(x_tr, y_tr)
    ok_a, ok_b = model_a.predict(x_te) == y_te, model_b.predict(x_te) == y_te
    table = [[np.sum(ok_a & ok_b), np.sum(ok_a & ~ok_b)],
             [np.sum(~ok_a & ok_b), np.sum(~ok_a & ~ok_b)]]
    for exact in (True, False):
        r = stats.mcnemar(ok_a, ok_b, exact=exact)
        res = sm_mcnemar(np.array(table), exact=exact)
        assert (r.statistic, r.p_value) == pytest.approx((res.statistic, res.pvalue), abs=TOL)
        assert r.effect == pytest.approx(ok_b.mean() - ok_a.mean(), abs=1e-12)
        assert r.n == y_te.size
    assert stats.mcnemar(ok_a.astype(int), ok_b.astype(float)) == stats.mcnemar(ok_a, ok_b)


def test_mcnemar_no_discordant_pairs():
    r = stats.mcnemar([1, 0, 1], [1, 0, 1], exact=False)
    assert (r.statistic, r.p_value, r.effect) == (0.0, 1.0, 0.0)


# --- sample ratio mismatch -------------------------------------------------------------------


@FAST
@given(hs.integers(0, 10**6), hs.integers(0, 10**6),
       hs.floats(0.01, 0.99, allow_nan=False))
def test_srm_equals_scipy_chisquare(n_a, n_b, share):
    if n_a + n_b == 0:
        return
    total = n_a + n_b
    res = st.chisquare([n_a, n_b], [total * share, total * (1 - share)])
    r = stats.sample_ratio_mismatch(n_a, n_b, share)
    assert r.statistic == pytest.approx(res.statistic, rel=1e-9, abs=TOL)
    assert r.p_value == pytest.approx(res.pvalue, abs=TOL)
    assert r.details["mismatch"] == (r.p_value <= 0.001) == r.significant()


def test_srm_detects_55_45_and_accepts_balanced():
    assert stats.sample_ratio_mismatch(5500, 4500, 0.5).details["mismatch"]
    assert not stats.sample_ratio_mismatch(5040, 4960, 0.5).details["mismatch"]
    assert not stats.sample_ratio_mismatch(8010, 1990, 0.8).details["mismatch"]
    r = stats.sample_ratio_mismatch(5500, 4500)
    assert r.effect == pytest.approx(0.05) and r.ci[0] < 0.05 < r.ci[1]
    assert r.alpha == 0.001


# --- multiple testing ------------------------------------------------------------------------

p_lists = hs.lists(
    hs.one_of(hs.floats(0, 1, allow_nan=False), hs.sampled_from([0.0, 0.01, 0.05, 1.0])),
    min_size=1, max_size=40,
)


@FAST
@given(p_lists, hs.sampled_from(["holm", "bonferroni", "fdr_bh"]),
       hs.sampled_from([0.01, 0.05, 0.1]))
def test_multiple_testing_equals_statsmodels(p_values, method, alpha):
    reject, adjusted, _, _ = multipletests(p_values, alpha=alpha, method=method)
    df = stats.multiple_testing(p_values, method=method, alpha=alpha)
    assert df.columns == ["p_value", "p_adjusted", "reject"]
    np.testing.assert_allclose(df["p_adjusted"].to_numpy(), adjusted, atol=TOL, rtol=0)
    assert df["reject"].to_list() == reject.tolist()
    assert df["p_value"].to_list() == list(map(float, p_values))


@FAST
@given(p_lists, hs.lists(hs.booleans(), min_size=40, max_size=40),
       hs.sampled_from(["holm", "bonferroni", "fdr_bh"]))
def test_multiple_testing_leaves_untested_nan_out_of_the_family(p_values, untested, method):
    p = np.array(p_values, dtype=float)
    p[np.array(untested[:p.size])] = np.nan  # a test that could not be computed
    df = stats.multiple_testing(p, method=method)
    tested = ~np.isnan(p)
    assert df["p_adjusted"].is_nan().to_list() == (~tested).tolist()
    assert not df["reject"].to_numpy()[~tested].any()
    if tested.any():
        reject, adjusted, _, _ = multipletests(p[tested], method=method)
        np.testing.assert_allclose(df["p_adjusted"].to_numpy()[tested], adjusted, atol=TOL,
                                   rtol=0)
        assert df["reject"].to_numpy()[tested].tolist() == reject.tolist()


def test_multiple_testing_accepts_polars_series():
    df = stats.multiple_testing(pl.Series([0.001, 0.02, 0.5]), method="fdr_bh")
    assert df["reject"].to_list() == [True, True, False]


# --- result type -----------------------------------------------------------------------------


def test_result_type_contract():
    r = stats.two_proportion_ztest(120, 1000, 150, 1000)
    assert isinstance(r, TestResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.p_value = 0.0  # type: ignore[misc]
    d = r.to_dict()
    assert d["p_value"] == r.p_value and d["ci_low"] == r.ci[0] and d["rate_b"] == 0.15
    assert d["significant"] == r.significant()
    html = r._repr_html_()
    assert html.startswith("<table") and "p_value" in html and "z-test" in html
    assert r.significant(0.5) and not r.significant(1e-6)
    with pytest.raises(ValidationError, match=r"^alpha must"):
        r.significant(1.5)


def test_every_test_returns_test_result():
    results = [
        stats.two_proportion_ztest(1, 10, 2, 10),
        stats.chi_square_2x2([[1, 9], [2, 8]]),
        stats.fisher_exact([[1, 9], [2, 8]]),
        stats.mcnemar_table([[5, 1], [3, 1]]),
        stats.welch_ttest([1.0, 2.0, 3.0], [2.0, 3.0, 5.0]),
        stats.bootstrap_difference([1.0, 2.0, 3.0], [2.0, 3.0, 5.0], n_resamples=200),
        stats.sample_ratio_mismatch(10, 12),
        stats.sequential_two_proportion_test(1, 10, 2, 10),
    ]
    for r in results:
        assert isinstance(r, TestResult)
        assert 0.0 <= r.p_value <= 1.0
        assert r.alternative in ("two-sided", "greater", "less")
        assert isinstance(r.to_dict(), dict)


# --- bad inputs ------------------------------------------------------------------------------


@FAST
@given(count_pairs(max_n=1000), hs.integers(1, 1000), hs.sampled_from(["a", "b"]))
def test_successes_above_n_raise(counts, extra, group):
    s_a, n_a, s_b, n_b = counts
    if group == "a":
        s_a = n_a + extra
    else:
        s_b = n_b + extra
    message = f"^successes_{group} must be an integer <= n_{group}"
    with pytest.raises(ValidationError, match=message):
        stats.two_proportion_ztest(s_a, n_a, s_b, n_b)


@FAST
@given(hs.integers(max_value=-1), hs.sampled_from(range(4)))
def test_negative_counts_raise(value, position):
    args = [5, 10, 5, 10]
    args[position] = value
    name = ["successes_a", "n_a", "successes_b", "n_b"][position]
    with pytest.raises(ValidationError, match=f"^{name} must be"):
        stats.two_proportion_ztest(*args)


@FAST
@given(hs.one_of(hs.floats(allow_nan=True).filter(lambda x: not 0 < x < 1),
                 hs.just("0.05"), hs.none()))
def test_alpha_outside_unit_interval_raises(alpha):
    with pytest.raises(ValidationError, match=r"^alpha must be"):
        stats.sample_ratio_mismatch(10, 10, alpha=alpha)
    with pytest.raises(ValidationError, match=r"^alpha must be"):
        stats.multiple_testing([0.1], alpha=alpha)
    with pytest.raises(ValidationError, match=r"^confidence must be"):
        stats.two_proportion_ztest(1, 2, 1, 2, confidence=alpha)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.two_proportion_ztest(1, 0, 1, 2), "n_a"),
        (lambda: stats.two_proportion_ztest(1.5, 2, 1, 2), "successes_a"),
        (lambda: stats.two_proportion_ztest(True, 2, 1, 2), "successes_a"),
        (lambda: stats.two_proportion_ztest(1, 2, 1, 2, "bigger"), "alternative"),
        (lambda: stats.chi_square_2x2([[1, 2, 3], [4, 5, 6]]), "table"),
        (lambda: stats.chi_square_2x2([[1, -2], [3, 4]]), "table"),
        (lambda: stats.fisher_exact([[1.5, 2], [3, 4]]), "table"),
        (lambda: stats.fisher_exact("abc"), "table"),
        (lambda: stats.mcnemar_table([[0, 0], [0, 0]]), "table"),
        (lambda: stats.mcnemar([1, 0], [1, 0, 1]), "correct_b"),
        (lambda: stats.mcnemar([1, 2], [1, 0]), "correct_a"),
        (lambda: stats.sample_ratio_mismatch(10, 10, 1.0), "expected_share_a"),
        (lambda: stats.sample_ratio_mismatch(0, 0), "n_b"),
        (lambda: stats.sample_ratio_mismatch(-1, 10), "n_a"),
        (lambda: stats.multiple_testing([0.1, 1.2]), "p_values"),
        (lambda: stats.multiple_testing([0.1, float("inf")]), "p_values"),
        (lambda: stats.multiple_testing([]), "p_values"),
        (lambda: stats.multiple_testing([0.1], method="hochberg"), "method"),
    ],
)
def test_bad_inputs_name_the_parameter(call, name):
    with pytest.raises(ValidationError, match=f"^{name} must be .*; got "):
        call()
