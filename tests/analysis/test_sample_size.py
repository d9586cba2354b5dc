"""Sample sizes and power equal statsmodels' solver (rounded up); Cochran's seed numbers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from mlmkit.analysis.stats.sample_size import (
    margin_of_error_sample_size,
    power,
    required_sample_size,
)
from mlmkit.exceptions import ValidationError


def reference(base: float, mde: float, alpha: float, target: float) -> int:
    h = proportion_effectsize(base + mde, base)
    n = NormalIndPower().solve_power(effect_size=abs(h), alpha=alpha, power=target, ratio=1.0,
                                     alternative="two-sided")
    return math.ceil(n)


@pytest.mark.parametrize("base", [0.02, 0.1, 0.5, 0.85, 0.95])
@pytest.mark.parametrize("mde", [0.01, 0.03, -0.01])
@pytest.mark.parametrize(("alpha", "target"), [(0.05, 0.8), (0.01, 0.9)])
def test_required_sample_size_equals_statsmodels(base, mde, alpha, target):
    n = required_sample_size(base, mde, alpha=alpha, power=target)
    assert n == reference(base, mde, alpha, target)
    assert power(base, mde, n, alpha=alpha) >= target - 1e-9
    assert power(base, mde, n - 1, alpha=alpha) < target


@settings(max_examples=25, deadline=None)
@given(hs.floats(0.01, 0.99), hs.floats(0.005, 0.3), hs.booleans())
def test_required_sample_size_hypothesis(base, size, down):
    mde = -size if down else size
    if not 0 <= base + mde <= 1:
        with pytest.raises(ValidationError, match=r"^minimum_detectable_effect must"):
            required_sample_size(base, mde)
        return
    assert required_sample_size(base, mde) == reference(base, mde, 0.05, 0.8)


def test_power_equals_statsmodels():
    h = proportion_effectsize(0.12, 0.10)
    expected = NormalIndPower().power(effect_size=abs(h), nobs1=1234, alpha=0.05, ratio=1.0)
    assert power(0.10, 0.02, 1234) == pytest.approx(expected, abs=1e-12)


def test_margin_of_error_matches_seed_and_cochran():
    assert margin_of_error_sample_size() == 385
    assert margin_of_error_sample_size(0.95, 0.05) == 385
    assert margin_of_error_sample_size(0.95, 0.03) == 1068
    assert margin_of_error_sample_size(0.99, 0.05) == 664
    assert margin_of_error_sample_size(0.95, 0.05, proportion=0.1) == 139


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: required_sample_size(0.0, 0.1), "baseline_rate"),
        (lambda: required_sample_size(1.2, 0.1), "baseline_rate"),
        (lambda: required_sample_size(0.5, 0.0), "minimum_detectable_effect"),
        (lambda: required_sample_size(0.9, 0.2), "minimum_detectable_effect"),
        (lambda: required_sample_size(0.5, 0.1, alpha=0.0), "alpha"),
        (lambda: required_sample_size(0.5, 0.1, power=1.0), "power"),
        (lambda: power(0.5, 0.1, 1), "n_per_group"),
        (lambda: margin_of_error_sample_size(1.0, 0.05), "confidence_level"),
        (lambda: margin_of_error_sample_size(0.95, 0.0), "margin_of_error"),
        (lambda: margin_of_error_sample_size(0.95, 0.05, proportion=1.0), "proportion"),
    ],
)
def test_bad_inputs_name_the_parameter(call, name):
    with pytest.raises(ValidationError, match=f"^{name} must be .*; got "):
        call()
