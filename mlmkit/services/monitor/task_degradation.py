"""Degradation of multiclass, regression and score-only models (the metric's direction decides).

``ws.monitor.get_performance_degradation_info`` runs `task_degradation` for a model whose task
is not binary. The **degradation** is the relative worsening of the metric, in the direction the
catalogue gives it:

- higher is better (accuracy, F1-macro, the other macro / weighted averages, one-vs-rest ROC
  AUC, R²): ``(baseline - current) / |baseline|``, a drop;
- lower is better (MAE, RMSE, MAPE, log loss): ``(current - baseline) / |baseline|``, a rise;
- no direction (the flag rate of a score-only model): ``|current - baseline| / baseline``, a
  move either way (an anomaly detector flagging far more *or* far fewer rows than it used to
  is the signal; there is no label to judge it by).

The default metric per task (`DEFAULT_METRIC`): binary and multiclass ``accuracy``, regression
``mae``, score-only ``flag_rate``. Severity, ``insufficient`` and the baseline forms are those of
the binary check. ``p_value`` uses the catalogue's test of the metric, one-sided towards worse:
accuracy and the flag rate as proportions (two-proportion z against a baseline window, exact
binomial against a value), MAE / MAPE with Welch from the windows' sums (a one-sample t against
a value), the confusion-matrix averages by multinomial bootstrap of both matrices; metrics whose
test needs rows (RMSE, R²) or that have none here (ROC AUC, log loss) get NaN. A worsening
beyond the threshold must also be significant at ``alpha`` (a flag rate of 0.16 on 1,000 rows
moves ~7% between windows by chance alone): against a registered value the test is of a
worsening beyond the threshold itself (the value worsened by ``threshold``), against a
baseline window of any worsening; without a p-value the threshold alone decides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta

from scipy.stats import t as t_dist

from mlmkit._validation import check_probability, check_real, invalid
from mlmkit.analysis.metrics import variance_from_sums
from mlmkit.analysis.monitoring import SEVERITIES, drop_severity, one_proportion_test
from mlmkit.analysis.stats import two_proportion_ztest
from mlmkit.analysis.stats.tasks import bootstrap_class_metric, regression_welch
from mlmkit.catalogue import Kind, Significance, Task, select, spec
from mlmkit.services.monitor.results import DegradationInfo
from mlmkit.services.monitor.task_results import (
    MulticlassWindowMetrics,
    RegressionWindowMetrics,
    ScoreWindowMetrics,
)
from mlmkit.services.monitor.tasks import TaskResult, task_window_metrics
from mlmkit.store.engines import StatisticsEngine
from mlmkit.values import TimeRange, resolve_range

__all__ = ["DEFAULT_METRIC", "PROBABILITY_METRICS", "PROPORTION_METRICS", "TASK_METRICS",
           "baseline_span", "boundary", "gated", "metric_value", "task_degradation",
           "task_metric", "task_verdict", "window_source", "worsening"]

#: The metric judged when none is given.
DEFAULT_METRIC = {Task.BINARY: "accuracy", Task.MULTICLASS: "accuracy",
                  Task.REGRESSION: "mae", Task.SCORE_ONLY: "flag_rate"}
#: The metrics each non-binary task's monitoring (degradation, trend, comparison) offers.
TASK_METRICS: Mapping[Task, tuple[str, ...]] = {
    Task.MULTICLASS: ("accuracy", *select(kind=Kind.CLASS_COUNT), "roc_auc_ovr", "log_loss"),
    Task.REGRESSION: select(kind=Kind.REGRESSION),
    Task.SCORE_ONLY: ("flag_rate",),
}
#: Of these, the ones tested as proportions: multiclass accuracy (correct / labelled), the
#: score-only flag rate (flagged / rows with a flag).
PROPORTION_METRICS = tuple(m for m in select(test=Significance.PROPORTION)
                           if any(m in names for names in TASK_METRICS.values()))
#: The ones read from the logged class probabilities (their window is computed with ``scores``).
PROBABILITY_METRICS = select(task=Task.MULTICLASS, kind=(Kind.SCORE, Kind.CLASS_SCORE))
#: The ones compared with Welch from the windows' regression sums (means of a per-row loss).
_WELCH = select(task=Task.REGRESSION, test=Significance.WELCH)
INSUFFICIENT = SEVERITIES[-1]


def task_metric(task: Task, metric: str | None) -> str:
    """``metric`` checked against the task's metrics (default `DEFAULT_METRIC`)."""
    if metric is None:
        return DEFAULT_METRIC[task]
    allowed = TASK_METRICS.get(task, ())
    if metric not in allowed:
        raise invalid("metric", f"a metric of a {task.value} model ({', '.join(allowed)})",
                      metric)
    return metric


def metric_value(result: TaskResult, metric: str) -> float:
    """``metric`` of a task's window metrics as a float (NaN when it has no value)."""
    if isinstance(result, ScoreWindowMetrics):
        value: object = result.flag_rate
    else:
        value = result.to_dict().get(metric)
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def worsening(metric: str, baseline: float, current: float) -> float:
    """Relative worsening of ``metric`` from ``baseline`` to ``current`` (module docstring).

    Examples
    --------
    >>> worsening("mae", 2.0, 2.6), worsening("accuracy", 0.9, 0.72)
    (0.3, 0.2)
    >>> worsening("mae", 0.0, 0.5), worsening("flag_rate", 0.0, 0.0)
    (inf, 0.0)
    """
    if math.isnan(baseline) or math.isnan(current):
        return math.nan
    higher = spec(metric).higher_is_better
    if baseline == 0:  # (a perfect MAE, a detector that never flagged: any move is unbounded;
        # NaN made a window of 300 labels "insufficient")
        change = 0.0 if current == 0 else math.copysign(math.inf, current)
    else:
        change = (current - baseline) / abs(baseline)
    return round(-change if higher else abs(change) if higher is None else change, 12)


def _window(engine: StatisticsEngine, task: Task, model: str, version: str, metric: str,
            span: TimeRange, min_labels: int) -> TaskResult:
    result = task_window_metrics(engine, task, model, version, span, min_labels=min_labels,
                                 confidence=0.95, bins=1000,
                                 scores=metric in PROBABILITY_METRICS, role="served")
    assert result is not None  # a non-binary task
    return result


def baseline_span(metric: str, baseline: object, current: TimeRange,
                  registered: Mapping[str, float]) -> tuple[float, str] | TimeRange:
    """The ``baseline`` argument as a fixed ``(value, source)`` or a baseline window's span.

    ``None``: the registered ``performance_metrics[metric]`` if present, else the 7 windows
    before ``current``; a number: that value; a duration: the span of that length ending
    where ``current`` starts; a ``(start, end)`` pair: that span.
    """
    if baseline is None:
        if registered.get(metric) is not None:
            return float(registered[metric]), "registered performance_metrics"
        return TimeRange(current.start - 7 * current.duration, current.start)
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return check_real("baseline", baseline), "value"
    if isinstance(baseline, (str, timedelta, tuple, list)):
        return resolve_range(baseline, now=current.start, name="baseline")
    raise invalid("baseline", "None, a number, a duration or a (start, end) pair", baseline)


def window_source(span: TimeRange) -> str:
    """The ``baseline_source`` of a baseline window."""
    return f"window {span.start.isoformat()} .. {span.end.isoformat()}"


def _baseline(engine: StatisticsEngine, task: Task, model: str, version: str, metric: str,
              baseline: object, current: TimeRange, min_labels: int,
              registered: Mapping[str, float]) -> tuple[float, str, TaskResult | None]:
    span = baseline_span(metric, baseline, current, registered)
    if not isinstance(span, TimeRange):
        return span[0], span[1], None
    ref = _window(engine, task, model, version, metric, span, min_labels)
    return metric_value(ref, metric), window_source(span), ref


def _proportion(result: TaskResult) -> tuple[int, int] | None:
    if isinstance(result, MulticlassWindowMetrics):
        m = result.metrics
        return (0, 0) if m is None else (m.correct, m.n)
    if isinstance(result, ScoreWindowMetrics):
        return result.flagged, result.flag_count
    return None


def _one_sided(p: float, effect: float, worse_is_positive: bool) -> float:
    """A two-sided bootstrap p-value made one-sided towards worse."""
    worse = effect > 0 if worse_is_positive else effect < 0
    return p / 2.0 if worse else 1.0 - p / 2.0


def boundary(metric: str, base: float, current: float, threshold: float) -> float:
    """The baseline worsened by exactly ``threshold`` (on the current value's side)."""
    higher = spec(metric).higher_is_better
    if higher is None:
        higher = current < base
    return base * (1.0 - threshold) if higher else base * (1.0 + threshold)


def gated(severity: str, p: float, alpha: float) -> str:
    """``severity``, or ``"ok"`` when its worsening is not significant (``p > alpha``).

    ``p`` tests the worsening beyond the threshold against a fixed baseline (not merely any
    worsening: an hourly check would otherwise alarm on small-sample noise), any worsening
    against a baseline window; without a p-value (NaN) the threshold alone decides.
    """
    return "ok" if not math.isnan(p) and p > alpha else severity


def _significance(metric: str, current: TaskResult, value: float,
                  ref: TaskResult | None) -> float:
    higher = spec(metric).higher_is_better
    side = "two-sided" if higher is None else "less" if higher else "greater"
    if metric in PROPORTION_METRICS:
        cur = _proportion(current)
        base = None if ref is None else _proportion(ref)
        if cur is None or cur[1] == 0 or (ref is not None and (base is None or base[1] == 0)):
            return math.nan
        if base is not None:
            return two_proportion_ztest(base[0], base[1], cur[0], cur[1],
                                        alternative=side).p_value
        if not 0.0 <= value <= 1.0:
            return math.nan
        return one_proportion_test(cur[0], cur[1], value, alternative=side).p_value
    if metric in _WELCH and isinstance(current, RegressionWindowMetrics) \
            and current.sums is not None and current.sums.n >= 2:
        if isinstance(ref, RegressionWindowMetrics):
            if ref.sums is None or ref.sums.n < 2:
                return math.nan
            return regression_welch(ref.sums, current.sums, metric=metric,
                                    alternative="greater").p_value
        return _one_sample(current, metric, value) if ref is None else math.nan
    if isinstance(current, MulticlassWindowMetrics) and isinstance(ref, MulticlassWindowMetrics) \
            and metric in select(kind=Kind.CLASS_COUNT) and current.metrics is not None \
            and ref.metrics is not None:
        res = bootstrap_class_metric(ref.metrics.cells, current.metrics.cells, metric=metric,
                                     n_resamples=1000)
        return _one_sided(res.p_value, float(res.effect or 0.0), worse_is_positive=False)
    return math.nan


def _one_sample(current: RegressionWindowMetrics, metric: str, value: float) -> float:
    """One-sided one-sample t-test of the mean ``|e|`` (or ``|e|/|y|``) above ``value``."""
    s = current.sums
    assert s is not None
    if metric == "mae":
        n, total, squares = s.n, s.sum_abs_error, s.sum_squared_error
    elif s.sum_squared_abs_percentage_error is None:
        return math.nan
    else:
        n, total = s.n - s.zero_actuals, s.sum_abs_percentage_error
        squares = s.sum_squared_abs_percentage_error
    if n < 2:
        return math.nan
    var = variance_from_sums(n, total, squares)  # (NaN when rounding took the spread)
    if not var > 0:
        return math.nan
    stat = (total / n - value) / math.sqrt(var / n)
    return float(t_dist.sf(stat, n - 1))


def task_degradation(engine: StatisticsEngine, task: Task, model_name: str, version: str,
                     metric: str, span: TimeRange, *, threshold: float, alpha: float,
                     baseline: object, min_labels: int, registered: Mapping[str, float]
                     ) -> DegradationInfo:
    """The degradation verdict of a non-binary model's ``metric`` (module docstring).

    ``relative_drop`` of the result is the relative *worsening* (a rise for an error metric).
    """
    threshold = check_real("threshold_percent", threshold, low=0.0, high=1.0, low_open=True)
    alpha = check_probability("alpha", alpha, open_interval=True)
    current = _window(engine, task, model_name, version, metric, span, min_labels)
    base_value, source, ref = _baseline(engine, task, model_name, version, metric, baseline,
                                        span, min_labels, registered)
    return task_verdict(task, metric, span, current, base_value, source, ref,
                        threshold=threshold, alpha=alpha)


def task_verdict(task: Task, metric: str, span: TimeRange, current: TaskResult,
                 base_value: float, source: str, ref: TaskResult | None, *, threshold: float,
                 alpha: float) -> DegradationInfo:
    """The verdict of `task_degradation` on computed windows (``ref`` None: a fixed value)."""
    model_name, version = current.model_name, current.version
    cur_value = metric_value(current, metric)
    worse = worsening(metric, base_value, cur_value)
    insufficient = current.insufficient or (ref is not None and ref.insufficient) \
        or math.isnan(worse)
    severity = INSUFFICIENT if insufficient else drop_severity(worse, threshold)
    p = _significance(metric, current, base_value, ref) if not insufficient else math.nan
    if severity in ("warning", "critical"):
        severity = gated(severity, p if ref is not None else _significance(
            metric, current, boundary(metric, base_value, cur_value, threshold), None), alpha)
    higher = spec(metric).higher_is_better
    return DegradationInfo(
        model_name=model_name, version=version, metric=metric, baseline_value=base_value,
        current_value=cur_value, relative_drop=worse, threshold=threshold, severity=severity,
        baseline_source=source, current_n=current.labelled_count
        if task is not Task.SCORE_ONLY else current.sample_count,
        baseline_n=None if ref is None else ref.labelled_count
        if task is not Task.SCORE_ONLY else ref.sample_count,
        p_value=p, significant=bool(not math.isnan(p) and p <= alpha),
        insufficient=bool(insufficient),
        details={"window_start": span.start.isoformat(), "window_end": span.end.isoformat(),
                 "alpha": alpha, "task": task.value,
                 "direction": "either" if higher is None else
                 "higher_is_better" if higher else "lower_is_better"})

