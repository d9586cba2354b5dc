"""Pure pieces of threshold tuning (grids, counts, improvement bootstrap, adaptive step).

Grids, counts at a threshold, a bootstrap of the improvement between two thresholds, and one
step of an adaptive threshold controller.

Everything works on a threshold curve (:func:`mlmkit.analysis.thresholds.threshold_curve` or
:func:`~mlmkit.analysis.thresholds.threshold_curve_from_histogram`), i.e. on counts aggregated
per distinct score or per score cell, never on raw rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, check_int, check_probability, check_real, invalid
from mlmkit.analysis import _thresholds as _k

__all__ = [
    "AdaptiveStep",
    "ImprovementInterval",
    "TUNING_METRICS",
    "adaptive_threshold_step",
    "bootstrap_threshold_improvement",
    "counts_at_threshold",
    "metric_from_counts",
    "threshold_grid",
]

#: Metrics of confusion counts (``"cost"`` is minimised, the others maximised).
TUNING_METRICS = ("f1_score", "precision", "recall", "accuracy", "specificity",
                  "balanced_accuracy", "mcc", "cost")
_DIRECTIONS = ("raise", "lower", "hold")


def threshold_grid(low: float, high: float, step: float) -> np.ndarray:
    """The inclusive grid ``low, low + step, ..., <= high`` used by grid-mode threshold search.

    Points are rounded to 12 decimals, so float steps land on round numbers (the same grid as
    :func:`mlmkit.analysis.thresholds.best_threshold` with ``step``).

    Examples
    --------
    >>> threshold_grid(0.5, 0.9, 0.05).tolist()
    [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]
    """
    low = check_real("low", low)
    high = check_real("high", high, low=low)
    step = check_real("step", step, low=0.0, low_open=True)
    return _k.grid(low, high, step)


def metric_from_counts(metric: str, tp: Any, fp: Any, tn: Any, fn: Any, *,
                       cost_false_positive: float = 0.0,
                       cost_false_negative: float = 0.0) -> np.ndarray:
    """``metric`` of confusion counts, elementwise over arrays of any shape (NaN for 0 / 0).

    ``"cost"`` is the expected cost per prediction ``(c_fp * fp + c_fn * fn) / n``.

    Examples
    --------
    >>> float(metric_from_counts("f1_score", 40, 10, 45, 5).round(4))
    0.8421
    >>> metric_from_counts("recall", [3, 0], [1, 0], [2, 4], [1, 0]).tolist()
    [0.75, nan]
    """
    check_choice("metric", metric, TUNING_METRICS)
    tp_, fp_, tn_, fn_ = (np.asarray(v, dtype=np.float64) for v in (tp, fp, tn, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "f1_score":
            return np.asarray(2 * tp_ / (2 * tp_ + fp_ + fn_))
        if metric == "precision":
            return np.asarray(tp_ / (tp_ + fp_))
        if metric == "recall":
            return np.asarray(tp_ / (tp_ + fn_))
        if metric == "accuracy":
            return np.asarray((tp_ + tn_) / (tp_ + fp_ + tn_ + fn_))
        if metric == "specificity":
            return np.asarray(tn_ / (tn_ + fp_))
        counts = {"tp": tp_, "fp": fp_, "tn": tn_, "fn": fn_}
        return np.asarray(_k.extra_metric(metric, counts, cost_false_positive,
                                          cost_false_negative))


def counts_at_threshold(curve: pl.DataFrame, threshold: float) -> dict[str, int]:
    """Confusion counts when predicting ``score >= threshold``, read off a threshold curve.

    Exact for a curve over distinct scores, and for a curve over cells whose lower edges
    include ``threshold``.

    Examples
    --------
    >>> from mlmkit.analysis.thresholds import threshold_curve
    >>> counts_at_threshold(threshold_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.38)
    {'tp': 1, 'fp': 1, 'tn': 1, 'fn': 1}
    """
    thresholds, counts = _curve(curve)
    threshold = check_real("threshold", threshold)
    index = int(np.searchsorted(thresholds, threshold, side="left"))
    n_pos = int(counts["tp"][0] + counts["fn"][0])
    n_neg = int(counts["fp"][0] + counts["tn"][0])
    if index >= thresholds.size:
        return {"tp": 0, "fp": 0, "tn": n_neg, "fn": n_pos}
    return {c: int(counts[c][index]) for c in _k.COUNT_COLUMNS}


@dataclass(frozen=True)
class ImprovementInterval:
    """Bootstrap distribution of the improvement from ``current`` to ``optimal``.

    Attributes
    ----------
    low, high : float
        Percentile interval of ``improvement_percent`` (NaN when undefined).
    confidence : float
        Interval coverage.
    probability_better : float
        Share of resamples in which ``optimal`` beats ``current``.
    n_resamples : int
        Number of resamples.
    """

    low: float
    high: float
    confidence: float
    probability_better: float
    n_resamples: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return asdict(self)

    def _repr_html_(self) -> str:
        return _k.html_table("ImprovementInterval", self.to_dict())


def bootstrap_threshold_improvement(curve: pl.DataFrame, *, optimal: float, current: float,
                                    metric: str = "f1_score",
                                    cost_false_positive: float = 0.0,
                                    cost_false_negative: float = 0.0,
                                    n_resamples: int = 2000, confidence: float = 0.95,
                                    seed: int = 0) -> ImprovementInterval:
    """Paired bootstrap of the improvement of ``optimal`` over ``current``, from counts alone.

    The two thresholds split the rows into three score regions; the row bootstrap is then
    exactly a multinomial draw of the six (region x label) counts, so each resample costs O(1)
    whatever the number of rows. The improvement is ``(m_opt - m_cur) / |m_cur| * 100``
    (``(c_cur - c_opt) / c_cur * 100`` for ``"cost"``). The thresholds are held fixed (the
    choice of ``optimal`` on the same rows is not re-done per resample), so the interval is
    somewhat optimistic for an optimum picked among many candidates.

    Examples
    --------
    >>> from mlmkit.analysis.thresholds import threshold_curve
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(2000) < 0.3
    >>> s = np.clip(0.25 + 0.35 * y + rng.normal(0, 0.15, 2000), 0, 1)
    >>> r = bootstrap_threshold_improvement(threshold_curve(y, s), optimal=0.45, current=0.7)
    >>> bool(r.low > 0), r.probability_better
    (True, 1.0)
    """
    check_choice("metric", metric, TUNING_METRICS)
    n_resamples = check_int("n_resamples", n_resamples, low=10)
    confidence = check_probability("confidence", confidence, open_interval=True)
    thresholds, counts = _curve(curve)
    optimal = check_real("optimal", optimal)
    current = check_real("current", current)
    edges = np.unique([optimal, current])
    pos = np.diff(np.append(counts["tp"], 0)) * -1
    neg = np.diff(np.append(counts["fp"], 0)) * -1
    cell = np.searchsorted(edges, thresholds, side="right")
    cells = np.concatenate([np.bincount(cell, pos, edges.size + 1),
                            np.bincount(cell, neg, edges.size + 1)]).astype(np.int64)
    total = int(cells.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(total, cells / total, size=n_resamples)
    k = edges.size + 1
    pos_draw, neg_draw = draws[:, :k], draws[:, k:]
    tp_at = np.cumsum(pos_draw[:, ::-1], axis=1)[:, ::-1]
    fp_at = np.cumsum(neg_draw[:, ::-1], axis=1)[:, ::-1]
    n_pos, n_neg = tp_at[:, :1], fp_at[:, :1]

    def value(threshold: float) -> np.ndarray:
        j = int(np.searchsorted(edges, threshold)) + 1
        tp, fp = tp_at[:, j], fp_at[:, j]
        return metric_from_counts(metric, tp, fp, n_neg[:, 0] - fp, n_pos[:, 0] - tp,
                                  cost_false_positive=cost_false_positive,
                                  cost_false_negative=cost_false_negative)

    at_opt, at_cur = value(optimal), value(current)
    gain = at_cur - at_opt if metric == "cost" else at_opt - at_cur
    with np.errstate(divide="ignore", invalid="ignore"):
        percent = gain / np.abs(at_cur) * 100.0
    finite = percent[np.isfinite(percent)]
    alpha = (1.0 - confidence) / 2.0
    if finite.size < n_resamples / 2:
        low = high = math.nan
    else:
        low, high = (float(v) for v in np.quantile(finite, [alpha, 1.0 - alpha]))
    better = float(np.mean(np.nan_to_num(gain, nan=0.0) > 0))
    return ImprovementInterval(low=low, high=high, confidence=confidence,
                               probability_better=better, n_resamples=n_resamples)


@dataclass(frozen=True)
class AdaptiveStep:
    """One decision of the adaptive threshold controller.

    Attributes
    ----------
    direction : str
        ``"raise"``, ``"lower"`` or ``"hold"``.
    current_threshold, recommended_threshold : float
        Equal when holding.
    fp, fn, labelled : int
        False positives / negatives at ``current_threshold`` and rows they rest on.
    fp_rate, fn_rate : float
        ``fp / labelled`` and ``fn / labelled``.
    imbalance : float
        ``(fp - fn) / (fp + fn)`` in [-1, 1] (0 without errors).
    balance_threshold : float
        The threshold where false positives and false negatives are closest (the target).
    band : float
        The dead band applied (wider when the move would reverse the last one).
    reason : str
        Why the controller moved or held.
    """

    direction: str
    current_threshold: float
    recommended_threshold: float
    fp: int
    fn: int
    labelled: int
    fp_rate: float
    fn_rate: float
    imbalance: float
    balance_threshold: float
    band: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return asdict(self)

    def _repr_html_(self) -> str:
        return _k.html_table("AdaptiveStep", self.to_dict())


def adaptive_threshold_step(curve: pl.DataFrame, *, current: float, max_step: float = 0.05,
                            dead_band: float = 0.2, last_direction: str = "hold",
                            reversal_factor: float = 2.0,
                            bounds: tuple[float, float] = (0.0, 1.0)) -> AdaptiveStep:
    """Raise the threshold when false positives dominate, lower it when false negatives do.

    The controller moves towards the *balance threshold* (where FP and FN counts are closest)
    by at most ``max_step``, so it never overshoots the balance point. It holds while the
    imbalance ``(fp - fn) / (fp + fn)`` stays within ``dead_band``; reversing the previous
    move (``last_direction``) needs ``reversal_factor`` times the band (hysteresis), so noise
    around the balance point does not make it flip-flop between runs.

    Examples
    --------
    >>> from mlmkit.analysis.thresholds import threshold_curve
    >>> y = [0, 0, 0, 0, 1, 1]
    >>> s = [0.1, 0.6, 0.7, 0.8, 0.75, 0.9]
    >>> step = adaptive_threshold_step(threshold_curve(y, s), current=0.5)
    >>> step.direction, step.recommended_threshold, step.fp, step.fn
    ('raise', 0.55, 3, 0)
    """
    thresholds, counts = _curve(curve)
    current = check_real("current", current)
    max_step = check_real("max_step", max_step, low=0.0, low_open=True)
    dead_band = check_real("dead_band", dead_band, low=0.0, high=1.0, high_open=True)
    reversal_factor = check_real("reversal_factor", reversal_factor, low=1.0)
    check_choice("last_direction", last_direction, _DIRECTIONS)
    at = counts_at_threshold(curve, current)
    fp, fn = at["fp"], at["fn"]
    labelled = sum(at.values())
    errors = fp + fn
    imbalance = (fp - fn) / errors if errors else 0.0
    gap = np.abs(counts["fp"] - counts["fn"])
    near = np.flatnonzero(gap == gap.min())
    balance = float(thresholds[near[np.argmin(np.abs(thresholds[near] - current))]])
    proposed = "raise" if imbalance > 0 else "lower" if imbalance < 0 else "hold"
    reverses = {proposed, last_direction} == {"raise", "lower"}
    band = dead_band * (reversal_factor if reverses else 1.0)
    move = float(np.clip(balance - current, -max_step, max_step))
    recommended = float(np.clip(round(current + move, 12), *bounds))
    rates = f"FP rate {fp / max(labelled, 1):.3%}, FN rate {fn / max(labelled, 1):.3%}"
    if errors == 0:
        direction, reason = "hold", f"no errors at threshold {current:g}"
    elif abs(imbalance) <= band:
        direction = "hold"
        reason = (f"{rates}: imbalance {imbalance:+.3f} within the dead band ±{band:.3f}"
                  + (" (widened: the move would reverse the last one)" if reverses else ""))
    elif (move > 0) != (proposed == "raise") or recommended == current:
        direction = "hold"
        reason = f"{rates}: already at the balance threshold {balance:g}"
    else:
        direction = proposed
        dominant = "false positives" if proposed == "raise" else "false negatives"
        reason = (f"{rates}: {dominant} dominate (imbalance {imbalance:+.3f}); {direction} "
                  f"{current:g} -> {recommended:g} towards the balance threshold {balance:g}")
    if direction == "hold":
        recommended = current
    return AdaptiveStep(direction=direction, current_threshold=current,
                        recommended_threshold=recommended, fp=fp, fn=fn, labelled=labelled,
                        fp_rate=fp / labelled if labelled else math.nan,
                        fn_rate=fn / labelled if labelled else math.nan, imbalance=imbalance,
                        balance_threshold=balance, band=band, reason=reason)


def _curve(curve: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    expectation = "a threshold curve (polars DataFrame with threshold, tp, fp, tn, fn)"
    if not isinstance(curve, pl.DataFrame) or curve.height == 0:
        raise invalid("curve", expectation, curve)
    if any(c not in curve.columns for c in ("threshold", *_k.COUNT_COLUMNS)):
        raise invalid("curve", expectation, f"columns {curve.columns}")
    thresholds = curve["threshold"].to_numpy().astype(np.float64)
    return thresholds, {c: curve[c].to_numpy().astype(np.int64) for c in _k.COUNT_COLUMNS}
