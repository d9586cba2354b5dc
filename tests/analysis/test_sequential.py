"""The always-valid sequential test: formula oracle, A/A error under peeking, power, coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy import integrate
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from mlmkit.analysis import stats
from mlmkit.analysis.stats.sequential import (
    SequentialTest,
    _half_width,
    _log_lr,
    sequential_path,
    sequential_tau,
    sequential_two_proportion_test,
)
from mlmkit.exceptions import ValidationError

ALPHA = 0.05
LOOK = 100  # observations per look, split evenly between A and B
LOOKS = 200  # 200 looks of 100 observations = 20,000 observations per experiment
SIMS = 1000


def cumulative_counts(rng: np.random.Generator, p_a: float, p_b: float, sims: int = SIMS):
    """Cumulative successes of A and B at every look for ``sims`` experiments (vectorised)."""
    per_arm = LOOK // 2
    s_a = rng.binomial(per_arm, p_a, size=(sims, LOOKS)).cumsum(axis=1)
    s_b = rng.binomial(per_arm, p_b, size=(sims, LOOKS)).cumsum(axis=1)
    n = per_arm * np.arange(1, LOOKS + 1)
    return s_a, s_b, np.broadcast_to(n, s_a.shape)


def ever_rejects(s_a, s_b, n, tau=0.05):
    return (_log_lr(s_a, n, s_b, n, tau**2) >= math.log(1 / ALPHA)).any(axis=1)


def test_mixture_likelihood_ratio_equals_numerical_integral():
    # Lambda = integral of N(d; theta, V) / N(d; 0, V) over theta ~ N(0, tau^2)
    for s_a, n_a, s_b, n_b, tau in [(40, 100, 55, 100, 0.05), (850, 1000, 950, 1000, 0.02),
                                    (30, 300, 22, 250, 0.1)]:
        pooled = (s_a + s_b) / (n_a + n_b)
        var = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
        d = s_b / n_b - s_a / n_a

        def integrand(theta, d=d, var=var, tau=tau):
            ratio = norm.pdf(d, theta, math.sqrt(var)) / norm.pdf(d, 0, math.sqrt(var))
            return ratio * norm.pdf(theta, 0, tau)

        value, _ = integrate.quad(integrand, -1, 1, points=[0, d], limit=200)
        r = sequential_two_proportion_test(s_a, n_a, s_b, n_b, tau=tau)
        assert r.statistic == pytest.approx(math.log(value), abs=1e-7)
        assert r.p_value == pytest.approx(min(1.0, 1 / value), rel=1e-7)


def test_confidence_sequence_inverts_the_boundary():
    s_a, n_a, s_b, n_b, tau = 300, 1000, 340, 1000, 0.05
    half = float(_half_width(s_a, n_a, s_b, n_b, tau**2, ALPHA))
    ra, rb = (s_a + 1) / (n_a + 2), (s_b + 1) / (n_b + 2)
    var = ra * (1 - ra) / n_a + rb * (1 - rb) / n_b
    # At theta = d +- half the (unpooled) mixture ratio against theta equals 1/alpha exactly.
    log_lr = 0.5 * math.log(var / (var + tau**2)) + tau**2 * half**2 / (2 * var * (var + tau**2))
    assert log_lr == pytest.approx(math.log(1 / ALPHA), abs=1e-10)
    r = sequential_two_proportion_test(s_a, n_a, s_b, n_b, tau=tau)
    assert r.ci == pytest.approx((r.effect - half, r.effect + half))


def test_aa_fixed_horizon_z_test_rejects_at_alpha():
    rng = np.random.default_rng(7)
    s_a, s_b, n = cumulative_counts(rng, 0.85, 0.85)
    final = [stats.two_proportion_ztest(int(a), int(m), int(b), int(m)).significant(ALPHA)
             for a, b, m in zip(s_a[:, -1], s_b[:, -1], n[:, -1], strict=True)]
    mc = math.sqrt(ALPHA * (1 - ALPHA) / SIMS)
    assert abs(np.mean(final) - ALPHA) < 3.5 * mc


@pytest.mark.parametrize("rate", [0.5, 0.85, 0.1])
def test_aa_sequential_test_with_peeking_stays_below_alpha(rate):
    rng = np.random.default_rng(int(rate * 1000))
    s_a, s_b, n = cumulative_counts(rng, rate, rate)
    rejected = ever_rejects(s_a, s_b, n)
    mc = math.sqrt(ALPHA * (1 - ALPHA) / SIMS)
    assert rejected.mean() <= ALPHA + 2 * mc
    # the same peeking with the fixed-horizon z-test inflates the error several-fold
    pooled = (s_a + s_b) / (2 * n)
    z = (s_b - s_a) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    naive = (np.abs(z) >= norm.ppf(1 - ALPHA / 2)).any(axis=1).mean()
    assert naive > 3 * ALPHA


def test_aa_public_path_agrees_with_vectorised_simulation():
    rng = np.random.default_rng(99)
    s_a, s_b, n = cumulative_counts(rng, 0.85, 0.85, sims=100)
    rejected = [sequential_path(a, m, b, m)["reject"][-1] for a, b, m in zip(s_a, s_b, n,
                                                                             strict=True)]
    assert rejected == ever_rejects(s_a, s_b, n).tolist()


def test_sequential_test_has_power_for_085_vs_095():
    rng = np.random.default_rng(12)
    s_a, s_b, n = cumulative_counts(rng, 0.85, 0.95, sims=300)
    lr = _log_lr(s_a, n, s_b, n, 0.05**2)
    crossed = lr >= math.log(1 / ALPHA)
    assert crossed.any(axis=1).all()
    first = np.argmax(crossed, axis=1)  # index of the first look that rejects
    assert np.median(first + 1) * LOOK <= 1000  # typically decided within 1,000 observations


def test_confidence_sequence_covers_the_truth_uniformly():
    rng = np.random.default_rng(5)
    p_a, p_b = 0.30, 0.33
    s_a, s_b, n = cumulative_counts(rng, p_a, p_b, sims=500)
    half = _half_width(s_a, n, s_b, n, 0.05**2, ALPHA)
    d = (s_b - s_a) / n
    miss = ((d - half > p_b - p_a) | (d + half < p_b - p_a)).any(axis=1)
    assert miss.mean() <= ALPHA


def test_streaming_object_matches_path_and_one_shot():
    rng = np.random.default_rng(3)
    inc = rng.binomial(50, [0.4, 0.47], size=(30, 2))
    s_a, s_b = inc[:, 0].cumsum(), inc[:, 1].cumsum()
    n = 50 * np.arange(1, 31)
    path = sequential_path(s_a, n, s_b, n)
    by_increment, by_total = SequentialTest(), SequentialTest()
    p_values = []
    for i in range(30):
        by_increment.update(int(inc[i, 0]), 50, int(inc[i, 1]), 50)
        by_total.update_totals(int(s_a[i]), int(n[i]), int(s_b[i]), int(n[i]))
        p_values.append(by_increment.p_value)
    assert p_values == pytest.approx(path["p_value"].to_list(), rel=1e-12)
    assert by_total.p_value == by_increment.p_value and by_total.ci == by_increment.ci
    assert by_increment.ci == pytest.approx((path["ci_low"][-1], path["ci_high"][-1]))
    assert np.all(np.diff(p_values) <= 0)
    one_shot = sequential_two_proportion_test(int(s_a[-1]), int(n[-1]), int(s_b[-1]), int(n[-1]))
    assert one_shot.p_value >= by_increment.p_value
    result = by_increment.result()
    assert result.p_value == by_increment.p_value and result.details["looks"] == 30
    assert result.significant() == by_increment.rejected == path["reject"][-1]
    assert by_increment.reset().looks == 0 and by_increment.p_value == 1.0


def test_streaming_waits_for_both_groups():
    test = SequentialTest().update(5, 10, 0, 0)
    assert test.looks == 0 and test.p_value == 1.0 and test.result().effect is None
    test.update(0, 0, 9, 10)
    assert test.looks == 1 and test.result().effect == pytest.approx(0.4)


def test_degenerate_all_success_gives_no_evidence_and_finite_interval():
    r = sequential_two_proportion_test(20, 20, 20, 20)
    assert r.p_value == 1.0 and r.statistic == 0.0
    assert r.ci == (-1.0, 1.0)
    r = sequential_two_proportion_test(1000, 1000, 950, 1000)  # evaluable, A all successes
    assert -1 < r.ci[0] < r.effect < r.ci[1] < 0


@pytest.mark.parametrize(("rate", "split"), [(0.02, (95, 5)), (0.1, (95, 5)), (0.005, (99, 1))])
def test_aa_unbalanced_rare_events_with_peeking_after_every_batch(rate, split):
    # the MIN_EXPECTED_COUNT gate keeps the normal approximation honest (7 % errors without it)
    rng = np.random.default_rng(31)
    sims, looks = 1000, 400
    s_a = rng.binomial(split[0], rate, size=(sims, looks)).cumsum(axis=1)
    s_b = rng.binomial(split[1], rate, size=(sims, looks)).cumsum(axis=1)
    n_a, n_b = (k * np.arange(1, looks + 1)[None, :] for k in split)
    rejected = (_log_lr(s_a, n_a, s_b, n_b, 0.05**2) >= math.log(1 / ALPHA)).any(axis=1)
    assert rejected.mean() <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / sims)


def test_sequential_tau_minimises_half_width():
    for rate, n in [(0.5, 1000), (0.85, 5000), (0.1, 300)]:
        tau = sequential_tau(rate, n)
        s = round(rate * n)

        def width(t, s=s, n=n):
            return float(_half_width(s, n, s, n, t * t, ALPHA))

        best = minimize_scalar(width, bounds=(1e-4, 1.0), method="bounded",
                               options={"xatol": 1e-8}).x
        assert tau == pytest.approx(best, rel=0.05)  # smoothing moves the optimum slightly


@settings(max_examples=40, deadline=None)
@given(hs.integers(1, 5000), hs.integers(1, 5000), hs.data())
def test_one_shot_invariants(n_a, n_b, data):
    s_a = data.draw(hs.integers(0, n_a))
    s_b = data.draw(hs.integers(0, n_b))
    r = sequential_two_proportion_test(s_a, n_a, s_b, n_b)
    assert 0 <= r.p_value <= 1
    assert -1 <= r.ci[0] <= r.effect <= r.ci[1] <= 1
    swapped = sequential_two_proportion_test(s_b, n_b, s_a, n_a)
    assert swapped.p_value == pytest.approx(r.p_value, rel=1e-12)
    assert swapped.effect == pytest.approx(-r.effect, abs=1e-15)
    # never below the fixed-horizon z-test: 1/Lambda >= exp(-z^2/2) >= 2 (1 - Phi(|z|))
    assert r.p_value >= stats.two_proportion_ztest(s_a, n_a, s_b, n_b).p_value - 1e-15
    pooled = (s_a + s_b) / (n_a + n_b)
    assert r.details["evaluated"] == (min(n_a, n_b) * min(pooled, 1 - pooled) >= 10)
    if not r.details["evaluated"]:
        assert (r.p_value, r.ci) == (1.0, (-1.0, 1.0))


@settings(max_examples=30, deadline=None)
@given(hs.sampled_from(["successes_a", "n_a", "successes_b", "n_b"]),
       hs.integers(-10**6, -1))
def test_negative_counts_raise(name, value):
    args = {"successes_a": 1, "n_a": 2, "successes_b": 1, "n_b": 2, name: value}
    with pytest.raises(ValidationError, match=rf"^{name} must be"):
        sequential_two_proportion_test(**args)
    with pytest.raises(ValidationError, match=rf"^{name} must be"):
        SequentialTest().update(**args)


@settings(max_examples=30, deadline=None)
@given(hs.floats(allow_nan=True).filter(lambda x: not 0 < x < 1))
def test_alpha_outside_unit_interval_raises(alpha):
    with pytest.raises(ValidationError, match=r"^alpha must be"):
        sequential_two_proportion_test(1, 2, 1, 2, alpha=alpha)
    with pytest.raises(ValidationError, match=r"^alpha must be"):
        SequentialTest(alpha=alpha)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: sequential_two_proportion_test(3, 2, 1, 2), "successes_a"),
        (lambda: sequential_two_proportion_test(1, 2, 1, 0), "n_b"),
        (lambda: sequential_two_proportion_test(1, 2, 1, 2, tau=0.0), "tau"),
        (lambda: SequentialTest(tau=-1.0), "tau"),
        (lambda: SequentialTest().update(1, 2, 3, 2), "successes_b"),
        (lambda: SequentialTest().update_totals(1, 2, 1, 2).update_totals(1, 1, 1, 2), "n_a"),
        (lambda: sequential_path([1, 0], [2, 2], [1, 1], [2, 2]), "successes_a"),
        (lambda: sequential_path([1, 1], [2, 2], [1, 1], [2]), "n_b"),
        (lambda: sequential_path([1, 1], [0, 2], [1, 1], [2, 2]), "n_a"),
        (lambda: sequential_path([1, 3], [2, 2], [1, 1], [2, 2]), "successes_a"),
        (lambda: sequential_path([], [], [], []), "successes_a"),
        (lambda: sequential_tau(1.0, 100), "baseline_rate"),
        (lambda: sequential_tau(0.5, 0), "n_per_group"),
    ],
)
def test_bad_inputs_name_the_parameter(call, name):
    with pytest.raises(ValidationError, match=rf"^{name} must be .*; got "):
        call()
