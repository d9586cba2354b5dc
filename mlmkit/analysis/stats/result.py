"""Shared pieces of `mlmkit.analysis.stats`: the result type and argument checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlmkit._html import dict_table
from mlmkit._validation import check_choice, check_int, check_real, invalid

ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class TestResult:
    """Outcome of a significance test; every test in `mlmkit.analysis.stats` returns one.

    Orientation: comparisons of two groups are always **B minus A** (``effect = B - A``), so a
    positive ``statistic``/``effect`` means B is larger and ``alternative="greater"`` means
    "B is greater than A".

    Parameters
    ----------
    statistic : float
        The test statistic (z, chi-square, t, odds ratio, log likelihood ratio ... see ``method``).
    p_value : float
        The p-value of ``statistic`` under the null hypothesis.
    ci : tuple of float or None
        Two-sided confidence interval at level ``confidence`` for ``effect`` (``None`` if the
        test has none).
    effect : float or None
        Point estimate of the effect the test is about (e.g. ``rate_b - rate_a``).
    method : str
        Human-readable name of the test.
    alternative : str
        ``"two-sided"``, ``"greater"`` or ``"less"``.
    n : int
        Number of observations (units, pairs or rows) the test used.
    alpha : float
        Default significance level of
        [`significant`][mlmkit.analysis.stats.TestResult.significant] (0.05 unless the test
        sets another, e.g. 0.001 for the sample-ratio-mismatch check).
    confidence : float or None
        Level of ``ci``.
    df : float or None
        Degrees of freedom, for chi-square and t tests.
    details : mapping
        Test-specific extras (group rates, odds ratio, the mixing parameter ...).

    Examples
    --------
    >>> r = TestResult(2.0, 0.0455, (0.01, 0.2), 0.1, "z-test", "two-sided", 100)
    >>> r.significant(), r.significant(0.01)
    (True, False)
    >>> r.to_dict()["ci_high"]
    0.2
    """

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    p_value: float
    ci: tuple[float, float] | None
    effect: float | None
    method: str
    alternative: str
    n: int
    alpha: float = 0.05
    confidence: float | None = None
    df: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def significant(self, alpha: float | None = None) -> bool:
        """Return ``True`` if ``p_value <= alpha`` (default: the result's own ``alpha``)."""
        level = self.alpha if alpha is None else check_alpha(alpha)
        return bool(self.p_value <= level)

    def to_dict(self) -> dict[str, Any]:
        """Return a flat dict (``ci`` split into ``ci_low`` / ``ci_high``; details inlined)."""
        low, high = self.ci if self.ci is not None else (None, None)
        out: dict[str, Any] = {
            "method": self.method,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "effect": self.effect,
            "ci_low": low,
            "ci_high": high,
            "confidence": self.confidence,
            "alternative": self.alternative,
            "n": self.n,
            "df": self.df,
            "alpha": self.alpha,
            "significant": self.significant(),
        }
        out.update(self.details)
        return out

    def _repr_html_(self) -> str:
        return dict_table(self.to_dict(), title=self.method, digits=6, skip_none=True)


def check_alpha(value: Any, name: str = "alpha") -> float:
    """Return a significance level strictly between 0 and 1."""
    return check_real(name, value, low=0.0, high=1.0, low_open=True, high_open=True)


def check_alternative(value: Any) -> str:
    """Return a valid ``alternative`` (two-sided, larger or smaller)."""
    return check_choice("alternative", value, ALTERNATIVES)


def check_counts(successes: Any, n: Any, suffix: str) -> tuple[int, int]:
    """Validate a (successes, trials) pair named ``successes_<suffix>`` / ``n_<suffix>``."""
    total = check_int(f"n_{suffix}", n, low=1)
    hits = check_int(f"successes_{suffix}", successes, low=0)
    if hits > total:
        raise invalid(f"successes_{suffix}", f"an integer <= n_{suffix} ({total})", successes)
    return hits, total


def check_table(table: Any, name: str = "table") -> NDArray[np.int64]:
    """Return a 2x2 table of non-negative integer counts as an int64 array."""
    try:
        arr = np.asarray(table, dtype=float)
    except (TypeError, ValueError) as err:
        raise invalid(name, "a 2x2 table of non-negative integer counts", table) from err
    ok = (
        arr.shape == (2, 2)
        and bool(np.all(np.isfinite(arr)))
        and bool(np.all(arr >= 0))
        and bool(np.all(arr == np.round(arr)))
    )
    if not ok:
        raise invalid(name, "a 2x2 table of non-negative integer counts", table)
    return arr.astype(np.int64)


def check_sample(name: str, values: Any, *, min_size: int = 2) -> NDArray[np.float64]:
    """Return a 1-D float array of finite numbers with at least ``min_size`` values."""
    expectation = f"a 1-D array of at least {min_size} finite numbers"
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise invalid(name, expectation, values) from err
    if arr.ndim != 1 or arr.size < min_size or not bool(np.all(np.isfinite(arr))):
        raise invalid(name, expectation, values)
    return arr


def z_quantile(confidence: float) -> float:
    """Two-sided normal quantile for a ``confidence`` level."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2.0))


def wilson_interval(successes: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval for one proportion."""
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(s_a: int, n_a: int, s_b: int, n_b: int,
                      confidence: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) for ``p_b - p_a``."""
    z = z_quantile(confidence)
    p_a, p_b = s_a / n_a, s_b / n_b
    la, ua = wilson_interval(s_a, n_a, z)
    lb, ub = wilson_interval(s_b, n_b, z)
    diff = p_b - p_a
    low = diff - math.sqrt((p_b - lb) ** 2 + (ua - p_a) ** 2)
    high = diff + math.sqrt((ub - p_b) ** 2 + (p_a - la) ** 2)
    return low, high
