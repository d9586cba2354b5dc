"""Threshold grids, counts at a threshold and the bootstrap of an improvement between two.

Everything works on a threshold curve
([`threshold_curve`][mlmkit.analysis.thresholds.threshold_curve] or
[`threshold_curve_from_histogram`][mlmkit.analysis.thresholds.threshold_curve_from_histogram]),
i.e. on counts aggregated per distinct score or per score cell, never on raw rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, check_int, check_probability, check_real, invalid
from mlmkit.analysis.metrics.intervals import html_table
from mlmkit.analysis.thresholds import kernels as _k
from mlmkit.analysis.thresholds.curve import METRICS as TUNING_METRICS
from mlmkit.analysis.thresholds.curve import ThresholdResult

__all__ = [
    "ImprovementInterval",
    "TUNING_METRICS",
    "best_on_count_curve",
    "bootstrap_threshold_improvement",
    "count_curve",
    "counts_at_threshold",
    "curve_arrays",
    "metric_from_counts",
    "threshold_grid",
]

_DIRECTIONS = ("raise", "lower", "hold")


def threshold_grid(low: float, high: float, step: float) -> np.ndarray:
    """The inclusive grid ``low, low + step, ..., <= high`` used by grid-mode threshold search.

    Points are rounded to 12 decimals, so float steps land on round numbers (the same grid as
    [`mlmkit.analysis.thresholds.best_threshold`][mlmkit.analysis.thresholds.best_threshold]
    with ``step``).

    Examples
    --------
    >>> threshold_grid(0.5, 0.9, 0.05).tolist()
    [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]
    """
    low = check_real("low", low)
    high = check_real("high", high, low=low)
    step = check_real("step", step, low=0.0, low_open=True)
    return _k.grid(low, high, step)


def count_curve(actual: Any, score: Any) -> pl.DataFrame:
    """Only the count columns of `threshold_curve`.

    ``threshold, tp, fp, tn, fn`` at every distinct score, ascending: what
    [`best_threshold_from_curve`][mlmkit.analysis.thresholds.best_threshold_from_curve] needs,
    without computing the rate columns twice on large logs.

    Examples
    --------
    >>> count_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])["fp"].to_list()
    [2, 1, 1, 0]
    """
    positive = _k.as_labels("actual", actual)
    values = _k.as_scores("score", score, positive.size)
    thresholds, tp, fp = _k.sorted_counts(positive, values)
    n_pos, n_neg = int(tp[0]), int(values.size - tp[0])
    return pl.DataFrame({"threshold": thresholds, "tp": tp, "fp": fp, "tn": n_neg - fp,
                         "fn": n_pos - tp})


def best_on_count_curve(curve: pl.DataFrame, *, metric: str = "f1_score",
                        threshold_range: tuple[float, float] | None = None,
                        current: float | None = None, cost_false_positive: float = 0.0,
                        cost_false_negative: float = 0.0) -> ThresholdResult:
    """Exact-mode `best_threshold_from_curve`, lean.

    Same answer (every curve threshold in ``threshold_range`` is a candidate; ties within
    1e-12 relative go to the candidate closest to ``current``, else the lowest), but only
    ``metric`` is computed and the range is a slice, not a copy: on 1e7-row curves this is
    what keeps exact optimisation a small fraction of the sort. The returned ``curve`` is the
    count curve in range plus the ``metric`` column.

    Examples
    --------
    >>> r = best_on_count_curve(count_curve([0, 0, 1, 0, 1, 1], [0.1, 0.3, 0.35, 0.5, 0.7, 0.9]))
    >>> r.threshold, round(r.value, 4)
    (0.35, 0.8571)
    """
    check_choice("metric", metric, TUNING_METRICS)
    thresholds, counts = curve_arrays(curve)
    low, high = _k.check_range(threshold_range) or (-math.inf, math.inf)
    start = int(np.searchsorted(thresholds, low, side="left"))
    stop = int(np.searchsorted(thresholds, high, side="right"))
    rows = {c: v[start:stop] for c, v in counts.items()}
    values = metric_from_counts(metric, rows["tp"], rows["fp"], rows["tn"], rows["fn"],
                                cost_false_positive=cost_false_positive,
                                cost_false_negative=cost_false_negative)
    table = curve.slice(start, stop - start).with_columns(pl.Series(metric, values))
    minimise = metric == "cost"
    # fmin / fmax skip NaN (0 / 0) and give NaN only when every value is NaN
    best = math.nan if values.size == 0 else float(
        np.fmin.reduce(values) if minimise else np.fmax.reduce(values))
    if math.isnan(best):
        reason = ("no candidate threshold in threshold_range" if values.size == 0 else
                  f"{metric} is undefined (0 / 0) at every candidate threshold")
        return ThresholdResult(threshold=math.nan, metric=metric, value=math.nan, tp=0, fp=0,
                               tn=0, fn=0, precision=math.nan, recall=math.nan,
                               feasible=False, reason=reason, curve=table)
    tolerance = _k.TIE_TOLERANCE * max(1.0, abs(best))
    ties = np.flatnonzero(values <= best + tolerance if minimise else
                          values >= best - tolerance)
    candidates = thresholds[start:stop]
    pick = int(ties[0] if current is None else
               ties[np.argmin(np.abs(candidates[ties] - check_real("current", current)))])
    tp, fp, tn, fn = (int(rows[c][pick]) for c in _k.COUNT_COLUMNS)
    return ThresholdResult(
        threshold=float(candidates[pick]), metric=metric, value=float(values[pick]), tp=tp,
        fp=fp, tn=tn, fn=fn, precision=float(metric_from_counts("precision", tp, fp, tn, fn)),
        recall=float(metric_from_counts("recall", tp, fp, tn, fn)), feasible=True,
        curve=table)


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
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "f1_score":  # 2 tp / (2 tp + fp + fn), in three passes over 1e7 rows
            twice_tp = np.multiply(tp, 2.0)
            denominator = np.asarray(np.add(fp, fn, dtype=np.float64))
            denominator += twice_tp
            return np.divide(twice_tp, denominator, out=denominator)
    tp_ = np.asarray(tp, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "precision":
            return np.asarray(tp_ / np.add(tp_, fp))
        if metric == "recall":
            return np.asarray(tp_ / np.add(tp_, fn))
        if metric == "accuracy":
            correct = np.add(tp_, tn)
            return np.asarray(correct / (correct + np.add(fp, fn, dtype=np.float64)))
        if metric == "specificity":
            tn_ = np.asarray(tn, dtype=np.float64)
            return np.asarray(tn_ / np.add(tn_, fp))
        counts = {"tp": tp_, "fp": np.asarray(fp, dtype=np.float64),
                  "tn": np.asarray(tn, dtype=np.float64), "fn": np.asarray(fn, dtype=np.float64)}
        return np.asarray(_k.extra_metric(metric, counts, cost_false_positive,
                                          cost_false_negative))


def counts_at_threshold(curve: pl.DataFrame, threshold: float) -> dict[str, int]:
    """Confusion counts when predicting ``score >= threshold``, read off a threshold curve.

    Exact for a curve over distinct scores, and for a curve over cells whose lower edges
    include ``threshold``.

    Examples
    --------
    >>> from mlmkit.analysis.thresholds.curve import threshold_curve
    >>> counts_at_threshold(threshold_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.38)
    {'tp': 1, 'fp': 1, 'tn': 1, 'fn': 1}
    """
    _check_curve(curve)
    threshold = check_real("threshold", threshold)
    index = int(curve["threshold"].search_sorted(threshold, side="left"))
    first = curve.row(0, named=True)
    n_pos, n_neg = int(first["tp"] + first["fn"]), int(first["fp"] + first["tn"])
    if index >= curve.height:
        return {"tp": 0, "fp": 0, "tn": n_neg, "fn": n_pos}
    row = curve.row(index, named=True)
    return {c: int(row[c]) for c in _k.COUNT_COLUMNS}


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
        return html_table(self.to_dict(), title="ImprovementInterval")


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
    >>> from mlmkit.analysis.thresholds.curve import threshold_curve
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
    optimal = check_real("optimal", optimal)
    current = check_real("current", current)
    edges = np.unique([optimal, current])
    at = [counts_at_threshold(curve, float(edge)) for edge in edges]
    n_pos, n_neg = at[0]["tp"] + at[0]["fn"], at[0]["fp"] + at[0]["tn"]
    tp_edges = np.array([n_pos] + [a["tp"] for a in at] + [0])
    fp_edges = np.array([n_neg] + [a["fp"] for a in at] + [0])
    cells = np.concatenate([tp_edges[:-1] - tp_edges[1:], fp_edges[:-1] - fp_edges[1:]])
    total = int(cells.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(total, cells / total, size=n_resamples)
    k = edges.size + 1
    tp_at = np.cumsum(draws[:, :k][:, ::-1], axis=1)[:, ::-1]
    fp_at = np.cumsum(draws[:, k:][:, ::-1], axis=1)[:, ::-1]
    pos_total, neg_total = tp_at[:, 0], fp_at[:, 0]

    def value(threshold: float) -> np.ndarray:
        j = int(np.searchsorted(edges, threshold)) + 1
        tp, fp = tp_at[:, j], fp_at[:, j]
        return metric_from_counts(metric, tp, fp, neg_total - fp, pos_total - tp,
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


def _check_curve(curve: Any) -> None:
    expectation = "a threshold curve (polars DataFrame with threshold, tp, fp, tn, fn)"
    if not isinstance(curve, pl.DataFrame) or curve.height == 0:
        raise invalid("curve", expectation, curve)
    if any(c not in curve.columns for c in ("threshold", *_k.COUNT_COLUMNS)):
        raise invalid("curve", expectation, f"columns {curve.columns}")


def curve_arrays(curve: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The thresholds and the count columns of a checked threshold curve."""
    _check_curve(curve)
    thresholds = curve["threshold"].to_numpy().astype(np.float64, copy=False)
    return thresholds, {c: curve[c].to_numpy().astype(np.int64, copy=False)
                        for c in _k.COUNT_COLUMNS}
