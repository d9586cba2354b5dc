"""Decision thresholds for binary scores: the full threshold curve and the best threshold.

A score ``s`` is predicted positive when ``s >= threshold``.
[`threshold_curve`][mlmkit.analysis.thresholds.threshold_curve] evaluates every distinct score
as a threshold in O(n log n) (for float64 scores in [0, 2) one ``np.sort`` of keys packing score
bits and label, otherwise two sorts and a linear merge; then cumulative sums),
[`threshold_curve_from_histogram`][mlmkit.analysis.thresholds.threshold_curve_from_histogram]
builds the same frame from counts aggregated per distinct score or per score bin (e.g. by SQL
``GROUP BY``), and [`best_threshold`][mlmkit.analysis.thresholds.best_threshold] /
[`best_threshold_from_curve`][mlmkit.analysis.thresholds.best_threshold_from_curve] pick the
threshold optimising a metric, optionally under a precision / recall constraint or as the minimum
expected cost.

Rates that are 0 / 0 (precision with no predicted positive, recall without positives) are NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, check_real, invalid
from mlmkit.analysis.metrics.intervals import html_table
from mlmkit.analysis.thresholds import kernels as _k
from mlmkit.catalogue import Use, select

__all__ = [
    "METRICS",
    "ThresholdResult",
    "best_threshold",
    "best_threshold_from_curve",
    "threshold_curve",
    "threshold_curve_from_histogram",
]

#: Metrics `best_threshold` can optimise ("cost" is minimised, every other one maximised).
METRICS = select(use=Use.THRESHOLD)


@dataclass(frozen=True)
class ThresholdResult:
    """The chosen threshold and its confusion counts.

    Attributes
    ----------
    threshold : float
        Predict positive when ``score >= threshold``; NaN when no threshold is feasible.
    metric : str
        The optimised metric (one of `METRICS`).
    value : float
        The metric at ``threshold`` (expected cost per prediction for ``"cost"``).
    tp, fp, tn, fn : int
        Confusion counts at ``threshold`` (0 when infeasible).
    precision, recall : float
        Precision and recall at ``threshold`` (NaN when 0 / 0 or infeasible).
    feasible : bool
        False when no candidate threshold satisfies the constraint.
    reason : str
        Empty when feasible, otherwise why not (e.g. the best precision reachable).
    curve : polars.DataFrame
        The evaluated candidates: the curve columns plus the metric (and a ``feasible`` column
        when a constraint was given).
    """

    threshold: float
    metric: str
    value: float
    tp: int
    fp: int
    tn: int
    fn: int
    precision: float
    recall: float
    feasible: bool
    reason: str = ""
    curve: pl.DataFrame = field(default_factory=pl.DataFrame, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the scalar fields as a dict (without the curve)."""
        result = asdict(self)
        del result["curve"]
        return result

    def _repr_html_(self) -> str:
        return html_table(self.to_dict(), title="ThresholdResult")


def threshold_curve(actual: Any, score: Any) -> pl.DataFrame:
    """Confusion counts and rates at every distinct score used as threshold.

    Parameters
    ----------
    actual : array-like of bool or 0 / 1
        True labels (1 = positive).
    score : array-like of float
        Scores; a row is predicted positive when ``score >= threshold``. Any finite real
        values are accepted (probabilities, ``decision_function`` margins, log-odds).

    Returns
    -------
    polars.DataFrame
        One row per distinct score, ascending: ``threshold``, ``tp``, ``fp``, ``tn``, ``fn``
        (int64), ``precision``, ``recall``, ``f1_score``, ``specificity``, ``accuracy``
        (float64, NaN when 0 / 0). The first row predicts every row positive.

    Raises
    ------
    ValidationError
        When labels are not binary, scores are not finite or lengths differ.

    Examples
    --------
    >>> curve = threshold_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> curve["threshold"].to_list()
    [0.1, 0.35, 0.4, 0.8]
    >>> curve["tp"].to_list(), curve["fp"].to_list()
    ([2, 2, 1, 1], [2, 1, 1, 0])
    >>> curve["precision"].round(4).to_list()
    [0.5, 0.6667, 0.5, 1.0]
    """
    positive = _k.as_labels("actual", actual)
    values = _k.as_scores("score", score, positive.size)
    thresholds, tp, fp = _k.sorted_counts(positive, values)
    n_pos = int(tp[0])
    return _frame(thresholds, tp, fp, n_pos, values.size - n_pos)


def threshold_curve_from_histogram(thresholds_or_bin_edges: Any, pos_counts: Any,
                                   neg_counts: Any) -> pl.DataFrame:
    """The `threshold_curve` frame from counts aggregated per score or per score bin.

    Parameters
    ----------
    thresholds_or_bin_edges : array-like of float
        Strictly increasing. Either the distinct scores (same length as the counts; e.g. from
        ``GROUP BY score``) or bin edges (one longer than the counts), where bin ``i`` holds
        scores in ``[edges[i], edges[i + 1])``; each bin's lower edge is then its threshold,
        which is exact for every score inside the bins.
    pos_counts, neg_counts : array-like of non-negative int
        Number of positive / negative rows per score or bin.

    Returns
    -------
    polars.DataFrame
        Same columns as [`threshold_curve`][mlmkit.analysis.thresholds.threshold_curve], one
        row per score or bin (bins with no rows are kept; they repeat the counts of the next bin
        up).

    Examples
    --------
    >>> curve = threshold_curve_from_histogram([0.1, 0.35, 0.4, 0.8], [0, 1, 0, 1], [1, 0, 1, 0])
    >>> curve.equals(threshold_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]))
    True
    >>> threshold_curve_from_histogram([0.0, 0.5, 1.0], [1, 3], [4, 2])["recall"].to_list()
    [1.0, 0.75]
    """
    edges = _k.as_1d("thresholds_or_bin_edges", thresholds_or_bin_edges)
    pos = _counts("pos_counts", pos_counts)
    neg = _counts("neg_counts", neg_counts)
    if neg.size != pos.size:
        raise invalid("neg_counts", f"the same length as pos_counts ({pos.size})",
                      f"length {neg.size}")
    if edges.size not in (pos.size, pos.size + 1) or edges.dtype.kind not in "iuf":
        raise invalid("thresholds_or_bin_edges",
                      f"{pos.size} thresholds or {pos.size + 1} bin edges (numbers)",
                      thresholds_or_bin_edges)
    edges = edges.astype(np.float64)
    if np.isnan(edges).any() or not np.all(np.diff(edges) > 0):
        raise invalid("thresholds_or_bin_edges", "strictly increasing numbers",
                      thresholds_or_bin_edges)
    tp = np.cumsum(pos[::-1])[::-1].copy()
    fp = np.cumsum(neg[::-1])[::-1].copy()
    n_pos, n_neg = int(tp[0]), int(fp[0])
    if n_pos + n_neg == 0:
        raise invalid("pos_counts", "counts with at least one row in total", pos_counts)
    return _frame(edges[: pos.size], tp, fp, n_pos, n_neg)


def best_threshold(actual: Any, score: Any, *, metric: str | None = None,
                   threshold_range: tuple[float, float] | None = None, step: float | None = None,
                   constraint: dict[str, float] | None = None,
                   cost_false_positive: float | None = None,
                   cost_false_negative: float | None = None,
                   current: float | None = None) -> ThresholdResult:
    """The threshold optimising ``metric`` over the distinct scores or a grid.

    Parameters
    ----------
    actual, score : array-like
        As in [`threshold_curve`][mlmkit.analysis.thresholds.threshold_curve].
    metric : str, optional
        One of `METRICS`. Default ``"f1_score"``, or ``"cost"`` when costs are given.
        ``"cost"`` is the expected cost per prediction
        ``(cost_false_positive * fp + cost_false_negative * fn) / n`` and is minimised; every
        other metric is maximised.
    threshold_range : (float, float), optional
        Only thresholds in ``[low, high]`` are candidates.
    step : float, optional
        Grid mode: candidates are ``low, low + step, ..., high`` (inclusive; points rounded to
        12 decimals so float steps land on round numbers). Without ``threshold_range`` the grid
        spans the scores, from ``floor(min / step) * step`` to ``ceil(max / step) * step``.
        Exact mode (``step=None``): every distinct score in the range.
    constraint : dict, optional
        ``{"precision_at_least": p}`` and / or ``{"recall_at_least": r}``: only thresholds
        meeting them are candidates. When none does, ``feasible`` is False, ``threshold`` NaN and
        ``reason`` states the best value reachable.
    cost_false_positive, cost_false_negative : float, optional
        Non-negative costs, required for ``metric="cost"``.
    current : float, optional
        The threshold in use. Ties (metric values within 1e-12 relative) are broken by the
        candidate closest to ``current``; without it, by the lowest threshold.

    Returns
    -------
    ThresholdResult

    Examples
    --------
    >>> actual = [0, 0, 1, 0, 1, 1]
    >>> score = [0.1, 0.3, 0.35, 0.5, 0.7, 0.9]
    >>> r = best_threshold(actual, score)
    >>> r.threshold, round(r.value, 4), (r.tp, r.fp, r.tn, r.fn)
    (0.35, 0.8571, (3, 1, 2, 0))
    >>> best_threshold(actual, score, metric="recall",
    ...                constraint={"precision_at_least": 0.9}).threshold
    0.7
    >>> best_threshold(actual, score, step=0.25).threshold
    0.25
    >>> best_threshold(actual, score, cost_false_positive=1, cost_false_negative=5).threshold
    0.35
    """
    curve = threshold_curve(actual, score)
    return best_threshold_from_curve(
        curve, metric=metric, threshold_range=threshold_range, step=step, constraint=constraint,
        cost_false_positive=cost_false_positive, cost_false_negative=cost_false_negative,
        current=current)


def best_threshold_from_curve(curve: pl.DataFrame, *, metric: str | None = None,
                              threshold_range: tuple[float, float] | None = None,
                              step: float | None = None,
                              constraint: dict[str, float] | None = None,
                              cost_false_positive: float | None = None,
                              cost_false_negative: float | None = None,
                              current: float | None = None) -> ThresholdResult:
    """`best_threshold` on a curve from `threshold_curve` or a histogram.

    ``curve`` needs the columns ``threshold`` (strictly increasing), ``tp``, ``fp``, ``tn`` and
    ``fn``. In grid mode a grid point between two curve thresholds gets the counts of the next
    curve threshold up, which is exact for a curve over distinct scores and at bin resolution for
    a curve over score bins. Other parameters as in
    [`best_threshold`][mlmkit.analysis.thresholds.best_threshold].

    Examples
    --------
    >>> curve = threshold_curve_from_histogram([0.0, 0.25, 0.5, 0.75, 1.0],
    ...                                        [1, 2, 10, 30], [40, 20, 5, 2])
    >>> r = best_threshold_from_curve(curve, metric="accuracy")
    >>> r.threshold, round(r.value, 4)
    (0.5, 0.9091)
    >>> best_threshold_from_curve(curve, constraint={"recall_at_least": 0.99}).threshold
    0.0
    """
    thresholds, counts = _curve_counts(curve)
    metric = _resolve_metric(metric, cost_false_positive, cost_false_negative)
    cost_fp = 0.0 if cost_false_positive is None else cost_false_positive
    cost_fn = 0.0 if cost_false_negative is None else cost_false_negative
    constraints = _k.check_constraint(constraint)
    bounds = _k.check_range(threshold_range)
    if current is not None:
        current = check_real("current", current)
    if step is None:
        low, high = bounds if bounds else (-math.inf, math.inf)
        keep = (thresholds >= low) & (thresholds <= high)
        candidates, rows = thresholds[keep], {c: v[keep] for c, v in counts.items()}
    else:
        candidates, rows = _grid_rows(thresholds, counts, bounds, step)
    table = _frame(candidates, rows["tp"], rows["fp"], int(counts["tp"][0] + counts["fn"][0]),
                   int(counts["fp"][0] + counts["tn"][0]))
    if metric not in table.columns:
        table = table.with_columns(pl.Series(metric, _k.extra_metric(metric, rows, cost_fp,
                                                                     cost_fn)))
    return _choose(table, metric, constraints, current)


def _frame(thresholds: np.ndarray, tp: np.ndarray, fp: np.ndarray, n_pos: int,
           n_neg: int) -> pl.DataFrame:
    columns = _k.metric_columns(tp.astype(np.int64, copy=False), fp.astype(np.int64, copy=False),
                                n_pos, n_neg)
    return pl.DataFrame({"threshold": thresholds, **columns})


def _counts(name: str, values: Any) -> np.ndarray:
    array = _k.as_1d(name, values)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu" or (array < 0).any():
        raise invalid(name, "non-negative integer counts", values)
    return array.astype(np.int64)


def _curve_counts(curve: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    expectation = "a polars DataFrame with columns threshold, tp, fp, tn, fn (threshold_curve)"
    if not isinstance(curve, pl.DataFrame) or curve.height == 0:
        raise invalid("curve", expectation, curve)
    missing = [c for c in ("threshold", *_k.COUNT_COLUMNS) if c not in curve.columns]
    if missing:
        raise invalid("curve", expectation, f"columns {curve.columns}")
    thresholds = curve["threshold"].to_numpy().astype(np.float64)
    if np.isnan(thresholds).any() or not np.all(np.diff(thresholds) > 0):
        raise invalid("curve", "a curve with strictly increasing thresholds", "unsorted thresholds")
    counts = {c: curve[c].to_numpy().astype(np.int64) for c in _k.COUNT_COLUMNS}
    return thresholds, counts


def _resolve_metric(metric: str | None, cost_fp: float | None, cost_fn: float | None) -> str:
    has_costs = cost_fp is not None or cost_fn is not None
    if metric is None:
        metric = "cost" if has_costs else "f1_score"
    check_choice("metric", metric, METRICS)
    if metric == "cost":
        for name, value in (("cost_false_positive", cost_fp), ("cost_false_negative", cost_fn)):
            if value is None:
                raise invalid(name, "a non-negative number when metric='cost'", value)
            check_real(name, value, low=0.0)
        if cost_fp == 0 and cost_fn == 0:
            raise invalid("cost_false_negative", "positive when cost_false_positive is 0", cost_fn)
    elif has_costs:
        raise invalid("metric", "'cost' (or None) when costs are given", metric)
    return metric


def _grid_rows(thresholds: np.ndarray, counts: dict[str, np.ndarray],
               bounds: tuple[float, float] | None,
               step: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    step = check_real("step", step, low=0.0, low_open=True)
    if bounds is None:
        low = math.floor(thresholds[0] / step) * step
        high = math.ceil(thresholds[-1] / step) * step
    else:
        low, high = bounds
    points = _k.grid(low, high, step)
    index = np.searchsorted(thresholds, points, side="left")
    inside = index < thresholds.size
    safe = np.minimum(index, thresholds.size - 1)
    rows = {c: np.where(inside, v[safe], 0) for c, v in counts.items()}
    rows["tn"] = np.where(inside, rows["tn"], counts["fp"][0] + counts["tn"][0])
    rows["fn"] = np.where(inside, rows["fn"], counts["tp"][0] + counts["fn"][0])
    return points, rows


def _choose(table: pl.DataFrame, metric: str, constraints: dict[str, float],
            current: float | None) -> ThresholdResult:
    values = table[metric].to_numpy()
    objective = -values if metric == "cost" else values.copy()
    feasible = np.ones(table.height, dtype=bool)
    for key, bound in constraints.items():
        column = key.removesuffix("_at_least")
        with np.errstate(invalid="ignore"):
            feasible &= table[column].to_numpy() >= bound
    if constraints:
        table = table.with_columns(pl.Series("feasible", feasible))
    objective[~feasible | np.isnan(objective)] = -math.inf
    if table.height == 0 or not np.isfinite(objective).any():
        return _infeasible(table, metric, constraints)
    best = objective.max()
    ties = np.flatnonzero(objective >= best - _k.TIE_TOLERANCE * max(1.0, abs(best)))
    thresholds = table["threshold"].to_numpy()
    pick = ties[0] if current is None else ties[np.argmin(np.abs(thresholds[ties] - current))]
    row = table.row(int(pick), named=True)
    return ThresholdResult(
        threshold=float(row["threshold"]), metric=metric, value=float(values[pick]),
        tp=int(row["tp"]), fp=int(row["fp"]), tn=int(row["tn"]), fn=int(row["fn"]),
        precision=float(row["precision"]), recall=float(row["recall"]), feasible=True,
        curve=table)


def _infeasible(table: pl.DataFrame, metric: str, constraints: dict[str, float]) -> ThresholdResult:
    if table.height == 0:
        reason = "no candidate threshold in threshold_range"
    elif constraints:
        reached = ", ".join(f"{key.removesuffix('_at_least')} >= {bound} (best reachable "
                            f"{np.nanmax(table[key.removesuffix('_at_least')].to_numpy()):.6g})"
                            for key, bound in constraints.items())
        reason = f"no candidate threshold meets {reached}"
    else:
        reason = f"{metric} is undefined (0 / 0) at every candidate threshold"
    return ThresholdResult(threshold=math.nan, metric=metric, value=math.nan, tp=0, fp=0, tn=0,
                           fn=0, precision=math.nan, recall=math.nan, feasible=False,
                           reason=reason, curve=table)
