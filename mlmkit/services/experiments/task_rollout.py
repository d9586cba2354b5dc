"""A rollout step's counts for multiclass, regression and score-only models.

[`Rollout.advance`][mlmkit.services.experiments.Rollout.advance] judges a step on
[`StepCounts`][mlmkit.services.experiments.StepCounts]; for a model whose task is not binary
`task_step_counts` fills them from the per-task aggregates, guarding the task's primary metric
in its catalogue direction:

- multiclass: accuracy (the KxK confusion's diagonal), whatever the primary metric; a macro
  average has no always-valid test, and accuracy falls with it when a model degrades;
- regression: the primary metric's per-row loss, lower is better: ``|e|`` for MAE, ``e²``
  for RMSE and R² (MSE: RMSE is its square root, R² falls as it rises on the same traffic),
  ``|e|/|y|`` for MAPE; its ``(n, Σx, Σx²)`` per arm come from the sums;
- score-only: the flag rate, which has no direction, is not guarded (SRM and critical alerts
  still are); a step advances on scored rows.
"""

from __future__ import annotations

import polars as pl

from mlmkit.catalogue import Significance, Task, select
from mlmkit.services.experiments.guardrails import StepCounts
from mlmkit.services.monitor.tasks import task_engine
from mlmkit.values import TimeRange

__all__ = ["guarded_loss", "task_step_counts"]

_Moments = tuple[float, float, float]
#: Regression metrics that are the mean of a per-row loss (Welch in the catalogue: MAE, MAPE):
#: a rollout guards that loss itself; the others (RMSE, R²) guard the squared error.
_MEAN_LOSSES = select(task=Task.REGRESSION, test=Significance.WELCH)


def guarded_loss(task: Task, primary_metric: str) -> str:
    """The name of what a rollout of a ``task`` model guards (``accuracy``, ``mae`` ...)."""
    if task is Task.REGRESSION:
        return primary_metric if primary_metric in _MEAN_LOSSES else "mse"
    return "flag_rate" if task is Task.SCORE_ONLY else "accuracy"


def task_step_counts(engine: object, task: Task, head: StepCounts, span: TimeRange | None,
                     primary_metric: str) -> StepCounts:
    """``head`` (names, share, alerts) completed with the step's rows (``span`` None: none)."""
    engine = task_engine(engine)
    a, b = head.version_a, head.version_b
    metric = guarded_loss(task, primary_metric)
    empty = StepCounts(head.model_name, a, b, head.share_b, critical_alerts=head.critical_alerts,
                       metric=metric)
    if span is None:
        return empty
    if task is Task.MULTICLASS:
        frame = engine.class_confusion(head.model_name, versions=[a, b], time_range=span)
        out = {}
        for v in (a, b):
            part = frame.filter(pl.col("version") == v)
            labelled = part.filter(pl.col("actual").is_not_null())
            out[v] = (int(part["count"].sum() or 0), int(labelled["count"].sum() or 0),
                      int(labelled.filter(pl.col("actual") == pl.col("predicted"))["count"]
                          .sum() or 0))
        return StepCounts(head.model_name, a, b, head.share_b, n_a=out[a][0], n_b=out[b][0],
                          labelled_a=out[a][1], labelled_b=out[b][1], correct_a=out[a][2],
                          correct_b=out[b][2], critical_alerts=head.critical_alerts,
                          metric=metric)
    if task is Task.REGRESSION:
        sums = {r["version"]: r for r in engine.regression_sums(
            head.model_name, versions=[a, b], time_range=span).iter_rows(named=True)}
        ra, rb = sums.get(a), sums.get(b)
        if ra is None or rb is None:
            return empty
        return StepCounts(head.model_name, a, b, head.share_b, n_a=int(ra["total"]),
                          n_b=int(rb["total"]), labelled_a=int(ra["n"]), labelled_b=int(rb["n"]),
                          critical_alerts=head.critical_alerts, metric=metric,
                          moments_a=_moments(metric, ra), moments_b=_moments(metric, rb))
    totals = {r["version"]: r for r in engine.score_totals(
        head.model_name, versions=[a, b], time_range=span).iter_rows(named=True)}
    na, nb = (int(totals[v]["total"]) if v in totals else 0 for v in (a, b))
    sa, sb = (int(totals[v]["n"]) if v in totals else 0 for v in (a, b))
    return StepCounts(head.model_name, a, b, head.share_b, n_a=na, n_b=nb, labelled_a=sa,
                      labelled_b=sb, critical_alerts=head.critical_alerts, metric=metric)


def _moments(metric: str, row: dict[str, float]) -> _Moments:
    if metric == "mae":
        return float(row["n"]), float(row["sum_abs_error"]), float(row["sum_squared_error"])
    if metric == "mape":
        return (float(row["n"] - row["zero_actuals"]), float(row["sum_abs_percentage_error"]),
                float(row["sum_squared_abs_percentage_error"]))
    return float(row["n"]), float(row["sum_squared_error"]), float(row["sum_fourth_error"])
