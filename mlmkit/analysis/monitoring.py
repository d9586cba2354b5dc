"""Small pure helpers for performance monitoring: drop severity and one-sample proportion tests.

Used by [`PerformanceMonitor`][mlmkit.services.monitor.PerformanceMonitor]; usable on their own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats as _st

from mlmkit._validation import check_int, check_probability, check_real, invalid
from mlmkit.analysis.metrics.intervals import wilson_bounds
from mlmkit.analysis.stats.result import TestResult
from mlmkit.catalogue import Kind, Significance, proportion, select

__all__ = ["SEVERITIES", "bucket_metrics", "drop_severity", "one_proportion_test", "relative_drop"]

#: Degradation verdicts: `drop_severity` gives the first three; ``"insufficient"`` is the
#: monitor's verdict when it cannot tell (too few labels, no value on one side).
SEVERITIES = ("ok", "warning", "critical", "insufficient")


def _real_or_nan(name: str, value: float) -> float:
    """``value`` as a float: NaN (nothing to judge) and infinities (an overflowed metric) too."""
    if isinstance(value, float) and math.isnan(value):
        return math.nan
    return check_real(name, value, infinite=True)


def relative_drop(baseline: float, current: float) -> float:
    """``(baseline - current) / baseline``: the fraction of the baseline lost (NaN if 0 / NaN).

    Examples
    --------
    >>> relative_drop(0.9, 0.72)
    0.2
    """
    base, cur = _real_or_nan("baseline", baseline), _real_or_nan("current", current)
    if math.isnan(base) or math.isnan(cur) or base == 0:
        return math.nan
    return round((base - cur) / base, 12)


def drop_severity(drop: float, threshold: float) -> str:
    """``"ok"`` below ``threshold``, ``"warning"`` from it, ``"critical"`` from twice it.

    NaN drops are ``"ok"`` (nothing to judge).

    Examples
    --------
    >>> drop_severity(0.04, 0.05), drop_severity(0.05, 0.05), drop_severity(0.2, 0.05)
    ('ok', 'warning', 'critical')
    """
    value = _real_or_nan("drop", drop)
    limit = check_real("threshold", threshold, low=0.0, low_open=True)
    if math.isnan(value) or value < limit:
        return "ok"
    return "critical" if value >= 2.0 * limit else "warning"


def one_proportion_test(successes: int, n: int, p0: float, *,
                        alternative: str = "less") -> TestResult:
    """Exact binomial test of a rate ``successes / n`` against a fixed ``p0``.

    ``alternative="less"`` asks whether the true rate is below ``p0`` (a drop). Equals
    ``scipy.stats.binomtest``.

    Examples
    --------
    >>> r = one_proportion_test(80, 100, 0.9)
    >>> round(r.p_value, 4), round(r.effect, 2)
    (0.002, -0.1)
    """
    n = check_int("n", n, low=1)
    successes = check_int("successes", successes, low=0, high=n)
    p0 = check_probability("p0", p0)
    if alternative not in ("two-sided", "less", "greater"):
        raise invalid("alternative", "'two-sided', 'less' or 'greater'", alternative)
    res = _st.binomtest(successes, n, p0, alternative=alternative)
    ci = res.proportion_ci(confidence_level=0.95, method="wilson")
    return TestResult(statistic=successes / n, p_value=float(res.pvalue),
                      ci=(float(ci.low), float(ci.high)), effect=successes / n - p0,
                      method="exact binomial test", alternative=alternative, n=n,
                      confidence=0.95, details={"p0": p0})


def bucket_metrics(tp: Any, fp: Any, tn: Any, fn: Any, *,
                   confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Vectorised count metrics with Wilson intervals for many groups (e.g. trend buckets).

    Returns arrays ``accuracy``, ``precision``, ``recall``, ``specificity`` (each with
    ``*_low`` / ``*_high``, Wilson, equal to
    [`mlmkit.analysis.metrics.wilson_interval`][mlmkit.analysis.metrics.wilson_interval])
    and ``f1_score``; NaN where a metric is 0/0 (no warning: empty buckets are expected).

    Examples
    --------
    >>> out = bucket_metrics([40, 0], [10, 0], [45, 0], [5, 0])
    >>> float(out["accuracy"][0]), bool(np.isnan(out["accuracy"][1]))
    (0.85, True)
    """
    conf = check_probability("confidence", confidence, open_interval=True)
    c = [np.asarray(v, dtype=np.float64) for v in (tp, fp, tn, fn)]
    if any(v.ndim != 1 or v.shape != c[0].shape or (v < 0).any() for v in c):
        raise invalid("counts", "four 1-D arrays of non-negative counts of equal length",
                      [v.shape for v in c])
    t_p, f_p, t_n, f_n = c
    cells = {"tp": t_p, "fp": f_p, "tn": t_n, "fn": f_n}
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in select(kind=Kind.COUNT, test=Significance.PROPORTION):
            s, n = proportion(name, cells)
            low, high = wilson_bounds(s, n, conf)
            out[name] = np.where(n > 0, s / n, np.nan)
            out[f"{name}_low"] = np.where(n > 0, low, np.nan)
            out[f"{name}_high"] = np.where(n > 0, high, np.nan)
        denom = 2 * t_p + f_p + f_n
        out["f1_score"] = np.where(denom > 0, 2 * t_p / denom, np.nan)
    return out
