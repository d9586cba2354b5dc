"""Compare two model versions on one metric from sufficient statistics (confusion counts).

[`compare_metric`][mlmkit.analysis.experiment.compare_metric] picks the test that fits the metric
and the design, so services never
choose statistics themselves:

============================  ==================================  ==========================
metric                        independent arms (A/B split)        paired (shadow mode)
============================  ==================================  ==========================
accuracy                      pooled two-proportion z-test        McNemar (exact binomial)
precision, recall,            pooled two-proportion z-test on     same, on the paired rows
specificity                   the metric's own denominator        (see note)
f1_score, balanced_accuracy   bootstrap of the difference         bootstrap (multinomial)
                              (multinomial resamples of cells)
roc_auc                       bootstrap of per-bin histograms     bootstrap (histograms)
============================  ==================================  ==========================

With ``sequential=True`` proportion metrics use the always-valid mSPRT
([`sequential_two_proportion_test`][mlmkit.analysis.stats.sequential_two_proportion_test]),
whose p-value stays valid however often a running experiment is looked at; other metrics refuse
sequential mode.

Note on paired data and metrics other than accuracy: only accuracy has a paired test here;
for the others the two arms' counts on the same rows are compared as if independent, which is
conservative when the versions' errors are positively correlated (the usual case).

Every result is oriented **B minus A** (``effect = metric_b - metric_a``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlmkit._validation import check_choice, check_int, invalid
from mlmkit.analysis.metrics import _kernels
from mlmkit.analysis.metrics.intervals import bootstrap_counts, bootstrap_histogram
from mlmkit.analysis.metrics.summaries import variance_from_sums
from mlmkit.analysis.stats.paired import mcnemar_table
from mlmkit.analysis.stats.proportions import two_proportion_ztest
from mlmkit.analysis.stats.result import TestResult, check_alpha
from mlmkit.analysis.stats.sample_size import required_sample_size
from mlmkit.analysis.stats.sequential import sequential_two_proportion_test
from mlmkit.catalogue import Kind, Significance, Task, Use, proportion, select

__all__ = [
    "BOOTSTRAP_METRICS",
    "RATE_METRICS",
    "TASK_METRICS",
    "compare_metric",
    "metric_value",
    "required_sample_size_for_lift",
    "required_sample_size_for_mean",
    "sequential_mean_test",
]

Counts = Sequence[int]  # (tp, fp, tn, fn)

#: The binary classifier's experiment metrics compared from confusion counts (this module).
RATE_METRICS = select(use=Use.EXPERIMENT, test=Significance.PROPORTION, task=Task.BINARY)
BOOTSTRAP_METRICS = select(use=Use.EXPERIMENT, test=Significance.BOOTSTRAP, task=Task.BINARY)
#: What an A/B test can compare per model task (``mlmkit.services.experiments.task_ab`` runs
#: the other tasks' tests: proportions, Welch from sums, bootstrap of matrices or rows).
TASK_METRICS: dict[Task, tuple[str, ...]] = {
    Task.BINARY: RATE_METRICS + BOOTSTRAP_METRICS,
    Task.MULTICLASS: ("accuracy", *select(use=Use.EXPERIMENT, kind=Kind.CLASS_COUNT)),
    Task.REGRESSION: select(use=Use.EXPERIMENT, kind=Kind.REGRESSION),
    Task.SCORE_ONLY: select(use=Use.EXPERIMENT, kind=Kind.WINDOW, task=Task.SCORE_ONLY),
}


def _rate_cells(metric: str, counts: Counts) -> tuple[int, int]:
    cells = dict(zip(("tp", "fp", "tn", "fn"), (int(c) for c in counts), strict=True))
    successes, trials = proportion(metric, cells)
    return int(successes), int(trials)


def _check_counts(name: str, counts: Any) -> tuple[int, int, int, int]:
    try:
        values = tuple(check_int(name, c, low=0) for c in counts)
    except TypeError as err:
        raise invalid(name, "four non-negative counts (tp, fp, tn, fn)", counts) from err
    if len(values) != 4:
        raise invalid(name, "four non-negative counts (tp, fp, tn, fn)", counts)
    return values


def metric_value(metric: str, counts: Counts) -> float:
    """A count metric from ``(tp, fp, tn, fn)`` (NaN when undefined, without a warning).

    Examples
    --------
    >>> metric_value("accuracy", (40, 10, 45, 5)), metric_value("recall", (0, 1, 1, 0))
    (0.85, nan)
    """
    cells = _check_counts("counts", counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(_kernels.count_metrics(*cells)[metric])


def _bootstrap_p(diffs: np.ndarray) -> float:
    finite = diffs[~np.isnan(diffs)]
    if finite.size == 0:
        return 1.0
    below = int(np.count_nonzero(finite <= 0)) + 1
    above = int(np.count_nonzero(finite >= 0)) + 1
    return min(1.0, 2.0 * min(below, above) / (finite.size + 1))


def _bootstrap(metric: str, a: tuple[int, ...], b: tuple[int, ...],
               histograms: Sequence[Any] | None, n_resamples: int, seed: int,
               confidence: float) -> TestResult:
    rng = np.random.default_rng(seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "roc_auc":
            if histograms is None or len(histograms) != 4:
                raise invalid("histograms", "(pos_a, neg_a, pos_b, neg_b) score histograms for "
                              "roc_auc", histograms)
            pos_a, neg_a, pos_b, neg_b = (np.asarray(h, dtype=np.int64) for h in histograms)
            est_a = float(_kernels.hist_auc(pos_a, neg_a))
            est_b = float(_kernels.hist_auc(pos_b, neg_b))
            if math.isnan(est_a) or math.isnan(est_b):
                draws = np.full(n_resamples, np.nan)
            else:
                draws = (bootstrap_histogram(pos_b, neg_b, _kernels.hist_auc, n_resamples, rng)
                         - bootstrap_histogram(pos_a, neg_a, _kernels.hist_auc, n_resamples,
                                               rng))
            values = (est_a, est_b)
        else:
            values = (float(_kernels.count_metrics(*a)[metric]),
                      float(_kernels.count_metrics(*b)[metric]))
            draws = (bootstrap_counts(b, n_resamples, rng)[metric]  # type: ignore[arg-type]
                     - bootstrap_counts(a, n_resamples, rng)[metric])  # type: ignore[arg-type]
    finite = draws[~np.isnan(draws)]
    effect = values[1] - values[0]
    if finite.size:
        tail = (1.0 - confidence) / 2.0
        low, high = (float(x) for x in np.quantile(finite, [tail, 1.0 - tail]))
    else:
        low = high = math.nan
    return TestResult(
        statistic=effect, p_value=_bootstrap_p(draws), ci=(low, high), effect=effect,
        method=f"bootstrap difference of {metric} (multinomial resamples)",
        alternative="two-sided", n=sum(a) + sum(b), confidence=confidence,
        details={"value_a": values[0], "value_b": values[1], "n_resamples": n_resamples,
                 "seed": seed},
    )


def compare_metric(metric: str, counts_a: Counts, counts_b: Counts, *, alpha: float = 0.05,
                   paired_table: Any = None, sequential: bool = False, tau: float = 0.05,
                   histograms: Sequence[Any] | None = None, n_resamples: int = 2000,
                   seed: int = 0) -> TestResult:
    """Test ``metric_b - metric_a`` from confusion counts with the test that fits (see above).

    Parameters
    ----------
    metric : str
        One of `RATE_METRICS` or `BOOTSTRAP_METRICS`.
    counts_a, counts_b : sequence of 4 int
        Labelled confusion counts ``(tp, fp, tn, fn)`` of A and B.
    alpha : float
        Significance level; intervals have confidence ``1 - alpha``.
    paired_table : array-like of shape (2, 2), optional
        Shadow mode: ``[[both correct, only A correct], [only B correct, both wrong]]`` over
        the units both versions scored. Used by ``accuracy`` (McNemar).
    sequential : bool
        Always-valid mSPRT for proportion metrics (unpaired).
    tau : float
        Mixing standard deviation of the sequential test (fix it before the experiment).
    histograms : sequence of 4 arrays, optional
        ``(pos_a, neg_a, pos_b, neg_b)`` per-score-bin label counts, required for ``roc_auc``.
    n_resamples, seed : int
        Bootstrap size and seed.

    Returns
    -------
    TestResult
        ``details`` has ``value_a`` and ``value_b``.

    Examples
    --------
    >>> r = compare_metric("accuracy", (2000, 200, 2250, 550), (2300, 100, 2450, 150))
    >>> r.method, round(r.effect, 2), r.p_value < 1e-6
    ('two-proportion z-test (pooled)', 0.1, True)
    >>> compare_metric("f1_score", (40, 10, 45, 5), (40, 10, 45, 5)).p_value
    1.0
    """
    metric = check_choice("metric", metric, RATE_METRICS + BOOTSTRAP_METRICS)
    a = _check_counts("counts_a", counts_a)
    b = _check_counts("counts_b", counts_b)
    alpha = check_alpha(alpha)
    n_resamples = check_int("n_resamples", n_resamples, low=100)
    seed = check_int("seed", seed, low=0)
    if metric in BOOTSTRAP_METRICS:
        if sequential:
            raise invalid("sequential", f"False for {metric!r} (sequential mode covers "
                          f"{', '.join(RATE_METRICS)})", sequential)
        return _bootstrap(metric, a, b, histograms, n_resamples, seed, 1.0 - alpha)
    if metric == "accuracy" and paired_table is not None and not sequential:
        res = mcnemar_table(paired_table, exact=True, confidence=1.0 - alpha)
        return _with_values(res, metric, a, b)
    s_a, n_a = _rate_cells(metric, a)
    s_b, n_b = _rate_cells(metric, b)
    if n_a == 0 or n_b == 0:
        nan = math.nan
        return TestResult(statistic=nan, p_value=1.0, ci=(nan, nan), effect=nan,
                          method=f"no data for {metric} in one arm", alternative="two-sided",
                          n=n_a + n_b, details={"value_a": _ratio(s_a, n_a),
                                                "value_b": _ratio(s_b, n_b)})
    if sequential:
        res = sequential_two_proportion_test(s_a, n_a, s_b, n_b, alpha=alpha, tau=tau)
    else:
        res = two_proportion_ztest(s_a, n_a, s_b, n_b, confidence=1.0 - alpha)
    return _with_values(res, metric, a, b)


def _ratio(s: int, n: int) -> float:
    return s / n if n else math.nan


def _with_values(res: TestResult, metric: str, a: tuple[int, ...], b: tuple[int, ...]
                 ) -> TestResult:
    import dataclasses

    details = dict(res.details)
    details["value_a"] = metric_value(metric, a)
    details["value_b"] = metric_value(metric, b)
    return dataclasses.replace(res, details=details)


def required_sample_size_for_lift(baseline_rate: float, relative_lift: float, *,
                                  alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Units per arm to detect a *relative* lift of a rate (``None`` when undefined).

    The absolute effect is ``baseline_rate * relative_lift``, capped so the target stays
    below 1; ``None`` for a degenerate baseline (0 or 1) or a zero lift.

    Examples
    --------
    >>> required_sample_size_for_lift(0.85, 0.05)
    969
    """
    if not 0.0 < baseline_rate < 1.0 or relative_lift <= 0:
        return None
    effect = min(baseline_rate * relative_lift, (1.0 - baseline_rate) * 0.999)
    if effect <= 0:
        return None
    return required_sample_size(baseline_rate, effect, alpha=alpha, power=power)


def required_sample_size_for_mean(mean_a: float, std: float, relative_change: float, *,
                                  alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Units per arm to detect a *relative* change of a mean (MAE: mean ``|e|``), two-sided.

    Cohen's ``d = |mean_a * relative_change| / std`` solved with statsmodels'
    ``TTestIndPower`` (equal arms); ``None`` when undefined (zero mean, spread or change).

    Examples
    --------
    >>> required_sample_size_for_mean(10.0, 8.0, 0.05)
    4020
    """
    if not (math.isfinite(mean_a) and math.isfinite(std)) or std <= 0 or relative_change <= 0 \
            or mean_a == 0:
        return None
    alpha = check_alpha(alpha)
    power = check_alpha(power, "power")
    from statsmodels.stats.power import TTestIndPower

    d = abs(mean_a * relative_change) / std
    n = TTestIndPower().solve_power(effect_size=d, nobs1=None, alpha=alpha, power=power,
                                    ratio=1.0, alternative="two-sided")
    return math.ceil(float(n))


#: Looks of `sequential_mean_test` wait for this many rows per arm (normal approximation).
MIN_MEAN_ROWS = 30


def sequential_mean_test(moments_a: Sequence[float], moments_b: Sequence[float], *,
                         alpha: float = 0.05, tau: float = 0.1) -> TestResult:
    """Always-valid mSPRT of ``mean_b - mean_a`` from each arm's ``(n, Σx, Σx²)``.

    The normal-mixture boundary of `sequential_two_proportion_test` with the Welch variance
    ``V = s_a²/n_a + s_b²/n_b`` and a mixing standard deviation ``tau`` expressed in units of
    the pooled standard deviation (a scale-free effect size, like Cohen's d), so one default
    fits MAE in dollars or in milliseconds. ``p = min(1, 1/Lambda)`` may be recomputed at every
    look; a look with fewer than ``MIN_MEAN_ROWS`` rows in an arm is not evaluated (p = 1).

    Examples
    --------
    >>> r = sequential_mean_test((400, 400.0, 800.0), (400, 600.0, 1300.0))
    >>> round(r.effect, 2), r.p_value < 0.05
    (0.5, True)
    """
    n_a, sum_a, ss_a = (float(x) for x in moments_a)
    n_b, sum_b, ss_b = (float(x) for x in moments_b)
    alpha = check_alpha(alpha)
    mean_a = sum_a / n_a if n_a else math.nan
    mean_b = sum_b / n_b if n_b else math.nan
    diff = mean_b - mean_a
    evaluated = min(n_a, n_b) >= MIN_MEAN_ROWS
    log_lr, var = 0.0, math.nan
    if evaluated:
        var_a = variance_from_sums(int(n_a), sum_a, ss_a)
        var_b = variance_from_sums(int(n_b), sum_b, ss_b)
        # a spread rounding took (variance_from_sums warned: NaN) is no evidence either way
        evaluated = not (math.isnan(var_a) or math.isnan(var_b))
    if evaluated:
        var = var_a / n_a + var_b / n_b
        pooled = ((n_a - 1) * var_a + (n_b - 1) * var_b) / (n_a + n_b - 2)
        tau2 = (tau * tau) * pooled
        if var > 0 and tau2 > 0:
            log_lr = 0.5 * math.log(var / (var + tau2)) + tau2 * diff * diff / (
                2.0 * var * (var + tau2))
        elif diff != 0:
            log_lr = math.inf
    return TestResult(
        statistic=log_lr, p_value=min(1.0, math.exp(-log_lr)), ci=(math.nan, math.nan),
        effect=diff, method="mSPRT difference of means (normal mixture)",
        alternative="two-sided", n=int(n_a + n_b), alpha=alpha, confidence=1.0 - alpha,
        details={"value_a": mean_a, "value_b": mean_b, "tau": tau, "variance": var,
                 "evaluated": evaluated})
