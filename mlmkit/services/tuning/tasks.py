"""Which tuning fits which model task, and the refusals that say why.

Threshold tuning (``optimize_threshold``, the precision / recall and cost trade-offs, adaptive
adjustment) moves ONE decision threshold on ONE score with binary ground truth:

- **binary**: the score against ``actual``;
- **score-only**: the anomaly score against ``actual`` (confirmed anomalies), i.e. the
  flag threshold. It runs only on labelled rows (none: the usual `StateError` asking for
  actuals). Scores are not probabilities, so pass ``threshold_range=None`` (every distinct
  score; a range must lie in [0, 1]);
- **multiclass**: refused. The prediction is the arg-max of the class probabilities; there is
  no single threshold, and per-class probability thresholds need each row's full probability
  vector (the log keeps it, but the tuner's one-pass aggregates do not read it): compare
  versions on ``f1_macro`` with ``ws.ab.run_test`` instead;
- **regression**: refused. The prediction is a number; there is no decision threshold.

Hyper-parameter search works for every task when ``evaluate`` returns the metric itself (a
number; ``mae``, ``rmse``, ``mape`` are minimised by their catalogue direction); returning an
array of predictions is scored as binary classification and is refused for the other tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlmkit.catalogue import Task
from mlmkit.exceptions import StateError, ValidationError

if TYPE_CHECKING:
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = ["THRESHOLD_TASKS", "check_candidates", "check_threshold_task"]

#: Tasks whose models have one decision threshold on one score with binary ground truth.
THRESHOLD_TASKS = frozenset({Task.BINARY, Task.SCORE_ONLY})

_REASONS = {
    Task.MULTICLASS: "its prediction is the arg-max of the class probabilities, with no single "
                     "decision threshold to tune; compare versions on f1_macro with "
                     "ws.ab.run_test instead",
    Task.REGRESSION: "its prediction is a number, with no decision threshold to tune; compare "
                     "versions on mae or rmse with ws.ab.run_test, or search its "
                     "hyper-parameters with optimize_hyperparameters",
}


def check_threshold_task(registry: ModelRegistry, model_name: str, method: str) -> Task:
    """The model's task if threshold tuning fits it; else a `StateError` saying why."""
    task = registry.task(model_name)
    if task not in THRESHOLD_TASKS:
        raise StateError(f"{method} cannot tune model_name={model_name!r}: it is a {task} "
                         f"model; {_REASONS[task]}")
    return task


def check_candidates(task: Task, threshold_range: tuple[float, float] | None,
                     step: float | None) -> None:
    """Refuse probability-unit candidates for a score-only model (its scores are unbounded).

    A grid (``step``) or a ``threshold_range`` lies in [0, 1]; a score-only model's anomaly
    scores are in their own units, so either would silently search the wrong values. Only the
    exact mode over every distinct logged score fits: ``threshold_range=None, step=None``.
    """
    if task is Task.SCORE_ONLY and (threshold_range is not None or step is not None):
        name, value = ("step", step) if step is not None else ("threshold_range",
                                                             threshold_range)
        raise ValidationError(
            f"{name} must be None for a score-only model (its scores are not probabilities, "
            f"so a [0, 1] grid or range would search the wrong values; pass "
            f"threshold_range=None, step=None to try every distinct logged score); got {value!r}",
            field=name, value=value)
