"""The KxK confusion matrix of a multiclass model and every metric computed from it.

See `mlmkit.analysis.metrics.multiclass` for the
conventions (zero division, label order).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_int, check_probability, invalid
from mlmkit.analysis.metrics._inputs import UndefinedMetricWarning, as_1d, warn_undefined
from mlmkit.analysis.metrics.intervals import (
    Interval,
    html_table,
    percentile_interval,
    wilson_bounds,
)
from mlmkit.analysis.metrics.multiclass.cells import (
    ClassCells,
    as_cells,
    check_labels,
    named_classes,
)
from mlmkit.catalogue import Kind, select

__all__ = ["AVERAGED", "AVERAGES", "MulticlassMetrics", "as_matrix", "cell_metrics", "check_labels",
           "class_metric_draws", "resampled_metric",
           "confusion_counts", "multiclass_bootstrap_interval", "multiclass_metrics"]

AVERAGES = ("macro", "micro", "weighted")
#: Metrics of the confusion matrix a bootstrap can resample (catalogue kind CLASS_COUNT).
CLASS_COUNT_METRICS = select(kind=Kind.CLASS_COUNT)
#: Per-class statistics from ``(tp, support, called)``; zero division gives 0.
_PER_CLASS = {
    "precision": lambda tp, support, called: _divide(tp, called),
    "recall": lambda tp, support, called: _divide(tp, support),
    "f1": lambda tp, support, called: _divide(2.0 * tp, support + called),
}
_DENOMINATORS = {"precision": lambda s, c: c, "recall": lambda s, c: s,
                 "f1": lambda s, c: s + c}
_STATS = tuple(_PER_CLASS)
#: The ``<stat>_<average>`` names of `MulticlassMetrics.to_dict` (precision, recall, F1 by
#: each of `AVERAGES`).
AVERAGED = tuple(f"{stat}_{average}" for stat in _STATS for average in AVERAGES)


def confusion_counts(actual: Any, predicted: Any) -> pl.DataFrame:
    """Counts of labelled rows per ``(actual, predicted)`` pair: what ``GROUP BY`` returns.

    Examples
    --------
    >>> confusion_counts(["a", "b", "b"], ["a", "a", "b"]).sort("actual", "predicted").rows()
    [('a', 'a', 1), ('b', 'a', 1), ('b', 'b', 1)]
    """
    y, p = as_1d("actual", actual), as_1d("predicted", predicted)
    if p.shape[0] != y.shape[0]:
        raise invalid("predicted", f"as many rows as actual ({y.shape[0]})", p.shape[0])
    frame = pl.DataFrame({"actual": y.tolist(), "predicted": p.tolist()}, strict=False)
    return frame.group_by("actual", "predicted").len("count")


def as_matrix(confusion: Any, labels: Sequence[Any] | None) -> tuple[tuple[Any, ...],
                                                                    np.ndarray]:
    """Labels and the KxK int64 matrix of any input form (`as_cells`, then dense)."""
    cells = as_cells(confusion, labels)
    return cells.labels, cells.dense("confusion")


#: Resampled values held at once (float64, 64 MB, and the per-class totals): 2,000 resamples
#: in one draw of a 1,000-class model's cells could hold gigabytes.
_CELLS_AT_ONCE = 8_000_000


def resampled_metric(confusion: ClassCells, metric: str, n_resamples: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``metric`` of ``n_resamples`` multinomial resamples of the non-zero cells (n > 0).

    Resampling the ``n`` rows is one multinomial draw over the cells with their observed
    shares (cells without rows have share 0 and stay 0). Drawn in chunks of at most
    `_CELLS_AT_ONCE` values from ``rng``: the same draws, in the same order, as one
    ``rng.multinomial(n, count / n, size=n_resamples)``, in bounded memory whatever K.
    """
    n = confusion.n
    shares = confusion.count / n
    cells = confusion.count.size  # values per resample: the draws, a copy, 3 per-class totals
    step = max(1, _CELLS_AT_ONCE // (2 * cells + 3 * min(confusion.k, 2 * cells)))
    out = []
    for done in range(0, n_resamples, step):
        size = min(step, n_resamples - done)
        tp, support, called = confusion.resampled_totals(rng.multinomial(n, shares, size=size))
        out.append(_averaged(tp, support, called, confusion.k)[metric])
    return np.concatenate(out)


def class_metric_draws(matrices: np.ndarray) -> dict[str, np.ndarray]:
    """Every averaged metric of a stack of confusion matrices (shape ``(..., K, K)``).

    Keys ``accuracy`` and ``<stat>_<average>`` for stat in precision, recall, f1 and average in
    macro, micro, weighted; zero division gives 0.
    """
    m = np.asarray(matrices, dtype=np.float64)
    tp = np.diagonal(m, axis1=-2, axis2=-1)
    return _averaged(tp, m.sum(axis=-1), m.sum(axis=-2), m.shape[-1])


def cell_metrics(confusion: ClassCells) -> dict[str, float]:
    """Every averaged metric (`class_metric_draws`' keys) of one matrix's cells, O(cells + K)."""
    tp, support, called = (t.astype(np.float64) for t in confusion.totals())
    return {k: float(v) for k, v in _averaged(tp, support, called, confusion.k).items()}


def _averaged(tp: np.ndarray, support: np.ndarray, called: np.ndarray, k: int
              ) -> dict[str, np.ndarray]:
    """The averaged metrics of per-class totals (last axis: classes; ``k`` classes in all).

    The last axis may hold only the classes with rows: an absent class has precision, recall
    and F1 0 and adds nothing but its share of the macro denominator ``k``.
    """
    n = support.sum(axis=-1)
    per = {stat: kernel(tp, support, called) for stat, kernel in _PER_CLASS.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = tp.sum(axis=-1) / n
        out = {"accuracy": accuracy}
        for stat, values in per.items():
            out[f"{stat}_macro"] = values.sum(axis=-1) / k
            out[f"{stat}_micro"] = accuracy  # single-label: micro P = R = F1 = accuracy
            out[f"{stat}_weighted"] = (values * support).sum(axis=-1) / n
    return out


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


@dataclass(frozen=True)
class MulticlassMetrics:
    """Metrics of one multiclass confusion matrix.

    ``metrics["f1_macro"]`` reads an averaged metric by name (``accuracy`` or
    ``<precision|recall|f1>_<macro|micro|weighted>``); `to_dict` gives them all.

    Attributes
    ----------
    labels : tuple
        Class labels, in matrix order.
    cells : ClassCells
        The non-zero cells of the K x K matrix (``cells.frame()``: ``actual``, ``predicted``,
        ``count``); ``matrix`` is the dense matrix, built on request up to `DENSE_CELLS`.
    n : int
        Labelled rows.
    accuracy : float
        Share of rows on the diagonal (NaN without rows).
    accuracy_interval : Interval
        Wilson interval of the accuracy.
    per_class : polars.DataFrame
        One row per class: ``label``, ``support``, ``predicted``, ``correct``, ``precision``,
        ``precision_low``, ``precision_high``, ``recall``, ``recall_low``, ``recall_high``,
        ``f1`` (Wilson bounds; NaN where their denominator is 0).
    averages : polars.DataFrame
        Rows ``macro``, ``micro``, ``weighted``; columns ``average``, ``precision``,
        ``recall``, ``f1``.
    """

    labels: tuple[Any, ...]
    cells: ClassCells
    n: int
    accuracy: float
    accuracy_interval: Interval
    per_class: pl.DataFrame
    averages: pl.DataFrame

    def __getitem__(self, name: str) -> float:
        values = self.to_dict()
        if name not in values or name == "n":
            raise invalid("name", f"one of {', '.join(k for k in values if k != 'n')}", name)
        return float(values[name])

    def to_dict(self) -> dict[str, Any]:
        """``accuracy``, ``n`` and every ``<stat>_<average>``."""
        out: dict[str, Any] = {"accuracy": self.accuracy, "n": self.n}
        for row in self.averages.iter_rows(named=True):
            for stat in _STATS:
                out[f"{stat}_{row['average']}"] = row[stat]
        return out

    @property
    def matrix(self) -> np.ndarray:
        """K x K int64 counts, rows actual, columns predicted (up to `DENSE_CELLS` cells)."""
        return self.cells.dense("matrix")

    @property
    def correct(self) -> int:
        """Rows on the diagonal."""
        return int(self.per_class["correct"].sum())

    def confusion_frame(self) -> pl.DataFrame:
        """The matrix as a long frame ``actual``, ``predicted``, ``count`` (K² rows).

        Up to `DENSE_CELLS` cells; ``cells.frame()`` has the non-zero ones at any K.
        """
        k, m = len(self.labels), self.cells.dense("confusion_frame")
        return pl.DataFrame({"actual": [a for a in self.labels for _ in range(k)],
                             "predicted": list(self.labels) * k,
                             "count": m.ravel().tolist()})

    def _repr_html_(self) -> str:
        return html_table(self.to_dict(), title="Multiclass metrics")


def multiclass_metrics(confusion: Any, *, labels: Sequence[Any] | None = None,
                       confidence: float = 0.95) -> MulticlassMetrics:
    """Accuracy, per-class and averaged precision / recall / F1 from confusion counts.

    Equals scikit-learn's ``accuracy_score``, ``confusion_matrix`` and
    ``precision_recall_fscore_support`` (``average=None``, ``"macro"``, ``"micro"``,
    ``"weighted"``) on the rows the counts came from; zero divisions give 0.0 with a warning,
    as scikit-learn's default (module docstring).

    Parameters
    ----------
    confusion : array-like, polars.DataFrame or ClassCells
        A KxK matrix of counts (rows actual, columns predicted; ``labels`` name them, default
        ``0..K-1``), or a long frame with columns ``actual``, ``predicted``, ``count`` (pairs
        may repeat, e.g. one row per segment; absent pairs count 0), or `ClassCells`. From a
        frame or cells the cost is O(cells + K): no K x K matrix is built.
    labels : sequence, optional
        Class order. For a frame it may add classes with no rows (they count in the macro
        average, as scikit-learn's ``labels=``); default: the sorted labels of the frame.
    confidence : float, default 0.95
        Nominal coverage of the Wilson intervals.

    Returns
    -------
    MulticlassMetrics

    Examples
    --------
    >>> m = multiclass_metrics([[5, 1, 0], [2, 6, 2], [0, 1, 3]], labels=["a", "b", "c"])
    >>> m.accuracy, m["f1_micro"], round(m["f1_macro"], 6), round(m["recall_weighted"], 6)
    (0.7, 0.7, 0.700855, 0.7)
    >>> m.per_class.select("label", "support", "precision").row(0)
    ('a', 6, 0.7142857142857143)
    """
    cells = as_cells(confusion, labels)
    names = cells.labels
    confidence = check_probability("confidence", confidence, open_interval=True)
    tp, support, called = cells.totals()
    n, correct = int(support.sum()), int(tp.sum())
    _warn_zero_division(names, support, called)
    draws = cell_metrics(cells)
    p_low, p_high = wilson_bounds(tp, called, confidence)
    r_low, r_high = wilson_bounds(tp, support, confidence)
    per = {stat: kernel(tp.astype(float), support.astype(float), called.astype(float))
           for stat, kernel in _PER_CLASS.items()}
    per_class = pl.DataFrame({
        "label": list(names), "support": support, "predicted": called, "correct": tp,
        "precision": per["precision"], "precision_low": p_low, "precision_high": p_high,
        "recall": per["recall"], "recall_low": r_low, "recall_high": r_high,
        "f1": per["f1"]}, strict=False)
    averages = pl.DataFrame({"average": list(AVERAGES), **{
        stat: [float(draws[f"{stat}_{avg}"]) for avg in AVERAGES] for stat in _STATS}})
    if n == 0:
        warn_undefined(["accuracy"], "no labelled rows")
        acc_ci = Interval(math.nan, math.nan, math.nan, confidence, "wilson")
    else:
        low, high = wilson_bounds(correct, n, confidence)
        acc_ci = Interval(float(low), float(high), correct / n, confidence, "wilson")
    return MulticlassMetrics(names, cells, n, acc_ci.estimate, acc_ci, per_class, averages)


def _warn_zero_division(names: tuple[Any, ...], support: np.ndarray, called: np.ndarray) -> None:
    parts = []
    for stat, denominator in _DENOMINATORS.items():
        empty = np.flatnonzero(denominator(support, called) == 0)
        if empty.size:
            parts.append(f"{stat} of {named_classes(names, empty)}")
    if parts:
        warnings.warn(f"{'; '.join(parts)} ill-defined (0/0); set to 0.0 as scikit-learn's "
                      "zero_division default", UndefinedMetricWarning, stacklevel=3)


def multiclass_bootstrap_interval(confusion: Any, *, metric: str = "f1_macro",
                                  labels: Sequence[Any] | None = None, n_resamples: int = 2000,
                                  confidence: float = 0.95, seed: int = 0) -> Interval:
    """Percentile-bootstrap interval of an averaged metric from the confusion matrix alone.

    Resampling the ``n`` rows with replacement is drawing the cells from a multinomial with
    the observed cell shares, so each resample is one multinomial draw over the non-zero cells
    (seeded, vectorised, in chunks of bounded memory at any number of classes).

    Examples
    --------
    >>> ci = multiclass_bootstrap_interval([[50, 5, 5], [10, 40, 10], [5, 5, 70]])
    >>> round(ci.estimate, 4), ci.low < ci.estimate < ci.high
    (0.7919, True)
    """
    if metric not in CLASS_COUNT_METRICS:
        raise invalid("metric", f"one of {', '.join(CLASS_COUNT_METRICS)}", metric)
    cells = as_cells(confusion, labels)
    n_resamples = check_int("n_resamples", n_resamples, low=1)
    confidence = check_probability("confidence", confidence, open_interval=True)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = cell_metrics(cells)[metric]
    if cells.n == 0:
        return Interval(math.nan, math.nan, estimate, confidence, "bootstrap")
    return percentile_interval(resampled_metric(cells, metric, n_resamples, rng), estimate,
                               confidence, metric)
