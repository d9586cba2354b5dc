"""Multiclass metrics of the predicted probabilities: log loss and one-vs-rest ROC AUC.

Both come from aggregates: ``n`` and ``Σ -log p(actual class)`` for the log loss; per-class
histograms of ``p(class)`` split by whether the row's actual is that class for the AUC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_int, check_real, invalid
from mlmkit.analysis.metrics import _kernels
from mlmkit.analysis.metrics._inputs import warn_undefined
from mlmkit.analysis.metrics.multiclass.cells import (
    check_labels,
    label_indexes,
    named_classes,
)

__all__ = ["OneVsRestAUC", "multiclass_log_loss_from_sums", "ovr_auc_from_bins",
           "ovr_auc_from_histograms"]


def multiclass_log_loss_from_sums(n: int, sum_neg_log_proba: float) -> float:
    """Multiclass log loss from ``n`` and ``Σ -log p(actual class)``.

    To match scikit-learn's ``log_loss``, clip each probability to ``[eps, 1 - eps]``
    (``eps = 2.220446049250313e-16``) before the log, e.g. SQL
    ``-ln(least(greatest(p_true, eps), 1 - eps))``. Pass ``Σ(-log p)²`` with the same sum to
    `mean_interval_from_sums` for its normal interval. NaN with a warning when ``n`` is 0.

    Examples
    --------
    >>> round(multiclass_log_loss_from_sums(2, -math.log(0.8) - math.log(0.5)), 6)
    0.458145
    """
    n = check_int("n", n, low=0)
    total = check_real("sum_neg_log_proba", sum_neg_log_proba, low=0.0)
    if n == 0:
        warn_undefined(["log_loss"], "no rows")
        return math.nan
    return total / n


@dataclass(frozen=True)
class OneVsRestAUC:
    """One-vs-rest ROC AUC per class and averaged.

    Attributes
    ----------
    per_class : polars.DataFrame
        ``label``, ``roc_auc`` (NaN when the class has no rows or is every row), ``support``
        (rows of the class), ``error_bound`` (largest gap to the exact row AUC).
    macro, weighted, micro : float
        Mean over classes with a defined AUC, mean weighted by support, and the AUC of every
        (row, class) pair pooled (scikit-learn's ``average="micro"``).
    micro_error_bound : float
        Largest gap of ``micro`` to the exact value.
    """

    per_class: pl.DataFrame
    macro: float
    weighted: float
    micro: float
    micro_error_bound: float


def ovr_auc_from_histograms(pos_counts: Any, neg_counts: Any, *,
                            labels: Sequence[Any] | None = None) -> OneVsRestAUC:
    """One-vs-rest ROC AUC from per-class score histograms (scikit-learn ``multi_class="ovr"``).

    ``pos_counts[k, b]`` counts rows whose actual class is ``k`` and whose probability of
    class ``k`` falls in bin ``b``; ``neg_counts[k, b]`` the other rows in that bin. Bins are
    ordered by increasing probability and **shared by every class** (e.g. uniform bins on
    [0, 1], or every distinct probability); then per class this is
    [`auc_from_histograms`][mlmkit.analysis.metrics.auc_from_histograms], exact
    with one bin per distinct value and within ``error_bound`` otherwise (``0.5 / B`` times the
    score density for ``B`` uniform bins), and ``micro`` pools the histograms. ``macro`` and
    ``weighted`` average the classes that have rows (scikit-learn raises instead when a class
    is absent); an undefined class warns.

    Examples
    --------
    Two classes, three bins of ``p(class)``; rows of class ``y`` have ``p(y) = 1 - p(x)``:

    >>> r = ovr_auc_from_histograms([[0, 1, 2], [0, 1, 2]], [[2, 1, 0], [2, 1, 0]],
    ...                             labels=["x", "y"])
    >>> r.per_class["roc_auc"].round(4).to_list(), round(r.macro, 4), round(r.micro, 4)
    ([0.9444, 0.9444], 0.9444, 0.9444)
    """
    pos, neg = _class_histograms(pos_counts, neg_counts)
    names = check_labels(range(pos.shape[0]) if labels is None else labels, "labels")
    if len(names) != pos.shape[0]:
        raise invalid("labels", f"{pos.shape[0]} labels (one per histogram row)", list(names))
    k, b = np.nonzero(pos + neg)
    return _ovr_auc(names, k, b, pos[k, b], neg[k, b])


def ovr_auc_from_bins(frame: pl.DataFrame, *, labels: Sequence[Any]) -> OneVsRestAUC:
    """`ovr_auc_from_histograms` from the database's grouped rows: O(rows + K), never K x B.

    ``frame`` has ``class`` (a label of ``labels``), ``bin`` (shared bin index, increasing
    with the probability), ``positives`` and ``negatives`` (a repeated ``(class, bin)`` adds
    up); bins without rows count 0. A model with 20,000 classes and 10,000 bins has a
    2e8-cell K x B histogram (1.6 GB per side) but only as many rows as non-empty bins.

    Examples
    --------
    >>> rows = pl.DataFrame({"class": ["x", "x", "y", "y"], "bin": [1, 2, 1, 2],
    ...                      "positives": [1, 2, 1, 2], "negatives": [1, 0, 1, 0]})
    >>> round(ovr_auc_from_bins(rows, labels=["x", "y"]).macro, 4)
    0.8333
    """
    names = check_labels(labels, "labels")
    missing = set(frame["class"].to_list()) - set(names)
    if missing:
        raise invalid("labels", f"every class of the rows ({sorted(map(str, missing))[:10]})",
                      list(names)[:10])
    counts = [frame[c].cast(pl.Int64).to_numpy() for c in ("bin", "positives", "negatives")]
    if any((c < 0).any() for c in counts):
        raise invalid("frame", "non-negative bins and counts", frame.head(5).rows())
    return _ovr_auc(names, label_indexes(frame["class"], names), *counts)


def _ovr_auc(names: tuple[Any, ...], k: np.ndarray, b: np.ndarray, pos: np.ndarray,
             neg: np.ndarray) -> OneVsRestAUC:
    """Per-class and averaged AUCs of the non-empty (class, bin) counts, in int64 exactly."""
    size = len(names)
    if size < 2:
        raise invalid("pos_counts", "one histogram row per class (K >= 2)", size)
    span = int(b.max()) + 1 if b.size else 1
    keys, inverse = np.unique(k.astype(np.int64) * span + b, return_inverse=True)
    pos = np.bincount(inverse, weights=pos, minlength=keys.size).astype(np.int64)
    neg = np.bincount(inverse, weights=neg, minlength=keys.size).astype(np.int64)
    k, b = keys // span, keys % span  # sorted by class, then bin
    support = np.bincount(k, weights=pos, minlength=size).astype(np.int64)
    others = np.bincount(k, weights=neg, minlength=size).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if k.size else np.zeros(0, np.int64)
    twice_u = np.zeros(size, np.int64)
    within = np.zeros(size, np.float64)
    if k.size:
        run = np.cumsum(neg)
        before = np.repeat(run[starts] - neg[starts], np.diff(np.r_[starts, k.size]))
        below = run - neg - before  # negatives of the class in lower bins
        twice_u[k[starts]] = np.add.reduceat(pos * (2 * below + neg), starts)
        within[k[starts]] = np.add.reduceat((pos * neg).astype(np.float64), starts)
    pairs = support.astype(np.float64) * others
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = twice_u / (2.0 * pairs)
        bounds = 0.5 * within / pairs
    undefined = (support == 0) | (others == 0)
    auc[undefined] = math.nan
    bounds[pairs == 0] = math.nan
    if undefined.any():
        warn_undefined([f"roc_auc of {named_classes(names, np.flatnonzero(undefined))}"],
                       "needs rows of the class and of the others")
    ok = ~undefined
    macro = float(auc[ok].mean()) if ok.any() else math.nan
    weighted = float((auc[ok] * support[ok]).sum() / support[ok].sum()) if ok.any() else math.nan
    pooled_pos = np.bincount(b, weights=pos, minlength=span).astype(np.int64)
    pooled_neg = np.bincount(b, weights=neg, minlength=span).astype(np.int64)
    micro = float(_kernels.hist_auc(pooled_pos, pooled_neg))
    frame = pl.DataFrame({"label": list(names), "roc_auc": auc, "support": support,
                          "error_bound": bounds}, strict=False)
    return OneVsRestAUC(frame, macro, weighted, micro,
                        _kernels.hist_auc_bound(pooled_pos, pooled_neg))


def _class_histograms(pos_counts: Any, neg_counts: Any) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for name, value in (("pos_counts", pos_counts), ("neg_counts", neg_counts)):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise invalid(name, "a KxB array of non-negative integer counts", value) from err
        if arr.ndim != 2 or not (np.isfinite(arr).all() and (arr >= 0).all()
                                 and (arr == np.round(arr)).all()):
            raise invalid(name, "a KxB array of non-negative integer counts", value)
        out.append(arr.astype(np.int64))
    if out[0].shape != out[1].shape:
        raise invalid("neg_counts", f"the shape of pos_counts {out[0].shape}", out[1].shape)
    if out[0].shape[0] < 2:
        raise invalid("pos_counts", "one histogram row per class (K >= 2)", out[0].shape)
    return out[0], out[1]
