"""Pure tuning pieces against the thresholds module, scikit-learn and direct counting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import balanced_accuracy_score, f1_score, matthews_corrcoef

from mlmkit.analysis.thresholds import best_threshold, threshold_curve
from mlmkit.analysis.tuning import (
    adaptive_threshold_step,
    best_on_count_curve,
    bootstrap_threshold_improvement,
    count_curve,
    counts_at_threshold,
    metric_from_counts,
    threshold_grid,
)
from mlmkit.exceptions import ValidationError


def _data(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.35
    s = np.round(np.clip(0.3 + 0.3 * y + rng.normal(0, 0.2, n), 0, 1), 3)
    return y, s


@pytest.mark.parametrize("metric", ["f1_score", "accuracy", "precision", "recall",
                                    "balanced_accuracy", "mcc", "specificity"])
@pytest.mark.parametrize("threshold_range", [None, (0.2, 0.7)])
def test_lean_chooser_equals_best_threshold(metric: str,
                                            threshold_range: tuple[float, float] | None
                                            ) -> None:
    y, s = _data(1)
    lean = best_on_count_curve(count_curve(y, s), metric=metric,
                               threshold_range=threshold_range, current=0.5)
    full = best_threshold(y, s, metric=metric, threshold_range=threshold_range, current=0.5)
    assert (lean.threshold, lean.tp, lean.fp, lean.tn, lean.fn) == \
        (full.threshold, full.tp, full.fp, full.tn, full.fn)
    assert lean.value == pytest.approx(full.value, abs=1e-12)


def test_lean_chooser_cost_and_empty_range() -> None:
    y, s = _data(2)
    lean = best_on_count_curve(count_curve(y, s), metric="cost", cost_false_positive=1.0,
                               cost_false_negative=4.0)
    full = best_threshold(y, s, cost_false_positive=1.0, cost_false_negative=4.0)
    assert lean.threshold == full.threshold and lean.value == pytest.approx(full.value)
    empty = best_on_count_curve(count_curve(y, s), threshold_range=(2.0, 3.0))
    assert not empty.feasible and math.isnan(empty.threshold)
    undefined = best_on_count_curve(count_curve([0, 0, 0], [0.1, 0.2, 0.3]), metric="recall")
    assert not undefined.feasible and "undefined" in undefined.reason


def test_count_curve_matches_threshold_curve() -> None:
    y, s = _data(3)
    full = threshold_curve(y, s)
    assert count_curve(y, s).equals(full.select("threshold", "tp", "fp", "tn", "fn"))


@given(st.floats(0, 1), st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_counts_at_threshold_equal_direct_counting(threshold: float, seed: int) -> None:
    y, s = _data(seed, 200)
    counts = counts_at_threshold(threshold_curve(y, s), threshold)
    predicted = s >= threshold
    assert counts == {"tp": int(np.sum(predicted & y)), "fp": int(np.sum(predicted & ~y)),
                      "tn": int(np.sum(~predicted & ~y)), "fn": int(np.sum(~predicted & y))}


def test_metric_from_counts_equals_sklearn() -> None:
    y, s = _data(4)
    p = s >= 0.45
    tp, fp = int(np.sum(p & y)), int(np.sum(p & ~y))
    tn, fn = int(np.sum(~p & ~y)), int(np.sum(~p & y))
    assert metric_from_counts("f1_score", tp, fp, tn, fn) == pytest.approx(f1_score(y, p))
    assert metric_from_counts("mcc", tp, fp, tn, fn) == pytest.approx(matthews_corrcoef(y, p))
    assert metric_from_counts("balanced_accuracy", tp, fp, tn, fn) == \
        pytest.approx(balanced_accuracy_score(y, p))


def test_bootstrap_matches_a_row_bootstrap_in_distribution() -> None:
    y, s = _data(5, 1500)
    curve = threshold_curve(y, s)
    r = bootstrap_threshold_improvement(curve, optimal=0.45, current=0.6, n_resamples=4000,
                                        seed=1)
    rng = np.random.default_rng(2)
    gains = []
    for _ in range(1000):  # the row bootstrap it replaces (F1 by direct counting)
        i = rng.integers(0, y.size, y.size)
        yi, si = y[i], s[i]
        a, b = (2 * np.sum(yi & (si >= t)) / (np.sum(yi) + np.sum(si >= t)) for t in (0.45, 0.6))
        gains.append((a - b) / b * 100)
    low, high = np.quantile(gains, [0.025, 0.975])
    assert r.low == pytest.approx(low, abs=1.0) and r.high == pytest.approx(high, abs=1.0)
    again = bootstrap_threshold_improvement(curve, optimal=0.45, current=0.6, n_resamples=4000,
                                            seed=1)
    assert again == r
    same = bootstrap_threshold_improvement(curve, optimal=0.5, current=0.5)
    assert (same.low, same.high, same.probability_better) == (0.0, 0.0, 0.0)


def test_adaptive_step_hysteresis_and_bounds() -> None:
    y = np.array([0] * 50 + [1] * 50, dtype=bool)
    s = np.concatenate([np.linspace(0.0, 0.62, 50), np.linspace(0.4, 1.0, 50)])
    curve = threshold_curve(y, s)
    step = adaptive_threshold_step(curve, current=0.3, max_step=0.05)
    assert step.direction == "raise" and step.recommended_threshold == pytest.approx(0.35)
    lower = adaptive_threshold_step(curve, current=0.9, max_step=0.05)
    assert lower.direction == "lower" and lower.recommended_threshold == pytest.approx(0.85)
    near = adaptive_threshold_step(curve, current=0.52, dead_band=0.3)
    assert near.direction == "hold" and near.recommended_threshold == 0.52
    imbalance = adaptive_threshold_step(curve, current=0.47, dead_band=0.0).imbalance
    band = abs(imbalance) * 0.75
    assert adaptive_threshold_step(curve, current=0.47, dead_band=band).direction != "hold"
    reversed_ = adaptive_threshold_step(curve, current=0.47, dead_band=band,
                                        last_direction="lower" if imbalance > 0 else "raise")
    assert reversed_.direction == "hold" and "reverse" in reversed_.reason


def test_threshold_grid_and_bad_inputs() -> None:
    assert threshold_grid(0.5, 0.9, 0.05).tolist()[-1] == 0.9
    with pytest.raises(ValidationError, match="step"):
        threshold_grid(0.5, 0.9, 0)
    with pytest.raises(ValidationError, match="metric"):
        metric_from_counts("auc", 1, 1, 1, 1)
    with pytest.raises(ValidationError, match="curve"):
        counts_at_threshold("not a curve", 0.5)  # type: ignore[arg-type]
