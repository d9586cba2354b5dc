"""A/B tests of multiclass, regression and score-only models: the catalogue's test per metric.

`task_comparison` is what [`run_test`][mlmkit.services.experiments.ABTestingService.run_test]
runs for a model whose registered task is not binary. Arms are the versions' ``served`` rows;
each metric is compared with the test its catalogue entry names (effects **B minus A**):

=============  ==============================  ==========================================
task           metric                          test (data read)
=============  ==============================  ==========================================
multiclass     accuracy                        two-proportion z-test on correct / labelled
                                               (KxK confusion per arm; mSPRT if sequential)
multiclass     f1_macro, precision_macro,      bootstrap: multinomial resamples of each
               recall_macro, f1_weighted       arm's confusion matrix (no rows needed)
regression     mae, mape                       Welch t-test from sums (``|e|``, ``|e|/|y|``)
regression     rmse, r2                        row bootstrap of (actual, prediction) pairs,
                                               at most ``max_rows`` rows per arm (a seeded
                                               uniform subsample beyond, said in the notes)
score-only     flag_rate                       two-proportion z-test on flagged / rows
=============  ==============================  ==========================================

Sample sizes: for a proportion, Cohen's h (as binary); for a Welch metric, Cohen's d from A's
mean and standard deviation with statsmodels' ``TTestIndPower``; a bootstrap metric has no
closed form (``None``). SRM uses every served row of both arms, labelled or not.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeAlias, TypedDict

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, invalid
from mlmkit.analysis.experiment import (
    TASK_METRICS,
    required_sample_size_for_lift,
    required_sample_size_for_mean,
)
from mlmkit.analysis.metrics import RegressionSums, regression_metrics
from mlmkit.analysis.metrics.multiclass.cells import ClassCells, as_cells
from mlmkit.analysis.metrics.multiclass.confusion import cell_metrics
from mlmkit.analysis.metrics.summaries import variance_from_sums
from mlmkit.analysis.stats import (
    TestResult,
    sample_ratio_mismatch,
    sequential_two_proportion_test,
    two_proportion_ztest,
)
from mlmkit.analysis.stats.tasks import (
    bootstrap_class_metric,
    bootstrap_regression_metric,
    regression_welch,
)
from mlmkit.catalogue import Significance, Task, Use, select, spec
from mlmkit.services.experiments.result import ABTestResult, decide
from mlmkit.services.monitor.tasks import task_engine
from mlmkit.store.engines import TaskStatisticsEngine
from mlmkit.values import ABTestConfig, TimeRange

if TYPE_CHECKING:
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = ["DEFAULT_MAX_ROWS", "TaskComparison", "compare_aggregates", "experiment_metrics",
           "run_task_test", "task_comparison"]

_Floats: TypeAlias = "np.ndarray[tuple[int], np.dtype[np.float64]]"
Adjust: TypeAlias = Callable[[dict[str, TestResult], list[str], float], dict[str, TestResult]]
#: Rows per arm the regression bootstrap reads at most (RMSE, R²).
DEFAULT_MAX_ROWS = 200_000


class TaskComparison(TypedDict):
    """What `task_comparison` found: tests per metric, arm sizes, sample size, notes."""

    tests: dict[str, TestResult]
    n_a: int
    n_b: int
    achieved: int
    required: int | None
    notes: list[str]


def experiment_metrics(task: Task, primary: str, secondary: object, sequential: bool
                       ) -> list[str]:
    """The metrics a test of a ``task`` model compares, primary first (or a ValidationError).

    ``secondary`` ``None`` means the task's default: binary models the headline metrics, the
    other tasks every other experiment metric of the task.
    """
    allowed = TASK_METRICS[task]
    if primary not in allowed:
        raise invalid("primary_metric", f"one of {', '.join(allowed)} for a {task} model",
                      primary)
    if secondary is None:
        secondary = select(use=Use.HEADLINE) if task is Task.BINARY else allowed
    if isinstance(secondary, str) or not isinstance(secondary, Iterable):
        raise invalid("secondary_metrics", "a list of metric names", secondary)
    names = [check_choice("secondary_metrics", m, allowed) for m in secondary]
    rates = tuple(m for m in allowed if spec(m).test is Significance.PROPORTION)
    if sequential and primary not in rates:
        raise invalid("sequential", f"False for primary_metric {primary!r} (sequential mode "
                      f"covers {', '.join(rates)})", sequential)
    return [primary, *[m for m in dict.fromkeys(names) if m != primary]]


def _with(res: TestResult, value_a: float, value_b: float, **extra: object) -> TestResult:
    import dataclasses

    return dataclasses.replace(res, details={**res.details, "value_a": float(value_a),
                                             "value_b": float(value_b), **extra})


def _no_data(metric: str, value_a: float, value_b: float, n: int) -> TestResult:
    nan = math.nan
    return TestResult(statistic=nan, p_value=1.0, ci=(nan, nan), effect=nan,
                      method=f"no data for {metric} in one arm", alternative="two-sided", n=n,
                      details={"value_a": value_a, "value_b": value_b})


def _proportion(metric: str, s_a: int, n_a: int, s_b: int, n_b: int, alpha: float,
                sequential: bool, tau: float) -> TestResult:
    ra = s_a / n_a if n_a else math.nan
    rb = s_b / n_b if n_b else math.nan
    if not (n_a and n_b):
        return _no_data(metric, ra, rb, n_a + n_b)
    if sequential:
        res = sequential_two_proportion_test(s_a, n_a, s_b, n_b, alpha=alpha, tau=tau)
    else:
        res = two_proportion_ztest(s_a, n_a, s_b, n_b, confidence=1.0 - alpha)
    return _with(res, ra, rb, successes_a=s_a, successes_b=s_b)


def _rate_size(rate: float, lift: float, alpha: float, power: float) -> int | None:
    return None if math.isnan(rate) else required_sample_size_for_lift(rate, lift, alpha=alpha,
                                                                      power=power)


def task_comparison(engine: object, task: Task, config: ABTestConfig,
                    time_range: TimeRange | None, metrics: Sequence[str], *,
                    sequential: bool, tau: float, power: float, n_resamples: int, seed: int,
                    max_rows: int = DEFAULT_MAX_ROWS) -> TaskComparison:
    """Compare ``config``'s versions of a non-binary model on ``metrics`` (first: primary)."""
    return compare_aggregates(task_engine(engine), task, config, time_range, metrics,
                              sequential=sequential, tau=tau, power=power,
                              n_resamples=n_resamples, seed=seed, max_rows=max_rows)


def compare_aggregates(eng: TaskStatisticsEngine, task: Task, config: ABTestConfig,
                       time_range: TimeRange | None, metrics: Sequence[str], *,
                       sequential: bool, tau: float, power: float, n_resamples: int, seed: int,
                       max_rows: int = DEFAULT_MAX_ROWS) -> TaskComparison:
    """`task_comparison` over ``eng``'s aggregates as given (one segment's, for instance).

    Reads ``class_confusion``, ``regression_sums`` or ``score_totals`` (and the pairs of a
    regression bootstrap metric) with ``versions=[a, b]``.
    """
    args = (eng, config, time_range, metrics, sequential, tau, power, n_resamples, seed)
    if task is Task.MULTICLASS:
        return _multiclass(*args)
    if task is Task.REGRESSION:
        return _regression(*args, max_rows)
    if task is Task.SCORE_ONLY:
        return _score(*args)
    raise invalid("task", "multiclass, regression or score-only", task)


def _versions(config: ABTestConfig) -> tuple[str, str]:
    return str(config.version_a), str(config.version_b)


# ---------------------------------------------------------------------- multiclass
def _cells(frame: pl.DataFrame, a: str, b: str) -> tuple[ClassCells, ClassCells]:
    """Each version's labelled cells on the classes of both (no K x K matrix)."""
    labelled = frame.filter(pl.col("actual").is_not_null())
    labels = sorted(set(labelled["actual"].to_list())
                    | set(labelled["predicted"].to_list())) or [0]  # none: no cells at all
    ca, cb = (as_cells(labelled.filter(pl.col("version") == v), labels) for v in (a, b))
    return ca, cb


def _multiclass(eng: TaskStatisticsEngine, config: ABTestConfig, span: TimeRange | None,
                metrics: Sequence[str], sequential: bool, tau: float, power: float,
                n_resamples: int, seed: int) -> TaskComparison:
    a, b = _versions(config)
    alpha = config.significance_level
    frame = eng.class_confusion(config.model_name, versions=[a, b], time_range=span)
    served = {v: int(frame.filter(pl.col("version") == v)["count"].sum() or 0) for v in (a, b)}
    ca, cb = _cells(frame, a, b)
    la, lb = ca.n, cb.n
    tests: dict[str, TestResult] = {}
    for metric in metrics:
        if metric == "accuracy":
            tests[metric] = _proportion(metric, int(ca.totals()[0].sum()), la,
                                        int(cb.totals()[0].sum()), lb, alpha, sequential, tau)
        elif not (la and lb):
            tests[metric] = _no_data(metric, math.nan, math.nan, la + lb)
        else:
            values = [cell_metrics(c)[metric] for c in (ca, cb)]
            res = bootstrap_class_metric(ca, cb, metric=metric, n_resamples=n_resamples,
                                         confidence=1.0 - alpha, seed=seed)
            tests[metric] = _with(res, values[0], values[1])
    required = None
    if metrics[0] == "accuracy":
        required = _rate_size(tests["accuracy"].details["value_a"],
                              config.minimum_improvement, alpha, power)
    return {"tests": tests, "n_a": served[a], "n_b": served[b], "achieved": min(la, lb),
            "required": required, "notes": []}


# ---------------------------------------------------------------------- regression
def _sums(frame: pl.DataFrame, version: str) -> tuple[int, RegressionSums | None]:
    part = frame.filter(pl.col("version") == version)
    if not part.height:
        return 0, None
    row = part.row(0, named=True)
    if not row["n"]:
        return int(row["total"]), None
    return int(row["total"]), RegressionSums.from_row(row)


def _rows(eng: TaskStatisticsEngine, config: ABTestConfig, span: TimeRange | None,
          max_rows: int, seed: int, notes: list[str]) -> dict[str, tuple[_Floats, _Floats]]:
    a, b = _versions(config)
    pairs = eng.regression_pairs(config.model_name, versions=[a, b], time_range=span)
    rng = np.random.default_rng(seed)
    out = {}
    for version in (a, b):
        part = pairs.filter(pl.col("version") == version)
        counts = part["count"].to_numpy()
        y = np.repeat(part["actual"].to_numpy(), counts)
        p = np.repeat(part["predicted"].to_numpy(), counts)
        if y.size > max_rows:
            keep = np.sort(rng.choice(y.size, size=max_rows, replace=False))
            notes.append(f"The bootstrap of version {version} used a seeded uniform sample of "
                         f"{max_rows} of its {y.size} labelled rows (max_rows).")
            y, p = y[keep], p[keep]
        out[version] = (y, p)
    return out


def _regression(eng: TaskStatisticsEngine, config: ABTestConfig, span: TimeRange | None,
                metrics: Sequence[str], sequential: bool, tau: float, power: float,
                n_resamples: int, seed: int, max_rows: int) -> TaskComparison:
    del sequential, tau  # refused before (no sequential test of these metrics)
    a, b = _versions(config)
    alpha = config.significance_level
    frame = eng.regression_sums(config.model_name, versions=[a, b], time_range=span)
    (total_a, sums_a), (total_b, sums_b) = _sums(frame, a), _sums(frame, b)
    notes: list[str] = []
    tests: dict[str, TestResult] = {}
    rows = None
    for metric in metrics:
        value = _regression_value(metric, sums_a), _regression_value(metric, sums_b)
        if sums_a is None or sums_b is None or sums_a.n < 2 or sums_b.n < 2:
            tests[metric] = _no_data(metric, *value, 0)
        elif spec(metric).test is Significance.WELCH:
            res = regression_welch(sums_a, sums_b, metric=metric, confidence=1.0 - alpha)
            tests[metric] = _with(res, *value)
        else:
            rows = rows or _rows(eng, config, span, max_rows, seed, notes)
            res = bootstrap_regression_metric(*rows[a], *rows[b], metric=metric,
                                              n_resamples=n_resamples,
                                              confidence=1.0 - alpha, seed=seed)
            tests[metric] = _with(res, *value)
    required = None
    primary = metrics[0]
    if sums_a is not None and sums_a.n >= 2 and spec(primary).test is Significance.WELCH:
        mean = _regression_value(primary, sums_a)
        n, total, squares = _moments(primary, sums_a)
        std = math.sqrt(variance_from_sums(n, total, squares))
        required = required_sample_size_for_mean(mean, std, config.minimum_improvement,
                                                 alpha=alpha, power=power)
    achieved = min(0 if s is None else s.n for s in (sums_a, sums_b))
    return {"tests": tests, "n_a": total_a, "n_b": total_b, "achieved": achieved,
            "required": required, "notes": notes}


def _moments(metric: str, sums: RegressionSums) -> tuple[int, float, float]:
    if metric == "mae":
        return sums.n, sums.sum_abs_error, sums.sum_squared_error
    return (sums.n - sums.zero_actuals, sums.sum_abs_percentage_error,
            sums.sum_squared_abs_percentage_error or 0.0)


def _regression_value(metric: str, sums: RegressionSums | None) -> float:
    if sums is None or sums.n == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(regression_metrics(sums)[metric])


# ---------------------------------------------------------------------- score-only
def _score(eng: TaskStatisticsEngine, config: ABTestConfig, span: TimeRange | None,
           metrics: Sequence[str], sequential: bool, tau: float, power: float,
           n_resamples: int, seed: int) -> TaskComparison:
    del n_resamples, seed
    a, b = _versions(config)
    alpha = config.significance_level
    frame = eng.score_totals(config.model_name, versions=[a, b], time_range=span)
    rows = {r["version"]: r for r in frame.iter_rows(named=True)}
    empty = {"total": 0, "flagged": 0, "flag_n": 0}
    ra, rb = rows.get(a, empty), rows.get(b, empty)
    tests = {m: _proportion(m, int(ra["flagged"]), int(ra["flag_n"]), int(rb["flagged"]),
                            int(rb["flag_n"]), alpha, sequential, tau) for m in metrics}
    rate = tests[metrics[0]].details["value_a"]
    return {"tests": tests, "n_a": int(ra["total"]), "n_b": int(rb["total"]),
            "achieved": min(int(ra["flag_n"]), int(rb["flag_n"])),
            "required": _rate_size(rate, config.minimum_improvement, alpha, power),
            "notes": ["Score-only model: the flag rate has no better direction, so no winner "
                      "is named; a significant change is reported for review."]}


# ---------------------------------------------------------------------- the result
def run_task_test(engine: object, registry: ModelRegistry, config: ABTestConfig, task: Task,
                  time_range: TimeRange | None, metrics: Sequence[str], *, sequential: bool,
                  tau: float, srm_alpha: float, power: float, n_resamples: int, seed: int,
                  min_samples: int, holm: Adjust) -> ABTestResult:
    """`ABTestingService.run_test` for a non-binary model (``metrics[0]`` is the primary).

    ``holm`` adjusts the secondary metrics' p-values (``details["p_holm"]``).
    """
    found = task_comparison(engine, task, config, time_range, metrics, sequential=sequential,
                            tau=tau, power=power, n_resamples=n_resamples, seed=seed)
    tests = holm(found["tests"], list(metrics[1:]), config.significance_level)
    metric, notes = metrics[0], list(found["notes"])
    n_a, n_b, share_a = found["n_a"], found["n_b"], config.traffic_split_a
    srm = sample_ratio_mismatch(n_a, n_b, share_a, alpha=srm_alpha) \
        if 0.0 < share_a < 1.0 and n_a + n_b > 0 else None
    srm_detected = bool(srm is not None and srm.details["mismatch"])
    if srm is not None and srm_detected:
        notes.append(f"Sample ratio mismatch: {n_a} vs {n_b} rows for a "
                     f"{share_a:.0%}/{1 - share_a:.0%} split (p={srm.p_value:.2g}).")
    required, achieved = found["required"], found["achieved"]
    undersized = required is not None and achieved < required
    if undersized:
        notes.append(f"{achieved} labelled units per arm of the {required} needed to detect "
                     f"a {100 * config.minimum_improvement:.1f}% relative change of {metric}"
                     f" with power {power}.")
    unit = "flag decisions" if task is Task.SCORE_ONLY else "labelled predictions"
    short = achieved < min_samples
    winner, significant, recommendation = decide(
        config, tests[metric], srm_detected=srm_detected, undersized=undersized,
        insufficient=f"{achieved} {unit} in the smaller arm, below the minimum of "
                     f"{min_samples} per version" if short else None)
    values_a = {m: float(t.details.get("value_a", math.nan)) for m, t in tests.items()}
    values_b = {m: float(t.details.get("value_b", math.nan)) for m, t in tests.items()}
    a, b = _versions(config)
    return ABTestResult(
        config, registry.get(config.model_name, a), registry.get(config.model_name, b),
        {m: values_b[m] - values_a[m] for m in metrics}, winner, significant,
        tests[metric].p_value, recommendation, metrics_a=values_a, metrics_b=values_b,
        tests=tests, srm=srm, sample_size_required=required, sample_size_achieved=achieved,
        paired=False, sequential=sequential, notes=tuple(notes), insufficient=short)
