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
from mlmkit.analysis.metrics.multiclass.confusion import check_labels

__all__ = ["OneVsRestAUC", "multiclass_log_loss_from_sums", "ovr_auc_from_histograms"]


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
    support, others = pos.sum(axis=1), neg.sum(axis=1)
    auc = _kernels.hist_auc(pos, neg)
    undefined = (support == 0) | (others == 0)
    auc[undefined] = math.nan
    if undefined.any():
        warn_undefined([f"roc_auc of {[names[i] for i in np.flatnonzero(undefined)]}"],
                       "needs rows of the class and of the others")
    bounds = [_kernels.hist_auc_bound(p, q) for p, q in zip(pos, neg, strict=True)]
    ok = ~undefined
    macro = float(auc[ok].mean()) if ok.any() else math.nan
    weighted = float((auc[ok] * support[ok]).sum() / support[ok].sum()) if ok.any() else math.nan
    pooled_pos, pooled_neg = pos.sum(axis=0), neg.sum(axis=0)
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
