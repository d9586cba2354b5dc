"""Always-valid sequential test for two proportions: peek as often as you like.

A fixed-horizon z-test checked every hour rejects a true null far more often than ``alpha``.
This module implements the **mixture sequential probability ratio test** (mSPRT) of Johari,
Koomen, Pekelis & Walsh (2017, "Peeking at A/B tests", KDD; the method behind Optimizely's
Stats Engine), equivalently the normal-mixture boundary of Howard, Ramdas, McAuliffe & Sekhon
(2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist.).

With ``d = rate_b - rate_a``, its variance ``V`` and a normal mixing distribution
``N(0, tau**2)`` over the true difference, the mixture likelihood ratio is::

    Lambda = sqrt(V / (V + tau**2)) * exp(tau**2 * d**2 / (2 * V * (V + tau**2)))

``Lambda`` is (asymptotically) a nonnegative martingale under the null, so by Ville's
inequality ``P(sup_t Lambda_t >= 1 / alpha) <= alpha``: the **always-valid p-value**
``p_t = min(1, min_{s <= t} 1 / Lambda_s)`` may be monitored continuously and the test stopped
whenever ``p_t <= alpha``. Inverting the same boundary gives the **confidence sequence**
``d ± sqrt(V (V + tau**2) / tau**2 * (2 log(1/alpha) + log(1 + tau**2 / V)))``, which covers the
true difference at all times simultaneously with probability ``1 - alpha``.

Variance plug-ins: the p-value uses the pooled null variance ``p(1-p)(1/n_a + 1/n_b)`` (as the
z-test; when it is zero both arms are identical and ``p = 1``); the confidence sequence uses
unpooled variances with rates ``(s + 1) / (n + 2)`` so that early all-success runs do not give a
zero-width interval. Both make the guarantee asymptotic (normal approximation), so a look is
only **evaluated once the smaller group holds at least** ``MIN_EXPECTED_COUNT = 10`` expected
successes and 10 expected failures at the pooled rate (``min(n_a, n_b) * min(p, 1 - p) >= 10``);
before that the p-value is 1 and the interval [-1, 1]. Skipping looks never hurts validity.
Without that gate, 95/5 splits of rare events (2 %) rejected 7 % of A/A tests; with it, every
simulated setting (rates 0.5 %-50 %, splits 50/50 to 99/1, a look after every unit) stays below
``alpha``, as the A/A simulations in the tests confirm. Intervals are clipped to [-1, 1].

**Mixing parameter** ``tau`` (standard deviation of the anticipated absolute difference): the
boundary is tightest when ``V`` is about ``tau**2 / r`` with ``r = 2 log(1/alpha) +
log(1 + r)`` (≈ 8.2 at alpha 0.05), i.e. at the sample size where the test is expected to
decide. [`sequential_tau`][mlmkit.analysis.stats.sequential_tau] computes that ``tau``
for a baseline rate and a planned size per group. The default ``tau=0.05`` is tightest around 1,600
units per group at a 50 % rate and around 600 at a 90 % rate; results depend on ``tau`` only
logarithmically. Choose ``tau`` before looking at the data — a data-dependent ``tau`` voids the
guarantee.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from mlmkit._validation import check_int, check_real, invalid
from mlmkit.analysis.stats.result import TestResult, check_alpha, check_counts

__all__ = ["SequentialTest", "sequential_path", "sequential_tau", "sequential_two_proportion_test"]

_METHOD = "mSPRT two proportions (normal mixture)"
MIN_EXPECTED_COUNT = 10.0
FloatArray = NDArray[np.float64]


def _evaluable(s_a: Any, n_a: Any, s_b: Any, n_b: Any) -> NDArray[np.bool_]:
    """Whether the normal approximation is trusted at a look (see ``MIN_EXPECTED_COUNT``)."""
    s_a, n_a, s_b, n_b = (np.asarray(x, dtype=float) for x in (s_a, n_a, s_b, n_b))
    pooled = (s_a + s_b) / (n_a + n_b)
    expected = np.minimum(n_a, n_b) * np.minimum(pooled, 1.0 - pooled)
    return np.asarray(expected >= MIN_EXPECTED_COUNT)


def _log_lr(s_a: Any, n_a: Any, s_b: Any, n_b: Any, tau2: float) -> FloatArray:
    """Log mixture likelihood ratio against ``d = 0`` (vectorised; pooled null variance).

    Zero at looks that are not yet evaluable.
    """
    s_a, n_a, s_b, n_b = (np.asarray(x, dtype=float) for x in (s_a, n_a, s_b, n_b))
    pooled = (s_a + s_b) / (n_a + n_b)
    var = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    diff = s_b / n_b - s_a / n_a
    safe = np.where(var > 0, var, 1.0)
    value = 0.5 * np.log(safe / (safe + tau2)) + tau2 * diff**2 / (2.0 * safe * (safe + tau2))
    ok = (var > 0) & _evaluable(s_a, n_a, s_b, n_b)
    return np.asarray(np.where(ok, value, 0.0), dtype=float)


def _half_width(s_a: Any, n_a: Any, s_b: Any, n_b: Any, tau2: float, alpha: float) -> FloatArray:
    """Half-width of the confidence sequence (vectorised; smoothed unpooled variance).

    Infinite at looks that are not yet evaluable.
    """
    s_a, n_a, s_b, n_b = (np.asarray(x, dtype=float) for x in (s_a, n_a, s_b, n_b))
    ra, rb = (s_a + 1.0) / (n_a + 2.0), (s_b + 1.0) / (n_b + 2.0)
    var = ra * (1.0 - ra) / n_a + rb * (1.0 - rb) / n_b
    radius = var * (var + tau2) / tau2 * (2.0 * math.log(1.0 / alpha) + np.log1p(tau2 / var))
    return np.asarray(np.where(_evaluable(s_a, n_a, s_b, n_b), np.sqrt(radius), np.inf),
                      dtype=float)


def _interval(diff: Any, half: Any) -> tuple[FloatArray, FloatArray]:
    low = np.clip(np.asarray(diff) - half, -1.0, 1.0)
    high = np.clip(np.asarray(diff) + half, -1.0, 1.0)
    return low, high


def _check_tau(tau: Any) -> float:
    return check_real("tau", tau, low=0.0, high=1.0, low_open=True)


def sequential_two_proportion_test(successes_a: int, n_a: int, successes_b: int, n_b: int, *,
                                   alpha: float = 0.05, tau: float = 0.05) -> TestResult:
    """Always-valid test of ``rate_b - rate_a`` at one look (see the module docstring).

    The p-value ``min(1, 1 / Lambda)`` is valid at any data-dependent stopping time, so it may
    be recomputed on every peek; [`SequentialTest`][mlmkit.analysis.stats.SequentialTest]
    additionally keeps the running minimum over looks. ``ci`` is the ``1 - alpha`` confidence
    sequence at this look. Until the smaller group holds ``MIN_EXPECTED_COUNT`` expected successes
    and failures the look is not evaluated (``p_value=1``, ``ci=(-1, 1)``, ``details["evaluated"]``
    False). The p-value is never below the fixed-horizon z-test's (``1/Lambda >= exp(-z**2/2) >=
    p_z``).

    Parameters
    ----------
    successes_a, n_a, successes_b, n_b : int
        Cumulative successes and trials of A and B so far.
    alpha : float
        Level of the confidence sequence and default level of ``significant()``.
    tau : float
        Standard deviation of the normal mixing distribution over the absolute difference
        (see [`sequential_tau`][mlmkit.analysis.stats.sequential_tau]); fix it before the
        experiment starts.

    Returns
    -------
    TestResult
        ``statistic`` is ``log Lambda``; ``effect = rate_b - rate_a``.

    Examples
    --------
    >>> r = sequential_two_proportion_test(850, 1000, 950, 1000)
    >>> r.significant(), round(r.effect, 3)
    (True, 0.1)
    >>> sequential_two_proportion_test(100, 1000, 110, 1000).p_value
    1.0
    """
    s_a, n_a = check_counts(successes_a, n_a, "a")
    s_b, n_b = check_counts(successes_b, n_b, "b")
    alpha = check_alpha(alpha)
    tau = _check_tau(tau)
    log_lr = float(_log_lr(s_a, n_a, s_b, n_b, tau * tau))
    half = float(_half_width(s_a, n_a, s_b, n_b, tau * tau, alpha))
    diff = s_b / n_b - s_a / n_a
    low, high = _interval(diff, half)
    return TestResult(
        statistic=log_lr, p_value=min(1.0, math.exp(-log_lr)), ci=(float(low), float(high)),
        effect=diff, method=_METHOD, alternative="two-sided", n=n_a + n_b, alpha=alpha,
        confidence=1.0 - alpha,
        details={"rate_a": s_a / n_a, "rate_b": s_b / n_b, "tau": tau, "looks": 1,
                 "evaluated": bool(_evaluable(s_a, n_a, s_b, n_b))},
    )


def sequential_tau(baseline_rate: float, n_per_group: int, *, alpha: float = 0.05) -> float:
    """Mixing ``tau`` whose confidence sequence is narrowest at ``n_per_group`` units per group.

    Minimises the half-width at ``V = 2 p (1 - p) / n``: ``tau**2 = r V`` with ``r`` the
    fixed point of ``r = 2 log(1/alpha) + log(1 + r)`` (Howard et al. 2021, eq. 3.6 analogue).

    Parameters
    ----------
    baseline_rate : float
        Expected rate, in (0, 1).
    n_per_group : int
        Planned units per group at which a decision is most expected (>= 1).
    alpha : float
        Level of the test.

    Returns
    -------
    float

    Examples
    --------
    >>> round(sequential_tau(0.5, 1000), 4)
    0.0641
    """
    p = check_alpha(baseline_rate, "baseline_rate")
    n = check_int("n_per_group", n_per_group, low=1)
    alpha = check_alpha(alpha)
    two_l = 2.0 * math.log(1.0 / alpha)
    r = two_l
    for _ in range(60):
        r = two_l + math.log1p(r)
    return math.sqrt(r * 2.0 * p * (1.0 - p) / n)


def _check_path(name: str, values: Any) -> NDArray[np.int64]:
    expectation = "a non-empty 1-D array of non-decreasing non-negative integer counts"
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise invalid(name, expectation, values) from err
    ok = arr.ndim == 1 and arr.size > 0 and bool(np.all(np.isfinite(arr)))
    ok = ok and bool(np.all(arr >= 0)) and bool(np.all(arr == np.round(arr)))
    if not ok or bool(np.any(np.diff(arr) < 0)):
        raise invalid(name, expectation, values)
    return arr.astype(np.int64)


def sequential_path(successes_a: Any, n_a: Any, successes_b: Any, n_b: Any, *,
                    alpha: float = 0.05, tau: float = 0.05) -> pl.DataFrame:
    """Evaluate the always-valid test at every look of a stream of cumulative counts.

    Parameters
    ----------
    successes_a, n_a, successes_b, n_b : array-like of int
        Cumulative counts at each look (same length, non-decreasing, ``n >= 1`` at every look),
        e.g. hourly running totals from the prediction log.
    alpha, tau : float
        As in
        [`sequential_two_proportion_test`][mlmkit.analysis.stats.sequential_two_proportion_test].

    Returns
    -------
    polars.DataFrame
        One row per look: ``look, n_a, n_b, effect, p_value`` (running minimum), ``ci_low,
        ci_high`` (running intersection of the confidence sequence; if it is ever empty, an
        event of probability <= alpha, that look's own interval is shown) and ``reject``.

    Examples
    --------
    >>> df = sequential_path([40, 90], [100, 200], [60, 130], [100, 200])
    >>> df["reject"].to_list(), round(df["effect"][-1], 2)
    ([False, True], 0.2)
    """
    arrays = [_check_path(k, v) for k, v in
              (("successes_a", successes_a), ("n_a", n_a), ("successes_b", successes_b),
               ("n_b", n_b))]
    s_a, tot_a, s_b, tot_b = arrays
    for name, arr in zip(("n_a", "successes_b", "n_b"), arrays[1:], strict=True):
        if arr.size != s_a.size:
            raise invalid(name, f"an array of the same length as successes_a ({s_a.size})",
                          arr.size)
    for s, n, suffix in ((s_a, tot_a, "a"), (s_b, tot_b, "b")):
        if np.any(n < 1):
            raise invalid(f"n_{suffix}", "counts >= 1 at every look", n.tolist())
        if np.any(s > n):
            raise invalid(f"successes_{suffix}", f"counts <= n_{suffix} at every look",
                          s.tolist())
    alpha = check_alpha(alpha)
    tau2 = _check_tau(tau) ** 2
    p = np.minimum.accumulate(np.minimum(1.0, np.exp(-_log_lr(s_a, tot_a, s_b, tot_b, tau2))))
    diff = s_b / tot_b - s_a / tot_a
    half = _half_width(s_a, tot_a, s_b, tot_b, tau2, alpha)
    here_low, here_high = _interval(diff, half)
    low = np.maximum.accumulate(here_low)
    high = np.minimum.accumulate(here_high)
    empty = low > high
    low, high = np.where(empty, here_low, low), np.where(empty, here_high, high)
    return pl.DataFrame({
        "look": np.arange(1, s_a.size + 1), "n_a": tot_a, "n_b": tot_b, "effect": diff,
        "p_value": p, "ci_low": low, "ci_high": high, "reject": p <= alpha,
    })


class SequentialTest:
    """Streaming always-valid two-proportion test: feed new outcomes, peek any time.

    Keeps cumulative counts, the running minimum of the always-valid p-value and the running
    intersection of the confidence sequence. A look is evaluated on every update once both
    groups have at least one unit.

    Parameters
    ----------
    alpha : float
        Level of the test (default of
        [`result`][mlmkit.analysis.stats.SequentialTest.result]'s ``significant()``).
    tau : float
        Mixing standard deviation, fixed for the whole experiment (see
        [`sequential_tau`][mlmkit.analysis.stats.sequential_tau]).

    Examples
    --------
    >>> test = SequentialTest(alpha=0.05)
    >>> _ = test.update(40, 100, 60, 100).update(50, 100, 70, 100)
    >>> test.rejected, test.looks, round(test.result().effect, 2)
    (True, 2, 0.2)
    """

    def __init__(self, *, alpha: float = 0.05, tau: float = 0.05) -> None:
        self._alpha = check_alpha(alpha)
        self._tau = _check_tau(tau)
        self.reset()

    def reset(self) -> SequentialTest:
        """Forget all data and looks; returns ``self``."""
        self._counts = [0, 0, 0, 0]  # successes_a, n_a, successes_b, n_b
        self._p = 1.0
        self._ci: tuple[float, float] = (-1.0, 1.0)
        self._looks = 0
        return self

    def update(self, successes_a: int, n_a: int, successes_b: int, n_b: int) -> SequentialTest:
        """Add new outcomes observed since the last update (increments) and take a look."""
        new_a = (check_int("successes_a", successes_a, low=0), check_int("n_a", n_a, low=0))
        new_b = (check_int("successes_b", successes_b, low=0), check_int("n_b", n_b, low=0))
        for (hits, total), suffix in ((new_a, "a"), (new_b, "b")):
            if hits > total:
                raise invalid(f"successes_{suffix}", f"an integer <= n_{suffix} ({total})", hits)
        for i, value in enumerate((*new_a, *new_b)):
            self._counts[i] += value
        self._look()
        return self

    def update_totals(self, successes_a: int, n_a: int, successes_b: int,
                      n_b: int) -> SequentialTest:
        """Set cumulative totals (each must be >= the previous total) and take a look."""
        new = [check_int(k, v, low=0) for k, v in (("successes_a", successes_a), ("n_a", n_a),
                                                     ("successes_b", successes_b), ("n_b", n_b))]
        names = ("successes_a", "n_a", "successes_b", "n_b")
        for name, old, value in zip(names, self._counts, new, strict=True):
            if value < old:
                raise invalid(name, f"a cumulative total >= the previous one ({old})", value)
        increments = [value - old for old, value in zip(self._counts, new, strict=True)]
        return self.update(*increments)

    def _look(self) -> None:
        s_a, n_a, s_b, n_b = self._counts
        if n_a == 0 or n_b == 0:
            return
        res = sequential_two_proportion_test(s_a, n_a, s_b, n_b, alpha=self._alpha,
                                             tau=self._tau)
        self._looks += 1
        self._p = min(self._p, res.p_value)
        here = res.ci if res.ci is not None else self._ci
        low, high = max(self._ci[0], here[0]), min(self._ci[1], here[1])
        self._ci = (low, high) if low <= high else here

    @property
    def p_value(self) -> float:
        """Running minimum of the always-valid p-value (1.0 before the first look)."""
        return self._p

    @property
    def ci(self) -> tuple[float, float]:
        """Running intersection of the ``1 - alpha`` confidence sequence for ``rate_b - rate_a``."""
        return self._ci

    @property
    def looks(self) -> int:
        """Number of evaluated looks."""
        return self._looks

    @property
    def rejected(self) -> bool:
        """``True`` once the p-value has reached ``alpha`` (stays ``True``)."""
        return self._p <= self._alpha

    def result(self) -> TestResult:
        """Return the current verdict as a `TestResult` (running p-value and interval)."""
        s_a, n_a, s_b, n_b = self._counts
        ra = s_a / n_a if n_a else math.nan
        rb = s_b / n_b if n_b else math.nan
        log_lr = float(_log_lr(s_a, n_a, s_b, n_b, self._tau**2)) if n_a and n_b else 0.0
        return TestResult(
            statistic=log_lr, p_value=self._p, ci=self._ci,
            effect=rb - ra if n_a and n_b else None, method=_METHOD, alternative="two-sided",
            n=n_a + n_b, alpha=self._alpha, confidence=1.0 - self._alpha,
            details={"rate_a": ra, "rate_b": rb, "tau": self._tau, "looks": self._looks},
        )
