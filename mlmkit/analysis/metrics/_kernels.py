"""Numeric kernels of the metrics (private): no validation, no warnings, NaN when undefined.

Exact ranking metrics are histogram metrics over one bin per distinct score: sorting the
scores once (label packed into the low bit of the sort key) yields per-distinct-score
counts of positives and negatives, from which ROC AUC and average precision follow exactly.
"""

from __future__ import annotations

import numpy as np

from mlmkit.analysis.metrics._inputs import BoolArray, FloatArray, IntArray
from mlmkit.catalogue import Kind, select

#: The keys of `count_metrics`.
COUNT_METRICS = select(kind=Kind.COUNT)


def confusion_counts(actual: BoolArray, predicted: BoolArray) -> tuple[int, int, int, int]:
    """Return ``(tp, fp, tn, fn)`` with three ``count_nonzero`` passes."""
    n = actual.shape[0]
    positives = int(np.count_nonzero(actual))
    predicted_positives = int(np.count_nonzero(predicted))
    tp = int(np.count_nonzero(actual & predicted))
    fp = predicted_positives - tp
    fn = positives - tp
    return tp, fp, n - tp - fp - fn, fn


def count_metrics(tp: object, fp: object, tn: object, fn: object) -> dict[str, FloatArray]:
    """Every count metric, element-wise over arrays of confusion counts (NaN for 0/0)."""
    tp_, fp_, tn_, fn_ = (np.asarray(x, dtype=np.float64) for x in (tp, fp, tn, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp_ / (tp_ + fn_)
        specificity = tn_ / (tn_ + fp_)
        denominator = np.sqrt((tp_ + fp_) * (tp_ + fn_)) * np.sqrt((tn_ + fp_) * (tn_ + fn_))
        return {
            "accuracy": (tp_ + tn_) / (tp_ + fp_ + tn_ + fn_),
            "precision": tp_ / (tp_ + fp_),
            "recall": recall,
            "f1_score": 2 * tp_ / (2 * tp_ + fp_ + fn_),
            "specificity": specificity,
            "balanced_accuracy": (recall + specificity) / 2,
            "mcc": (tp_ * tn_ - fp_ * fn_) / denominator,
        }


def score_groups(actual: BoolArray, score: FloatArray) -> tuple[FloatArray, IntArray, IntArray]:
    """Distinct scores ascending with the count of positives and negatives at each."""
    n = score.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0), empty, empty
    # Non-negative float64 bit patterns order like the floats; + 0.0 turns -0.0 into 0.0.
    key = (np.add(score, 0.0).view(np.int64) << 1) | actual
    key.sort()
    labels = (key & 1).astype(np.int64)
    bits = key >> 1
    change = np.empty(n, dtype=np.bool_)
    change[0] = True
    np.not_equal(bits[1:], bits[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    values = bits[starts].view(np.float64)
    if starts.shape[0] == n:
        return values, labels, 1 - labels
    pos = np.add.reduceat(labels, starts)
    neg = np.diff(np.append(starts, n)) - pos
    return values, pos, neg


def hist_auc(pos: np.ndarray, neg: np.ndarray) -> FloatArray:
    """ROC AUC over ordered bins (last axis), pairs within a bin counted 1/2."""
    pos = np.asarray(pos, dtype=np.int64)
    neg = np.asarray(neg, dtype=np.int64)
    below = np.cumsum(neg, axis=-1) - neg
    twice_u = np.sum(pos * (2 * below + neg), axis=-1)  # exact in int64
    pairs = pos.sum(axis=-1).astype(np.float64) * neg.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(twice_u / (2.0 * pairs), dtype=np.float64)


def hist_auc_bound(pos: np.ndarray, neg: np.ndarray) -> float:
    """Largest possible |histogram AUC - exact AUC|: half the within-bin pair share."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    pairs = pos.sum() * neg.sum()
    return float(0.5 * np.dot(pos, neg) / pairs) if pairs > 0 else float("nan")


def hist_average_precision(pos: np.ndarray, neg: np.ndarray) -> FloatArray:
    """Average precision over ordered bins (last axis), each bin one threshold."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    tp_at = np.flip(np.cumsum(np.flip(pos, axis=-1), axis=-1), axis=-1)
    fp_at = np.flip(np.cumsum(np.flip(neg, axis=-1), axis=-1), axis=-1)
    called = tp_at + fp_at
    precision = np.divide(tp_at, called, out=np.zeros_like(tp_at), where=called > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.sum(pos * precision, axis=-1) / pos.sum(axis=-1))


def uniform_bin_counts(
    actual: BoolArray, score: FloatArray, bins: int
) -> tuple[IntArray, IntArray]:
    """Positives and negatives per uniform score bin ``[k/bins, (k+1)/bins)`` (1.0 in the last)."""
    index = np.minimum((score * bins).astype(np.int64), bins - 1)
    total = np.bincount(index, minlength=bins)
    pos = np.bincount(index[actual], minlength=bins)
    return pos, total - pos
