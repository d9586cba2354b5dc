"""The tuning engine's threshold comparison: candidates, the optimum, and whether to recommend it.

`candidate_curve` loads the count curve over the candidate thresholds (a grid, or every
distinct score), `best_threshold` picks the optimum on it and `compare` sets the
optimum against the threshold in use: the relative improvement, its paired bootstrap interval
and the recommendation (with the reason in words).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import polars as pl

from mlmkit._validation import check_real, invalid
from mlmkit.analysis.thresholds.curve import ThresholdResult, best_threshold_from_curve
from mlmkit.analysis.tuning import (
    best_on_count_curve,
    bootstrap_threshold_improvement,
    counts_at_threshold,
    metric_from_counts,
    threshold_grid,
)
from mlmkit.services.tuning.data import load_curve, totals
from mlmkit.values import TimeRange

if TYPE_CHECKING:
    from mlmkit.store.engines import StatisticsEngine

__all__ = ["Comparison", "best_threshold", "candidate_curve", "compare"]


class Comparison(TypedDict):
    """The fields `compare` adds to a threshold result."""

    current_value: float
    improvement_percent: float
    improvement_interval: tuple[float, float]
    probability_better: float
    labelled_count: int
    positive_count: int
    recommended: bool
    recommendation: str


def candidate_curve(engine: StatisticsEngine, model_name: str, version: str,
                    threshold_range: tuple[float, float] | None, step: float | None,
                    current: float, span: TimeRange | None
                    ) -> tuple[pl.DataFrame, tuple[float, float] | None]:
    """The count curve over the candidates and the checked ``threshold_range``.

    ``step=None``: every distinct score (exact mode); else the grid ``low, low + step, ...``
    over ``threshold_range`` (``[0, 1]`` when ``None``) plus the ``current`` threshold.
    """
    bounds = None if threshold_range is None else _range(threshold_range)
    points = None
    if step is not None:
        bounds = bounds or (0.0, 1.0)
        step = check_real("step", step, low=0.0, low_open=True)
        points = np.union1d(threshold_grid(*bounds, step), [current])
    return load_curve(engine, model_name, version, span, points=points), bounds


def best_threshold(curve: pl.DataFrame, metric: str, bounds: tuple[float, float] | None,
                   step: float | None, current: float,
                   costs: dict[str, float]) -> ThresholdResult:
    """The threshold optimising ``metric`` on ``curve`` (``costs`` for ``metric="cost"``)."""
    if step is None:  # exact mode on a count curve: the lean path (same answer)
        return best_on_count_curve(curve, metric=metric, threshold_range=bounds,
                                   current=current, **costs)
    return best_threshold_from_curve(curve, metric=metric, threshold_range=bounds, step=step,
                                     current=current,
                                     cost_false_positive=costs.get("cost_false_positive"),
                                     cost_false_negative=costs.get("cost_false_negative"))


def compare(curve: pl.DataFrame, best: ThresholdResult, current: float, metric: str,
            costs: dict[str, float], *, n_resamples: int, confidence: float, seed: int,
            min_labels: int, minimum: float) -> Comparison:
    """``best`` against the ``current`` threshold: improvement, its interval, recommendation.

    ``min_labels`` and ``minimum`` come checked from the public method (before its scans).
    """
    labelled, positives = totals(curve)
    current_value = float(metric_from_counts(metric, **counts_at_threshold(curve, current),
                                             **costs))
    if not best.feasible:
        improvement, interval, better = math.nan, (math.nan, math.nan), math.nan
    else:
        gain = current_value - best.value if metric == "cost" else best.value - current_value
        improvement = gain / abs(current_value) * 100 if current_value else math.nan
        boot = bootstrap_threshold_improvement(
            curve, optimal=best.threshold, current=current, metric=metric,
            n_resamples=n_resamples, confidence=confidence, seed=seed, **costs)
        interval, better = (boot.low, boot.high), boot.probability_better
    recommended, text = _recommend(best, current, metric, improvement, interval, labelled,
                                   positives, min_labels, minimum)
    return {"current_value": current_value, "improvement_percent": improvement,
            "improvement_interval": interval, "probability_better": better,
            "labelled_count": labelled, "positive_count": positives,
            "recommended": recommended, "recommendation": text}


def _range(threshold_range: tuple[float, float]) -> tuple[float, float]:
    expectation = "None or a (low, high) pair of numbers with low <= high"
    if isinstance(threshold_range, (str, bytes)) or not hasattr(threshold_range, "__len__") \
            or len(threshold_range) != 2:
        raise invalid("threshold_range", expectation, threshold_range)
    low = check_real("threshold_range", threshold_range[0], low=0.0, high=1.0)
    high = check_real("threshold_range", threshold_range[1], low=0.0, high=1.0)
    if low > high:
        raise invalid("threshold_range", expectation, threshold_range)
    return low, high


def _recommend(best: ThresholdResult, current: float, metric: str, improvement: float,
               interval: tuple[float, float], labelled: int, positives: int, min_labels: int,
               minimum: float) -> tuple[bool, str]:
    negatives = labelled - positives
    if labelled < min_labels or min(positives, negatives) < 10:
        return False, (f"not enough labels to recommend a change: {labelled} labelled "
                       f"({positives} positive, {negatives} negative); need at least "
                       f"{min_labels} and 10 of each class")
    if not best.feasible:
        return False, f"no threshold to recommend: {best.reason}"
    if best.threshold == current or not improvement > 0:
        return False, f"keep threshold {current:g}: it is already optimal for {metric}"
    ci = f"improvement interval {interval[0]:+.2f}% to {interval[1]:+.2f}%"
    # improvement is relative and positive when better; for cost that is a reduction
    change = f"{metric} {'-' if metric == 'cost' else '+'}{abs(improvement):.2f}%"
    if not interval[0] > 0:
        return False, (f"keep threshold {current:g}: {change} at {best.threshold:g} is inside "
                       f"noise ({ci})")
    if improvement < minimum:
        return False, (f"keep threshold {current:g}: {change} at {best.threshold:g} is below "
                       f"the minimum improvement {minimum:g}%")
    return True, (f"change threshold {current:g} -> {best.threshold:g}: {change} "
                  f"({ci}, {labelled} labelled predictions)")
