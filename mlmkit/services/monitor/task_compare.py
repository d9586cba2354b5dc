"""``compare_versions`` for multiclass, regression and score-only models: the catalogue's test.

One row per version with every metric of the task, ``metric``'s interval where the window
metrics carry one, ``difference`` (version minus the first) and the test of ``metric`` against
the first version, chosen by the catalogue:

- proportions (accuracy, flag rate): pooled two-proportion z-test on (correct, labelled) or
  (flagged, rows with a flag);
- Welch (MAE on ``|e|``, MAPE on ``|e|/|y|``): `regression_welch` from each window's sums, no
  rows read;
- bootstrap: the confusion-matrix averages (F1-macro, ...) by multinomial resampling of both
  matrices (`bootstrap_class_metric`), RMSE and R² by resampling the labelled rows of both
  versions (`bootstrap_regression_metric`, one extra read of the labelled pairs per version,
  sorted, so the same rows give the same p-value on every engine); seeded;
- one-vs-rest ROC AUC and log loss: no test here (``p_value`` NaN).

``p_adjusted`` is Holm's correction across the comparisons and ``significant`` reads it, as
for binary models. ``test`` names the method.
"""

from __future__ import annotations

import math
import warnings
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.analysis.stats import TestResult, multiple_testing, two_proportion_ztest
from mlmkit.analysis.stats.tasks import (
    bootstrap_class_metric,
    bootstrap_regression_metric,
    regression_welch,
)
from mlmkit.catalogue import Kind, Significance, Task, select
from mlmkit.services.monitor.task_degradation import (
    PROBABILITY_METRICS,
    PROPORTION_METRICS,
    TASK_METRICS,
    metric_value,
)
from mlmkit.services.monitor.task_results import (
    MulticlassWindowMetrics,
    RegressionWindowMetrics,
    ScoreWindowMetrics,
)
from mlmkit.services.monitor.tasks import TaskResult, task_engine, task_window_metrics
from mlmkit.store.engines import StatisticsEngine
from mlmkit.values import TimeRange

__all__ = ["attach_holm", "task_comparison", "task_comparison_frame"]

_CLASS_AVERAGES = select(kind=Kind.CLASS_COUNT)
#: Regression metrics tested from each window's sums (Welch) and by resampling rows.
_WELCH = select(task=Task.REGRESSION, test=Significance.WELCH)
_ROW_BOOTSTRAP = select(task=Task.REGRESSION, test=Significance.BOOTSTRAP)
_N_RESAMPLES = 2000
_Floats: TypeAlias = npt.NDArray[np.float64]


def _proportion(res: TaskResult) -> tuple[int, int] | None:
    if isinstance(res, MulticlassWindowMetrics) and res.metrics is not None:
        return res.metrics.correct, res.metrics.n
    if isinstance(res, ScoreWindowMetrics) and res.flag_count:
        return res.flagged, res.flag_count
    return None


def _rows(engine: StatisticsEngine, model: str, version: str, span: TimeRange
          ) -> tuple[_Floats, _Floats]:
    """``(actual, predicted)`` of the labelled rows, from the weighted distinct pairs.

    The pairs come sorted (version, actual, predicted), so the bootstrap resamples rows in an
    order that does not depend on the engine or on how the rows were stored: the same rows
    give the same p-value (a segment's rows alone, or its part of a grouped read).
    """
    pairs = task_engine(engine).regression_pairs(model, versions=[version], time_range=span)
    counts = pairs["count"].to_numpy()
    return (np.repeat(pairs["actual"].to_numpy(), counts),
            np.repeat(pairs["predicted"].to_numpy(), counts))


def _test(engine: StatisticsEngine, model: str, span: TimeRange, metric: str,
          first: TaskResult, res: TaskResult) -> TestResult | None:
    if metric in PROPORTION_METRICS:
        a, b = _proportion(first), _proportion(res)
        if a is None or b is None:
            return None
        return two_proportion_ztest(a[0], a[1], b[0], b[1])
    if isinstance(first, RegressionWindowMetrics) and isinstance(res, RegressionWindowMetrics):
        if first.sums is None or res.sums is None or min(first.sums.n, res.sums.n) < 2:
            return None
        if metric in _WELCH:
            return regression_welch(first.sums, res.sums, metric=metric)
        if metric not in _ROW_BOOTSTRAP:
            return None
        (ya, pa), (yb, pb) = (_rows(engine, model, first.version, span),
                              _rows(engine, model, res.version, span))
        return bootstrap_regression_metric(ya, pa, yb, pb, metric=metric,
                                           n_resamples=_N_RESAMPLES)
    if isinstance(first, MulticlassWindowMetrics) and isinstance(res, MulticlassWindowMetrics) \
            and metric in _CLASS_AVERAGES and first.metrics is not None \
            and res.metrics is not None:
        return bootstrap_class_metric(first.metrics.cells, res.metrics.cells, metric=metric,
                                      n_resamples=_N_RESAMPLES)
    return None


def task_comparison(engine: StatisticsEngine, task: Task, model_name: str,
                    versions: list[str], span: TimeRange, *, metric: str, min_labels: int,
                    alpha: float, confidence: float) -> pl.DataFrame:
    """The comparison frame of a non-binary model's versions (module docstring)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        results: list[TaskResult] = []
        for v in versions:
            res = task_window_metrics(engine, task, model_name, v, span, min_labels=min_labels,
                                      confidence=confidence, bins=1000,
                                      scores=metric in PROBABILITY_METRICS, role="served")
            assert res is not None  # a non-binary task
            results.append(res)
    return task_comparison_frame(engine, task, model_name, span, metric, results, alpha)


def task_comparison_frame(engine: StatisticsEngine, task: Task, model_name: str,
                          span: TimeRange, metric: str, results: list[TaskResult],
                          alpha: float) -> pl.DataFrame:
    """`task_comparison`'s frame from each version's window metrics (the first: reference)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        first = results[0]
        records: list[dict[str, object]] = []
        p_values: list[float] = []
        for res in results:
            rec: dict[str, object] = {"version": res.version, "sample_count": res.sample_count,
                                      "labelled_count": res.labelled_count,
                                      "label_coverage": res.label_coverage,
                                      "insufficient": res.insufficient}
            rec.update({name: metric_value(res, name) for name in TASK_METRICS[task]})
            ci = res.confidence_intervals.get(metric)
            rec[f"{metric}_low"] = math.nan if ci is None else ci.low
            rec[f"{metric}_high"] = math.nan if ci is None else ci.high
            rec["difference"] = metric_value(res, metric) - metric_value(first, metric)
            test = None if res is first else _test(engine, model_name, span, metric, first,
                                                   res)
            p = math.nan if test is None else float(test.p_value)
            if res is not first:
                p_values.append(p)
            rec["p_value"], rec["test"] = p, None if test is None else test.method
            records.append(rec)
    attach_holm(records, p_values, alpha)
    return pl.DataFrame(records, schema_overrides={"test": pl.String})


def attach_holm(records: list[dict[str, object]], p_values: list[float], alpha: float) -> None:
    """Add Holm-adjusted ``p_adjusted`` and ``significant`` to each version's record.

    The first record is the reference; ``p_values`` are those of the others (NaN: untested).
    """
    adjusted = [math.nan] * len(records)
    valid = [(i + 1, p) for i, p in enumerate(p_values) if not math.isnan(p)]
    if valid:
        adj = multiple_testing([p for _, p in valid], method="holm", alpha=alpha)
        for (idx, _), value in zip(valid, adj.get_column("p_adjusted").to_list(), strict=True):
            adjusted[idx] = float(value)
    for rec, value in zip(records, adjusted, strict=True):
        rec["p_adjusted"] = value
        rec["significant"] = bool(not math.isnan(value) and value <= alpha)
