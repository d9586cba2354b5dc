"""Private kernels of `mlmkit.analysis.thresholds` (input checks, sorting, metric columns)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_probability, check_real, invalid

COUNT_COLUMNS = ("tp", "fp", "tn", "fn")
CONSTRAINT_KEYS = ("precision_at_least", "recall_at_least")
MAX_GRID_POINTS = 10_000_000
TIE_TOLERANCE = 1e-12


def as_1d(name: str, values: Any) -> np.ndarray:
    """Return ``values`` (list, numpy array, polars Series) as a non-empty 1-D numpy array."""
    if isinstance(values, pl.Series):
        values = values.to_numpy()
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise invalid(name, "a 1-D array-like of numbers", values) from err
    if array.ndim != 1 or array.size == 0:
        raise invalid(name, "a non-empty 1-D array-like", values)
    return array


def as_labels(name: str, values: Any) -> np.ndarray:
    """Return binary labels (bool, or numbers equal to 0 / 1) as a bool array."""
    array = as_1d(name, values)
    if array.dtype == np.bool_:
        return array
    if array.dtype == np.uint8 and array.max() <= 1:  # 0 / 1 bytes are bools: no copy
        return array.view(np.bool_)
    if array.dtype.kind not in "iuf":
        raise invalid(name, "binary labels (bool or 0 / 1)", values)
    positive = array == 1
    if not np.all(positive | (array == 0)):
        raise invalid(name, "binary labels (bool or 0 / 1)", values)
    return positive


def as_scores(name: str, values: Any, size: int) -> np.ndarray:
    """Return finite real scores of length ``size`` as a float array (float32 kept)."""
    array = as_1d(name, values)
    if array.dtype.kind in "iub" or array.dtype == np.float16:
        array = array.astype(np.float64)
    elif array.dtype.kind != "f":
        raise invalid(name, "an array of finite real numbers", values)
    if array.size != size:
        raise invalid(name, f"an array of the same length as actual ({size})",
                      f"length {array.size}")
    if not np.isfinite(array).all():
        raise invalid(name, "an array of finite real numbers (no NaN / inf)", values)
    return array


#: Scores whose float64 bit pattern is below this (``+0.0 <= score < 2.0``) fit a packed key.
_PACKABLE_BELOW = np.uint64(1 << 62)


def sorted_counts(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """Distinct thresholds (ascending) with the positives and negatives scoring ``>=`` each.

    float64 scores in ``[0, 2)`` (probabilities) take one ``np.sort`` of packed uint64 keys
    (`_packed_counts`); other scores take `_merged_counts`. Both are exact.
    """
    if score.dtype == np.float64:
        bits = score.view(np.uint64)
        if bits.max() < _PACKABLE_BELOW:
            return _packed_counts(positive, bits)
    return _merged_counts(positive, score)


def _packed_counts(positive: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """`sorted_counts` for float64 bit patterns below ``2**62`` (``+0.0 <= score < 2``).

    Non-negative float64 bit patterns sort like the floats, and below ``2**62`` the top bit is
    free: ``bits << 1 | label`` keeps every score bit plus the label, so a single SIMD
    ``np.sort`` of these keys orders scores and carries labels along (no argsort, no gather).
    """
    n = bits.size
    key = np.left_shift(bits, np.uint64(1))
    key |= positive
    key.sort()
    below = np.empty(n + 1, dtype=np.int64)  # below[i]: positives strictly below position i
    below[0] = 0
    np.bitwise_and(key, np.uint64(1), out=below[1:].view(np.uint64))  # the labels
    np.cumsum(below[1:], out=below[1:])
    key >>= np.uint64(1)  # back to the sorted scores' bit patterns
    n_pos = int(below[n])
    tp = np.subtract(n_pos, below[:n], out=below[:n])  # positives at or above position i
    thresholds = key.view(np.float64)
    new_score = key[1:] != key[:-1]
    if np.count_nonzero(new_score) == n - 1:  # all scores distinct: no gathers needed
        fp = np.arange(n, 0, -1, dtype=np.int64)
    else:
        index = np.flatnonzero(np.concatenate([[True], new_score]))
        tp = tp[index]
        thresholds = thresholds[index]
        fp = np.subtract(n, index, out=index)
    fp -= tp
    return thresholds, tp, fp


def _merged_counts(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """`sorted_counts` for any finite scores.

    Positive and negative scores are sorted separately in place (``np.sort`` is SIMD-accelerated
    and much faster than ``argsort``); a stable argsort of the two sorted runs is then a single
    O(n) timsort merge that tells which sorted value came from a positive. Fresh n-sized
    allocations are kept to a minimum because first-touch page faults dominate at 1e7 rows.
    """
    n = score.size
    n_pos = int(np.count_nonzero(positive))
    merged = np.empty(n, dtype=score.dtype)
    np.compress(positive, score, out=merged[:n_pos])
    np.compress(~positive, score, out=merged[n_pos:])
    merged[:n_pos].sort()
    merged[n_pos:].sort()
    order = np.argsort(merged, kind="stable")  # timsort: one O(n) merge of the two runs
    is_pos = order < n_pos
    merged = merged[order]
    tp = np.cumsum(is_pos, dtype=np.int64, out=order)  # positives among the first i + 1
    tp -= is_pos  # positives strictly below position i
    np.subtract(n_pos, tp, out=tp)  # positives at or above position i
    del is_pos
    starts = np.flatnonzero(merged[1:] != merged[:-1])
    if starts.size == n - 1:  # all scores distinct: no gathers needed
        index = np.arange(n, dtype=np.int64)
        thresholds = merged
    else:
        starts += 1
        index = np.concatenate([np.zeros(1, dtype=np.int64), starts])
        tp = tp[index]
        thresholds = merged[index]
    fp = np.subtract(n, index, out=index)
    fp -= tp
    return thresholds.astype(np.float64, copy=False), tp, fp


def metric_columns(tp: np.ndarray, fp: np.ndarray, n_pos: int, n_neg: int) -> dict[str, Any]:
    """Counts and rate columns of a threshold curve (NaN where a rate is 0 / 0).

    Counts are converted to float once (exact below 2**53); rates are computed in place.
    """
    tn = np.subtract(n_neg, fp)
    fn = np.subtract(n_pos, tp)
    tpf = tp.astype(np.float64)  # counts < 2**53: exact, and float loops avoid casting
    fpf = fp.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.add(tpf, fpf)
        f1 = precision + n_pos
        np.divide(tpf, precision, out=precision)
        np.divide(tpf, f1, out=f1)
        f1 *= 2.0
        specificity = np.subtract(n_neg, fpf)
        accuracy = specificity + tpf
        accuracy /= n_pos + n_neg
        specificity /= n_neg
        tpf /= n_pos
    recall = tpf
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "precision": precision, "recall": recall,
            "f1_score": f1, "specificity": specificity, "accuracy": accuracy}


def extra_metric(metric: str, counts: Mapping[str, np.ndarray], cost_fp: float,
                 cost_fn: float) -> np.ndarray:
    """Values of ``metric`` for rows of counts (metrics not stored in the curve)."""
    tp, fp, tn, fn = (counts[c].astype(np.float64) for c in COUNT_COLUMNS)
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "balanced_accuracy":
            return 0.5 * (tp / (tp + fn) + tn / (tn + fp))
        if metric == "mcc":
            denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
            return (tp * tn - fp * fn) / denominator
        return (cost_fp * fp + cost_fn * fn) / (tp + fp + tn + fn)


def check_constraint(constraint: Any) -> dict[str, float]:
    """Validate ``constraint`` (None or a mapping of constraint name to a probability)."""
    if constraint is None:
        return {}
    expectation = ("None or a mapping with keys 'precision_at_least' and / or "
                   "'recall_at_least'")
    if not isinstance(constraint, Mapping) or not constraint:
        raise invalid("constraint", expectation, constraint)
    result = {}
    for key, value in constraint.items():
        if key not in CONSTRAINT_KEYS:
            raise invalid("constraint", expectation, constraint)
        result[key] = check_probability(f"constraint[{key!r}]", value)
    return result


def check_range(threshold_range: Any) -> tuple[float, float] | None:
    """Validate ``threshold_range`` (None or an increasing pair of finite numbers)."""
    if threshold_range is None:
        return None
    expectation = "None or a (low, high) pair of finite numbers with low <= high"
    if isinstance(threshold_range, (str, bytes)):
        raise invalid("threshold_range", expectation, threshold_range)
    try:
        low, high = threshold_range
        low = check_real("threshold_range", low)
        high = check_real("threshold_range", high)
    except (TypeError, ValueError) as err:
        raise invalid("threshold_range", expectation, threshold_range) from err
    if low > high:
        raise invalid("threshold_range", expectation, threshold_range)
    return low, high


def grid(low: float, high: float, step: float) -> np.ndarray:
    """Inclusive grid ``low, low + step, ..., <= high``, robust to float steps.

    The number of points is computed with a 1e-9 relative slack and every point is rounded to
    12 decimals, so ``grid(0, 1, 0.1)`` holds exactly ``0.3`` (not ``0.30000000000000004``)
    and ends at ``1.0``.
    """
    count = math.floor((high - low) / step * (1.0 + 1e-9) + 1e-9) + 1
    if count > MAX_GRID_POINTS:
        raise invalid("step", f"large enough for at most {MAX_GRID_POINTS} grid points", step)
    points = np.round(low + step * np.arange(count, dtype=np.float64), 12)
    return np.minimum(points, high) if points[-1] > high else points
