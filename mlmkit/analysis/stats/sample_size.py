"""Power and sample-size planning for A/B tests of proportions (accuracy, conversion).

``required_sample_size`` and ``power`` use Cohen's effect size h
(``statsmodels.stats.proportion.proportion_effectsize``) with
``statsmodels.stats.power.NormalIndPower``, two-sided, equal group sizes.
``margin_of_error_sample_size`` is the seed system's Cochran formula for estimating one
proportion to a given precision.
"""

from __future__ import annotations

import math
from typing import Any

from mlmkit._validation import check_int, check_real, invalid
from mlmkit.analysis.stats.result import check_alpha, z_quantile

__all__ = ["margin_of_error_sample_size", "power", "required_sample_size"]


def _effect_size(baseline_rate: Any, minimum_detectable_effect: Any) -> float:
    base = check_real("baseline_rate", baseline_rate, low=0.0, high=1.0,
                      low_open=True, high_open=True)
    mde = check_real("minimum_detectable_effect", minimum_detectable_effect)
    target = base + mde
    if mde == 0 or not 0.0 <= target <= 1.0:
        raise invalid("minimum_detectable_effect",
                      f"a non-zero number with baseline_rate + effect in [0, 1] "
                      f"(baseline_rate={base})", minimum_detectable_effect)
    from statsmodels.stats.proportion import proportion_effectsize

    return abs(float(proportion_effectsize(target, base)))


def required_sample_size(baseline_rate: float, minimum_detectable_effect: float, *,
                         alpha: float = 0.05, power: float = 0.8) -> int:
    """Units per group needed to detect an absolute change of a proportion (two-sided).

    Solves ``NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=power, ratio=1,
    alternative="two-sided")`` for Cohen's ``h = |2 asin(sqrt(p + mde)) - 2 asin(sqrt(p))|``
    and rounds up.

    Parameters
    ----------
    baseline_rate : float
        Rate of the control group (A), in (0, 1).
    minimum_detectable_effect : float
        Absolute change to detect (``0.02`` = two percentage points; may be negative), with
        ``baseline_rate + minimum_detectable_effect`` in [0, 1].
    alpha : float
        Two-sided significance level.
    power : float
        Probability of detecting the effect, in (0, 1).

    Returns
    -------
    int
        Sample size per group.

    Examples
    --------
    >>> required_sample_size(0.10, 0.02)
    3835
    >>> required_sample_size(0.50, 0.05, alpha=0.01, power=0.9)
    2966
    """
    h = _effect_size(baseline_rate, minimum_detectable_effect)
    alpha = check_alpha(alpha)
    power = check_alpha(power, "power")
    from statsmodels.stats.power import NormalIndPower

    n = NormalIndPower().solve_power(effect_size=h, nobs1=None, alpha=alpha, power=power,
                                     ratio=1.0, alternative="two-sided")
    return math.ceil(float(n))


def power(baseline_rate: float, minimum_detectable_effect: float, n_per_group: int, *,
          alpha: float = 0.05) -> float:
    """Power of the two-sided two-proportion test with ``n_per_group`` units in each group.

    The counterpart of
    [`required_sample_size`][mlmkit.analysis.stats.required_sample_size]:
    ``NormalIndPower().power(effect_size=h, nobs1=n_per_group, alpha=alpha, ratio=1)``.

    Parameters
    ----------
    baseline_rate, minimum_detectable_effect : float
        As in [`required_sample_size`][mlmkit.analysis.stats.required_sample_size].
    n_per_group : int
        Units in each group (>= 2).
    alpha : float
        Two-sided significance level.

    Returns
    -------
    float
        Probability of a significant result when the true change is the effect.

    Examples
    --------
    >>> round(power(0.10, 0.02, 3835), 4)
    0.8
    """
    h = _effect_size(baseline_rate, minimum_detectable_effect)
    n = check_int("n_per_group", n_per_group, low=2)
    alpha = check_alpha(alpha)
    from statsmodels.stats.power import NormalIndPower

    return float(NormalIndPower().power(effect_size=h, nobs1=n, alpha=alpha, ratio=1.0,
                                        alternative="two-sided"))


def margin_of_error_sample_size(confidence_level: float = 0.95, margin_of_error: float = 0.05,
                                *, proportion: float = 0.5) -> int:
    """Cochran's sample size to estimate a proportion within ``± margin_of_error``.

    ``n = z² p (1 - p) / e²`` rounded up, with ``z`` the two-sided normal quantile of
    ``confidence_level`` and the worst case ``p = 0.5`` by default (the seed system's
    ``calculateRequiredSampleSize``). Values within 1e-9 of an integer are not bumped up.

    Parameters
    ----------
    confidence_level : float
        Confidence of the estimate, in (0, 1).
    margin_of_error : float
        Half-width of the interval, in (0, 1).
    proportion : float
        Anticipated proportion, in (0, 1).

    Returns
    -------
    int
        Number of observations.

    Examples
    --------
    >>> margin_of_error_sample_size(0.95, 0.05)
    385
    >>> margin_of_error_sample_size(0.95, 0.03)
    1068
    """
    confidence_level = check_alpha(confidence_level, "confidence_level")
    margin = check_alpha(margin_of_error, "margin_of_error")
    p = check_alpha(proportion, "proportion")
    z = z_quantile(confidence_level)
    return max(1, math.ceil(z * z * p * (1.0 - p) / (margin * margin) - 1e-9))
