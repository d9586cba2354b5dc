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
from mlmkit.catalogue import Kind, select

__all__ = ["MulticlassMetrics", "as_matrix", "check_labels", "class_metric_draws",
           "resampled_metric",
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


def check_labels(values: Sequence[Any], name: str) -> tuple[Any, ...]:
    """``values`` as a tuple of distinct class labels, all strings or all integers."""
    out = tuple(v.item() if isinstance(v, np.generic) else v for v in values)
    if any(v is None or isinstance(v, bool) or not isinstance(v, str | int) for v in out):
        raise invalid(name, "class labels (all strings or all integers)", list(out)[:10])
    if len({type(v) for v in out}) > 1:
        raise invalid(name, "class labels of one type (strings or integers, not mixed)",
                      list(out)[:10])
    if len(set(out)) != len(out):
        raise invalid(name, "distinct class labels", list(out)[:10])
    return out


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
    """Labels and the KxK int64 matrix (rows actual, columns predicted) of either input form."""
    if isinstance(confusion, pl.DataFrame):
        return _from_frame(confusion, labels)
    try:
        m = np.asarray(confusion, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise invalid("confusion", "a KxK count matrix or an actual/predicted/count frame",
                      confusion) from err
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:  # K = 1: one class seen
        raise invalid("confusion", "a KxK count matrix with K >= 1", m.shape)
    if not (np.isfinite(m).all() and (m >= 0).all() and (m == np.round(m)).all()):
        raise invalid("confusion", "non-negative integer counts", m.tolist()[:3])
    names = check_labels(range(m.shape[0]) if labels is None else labels, "labels")
    if len(names) != m.shape[0]:
        raise invalid("labels", f"{m.shape[0]} labels (one per matrix row)", list(names))
    return names, m.astype(np.int64)


def _from_frame(frame: pl.DataFrame, labels: Sequence[Any] | None) -> tuple[tuple[Any, ...],
                                                                              np.ndarray]:
    if not {"actual", "predicted", "count"} <= set(frame.columns):
        raise invalid("confusion", "a frame with columns actual, predicted, count",
                      frame.columns)
    actual, predicted = frame["actual"].to_list(), frame["predicted"].to_list()
    counts = frame["count"].to_numpy()
    if counts.dtype == np.bool_ or not np.issubdtype(counts.dtype, np.number) or (
            counts.size and not ((counts >= 0).all() and (counts == np.round(counts)).all())):
        raise invalid("count", "non-negative integer counts", counts[:5].tolist())
    seen = check_labels(sorted(set(actual) | set(predicted), key=lambda v: (str(type(v)), v)),
                   "confusion labels")
    names = seen if labels is None else check_labels(labels, "labels")
    index = {v: i for i, v in enumerate(names)}
    missing = [v for v in seen if v not in index]
    if missing:
        raise invalid("labels", f"a list containing every label of the counts ({missing})",
                      list(names))
    if not names:
        raise invalid("labels", "at least one class", list(names))
    m = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(m, ([index[v] for v in actual], [index[v] for v in predicted]),
              counts.astype(np.int64))
    return names, m


#: Resampled cells held at once (int64, 64 MB, and the float copy of the metric kernel): each
#: resample draws K² cells, so 2,000 resamples of a 1,000-class matrix in one draw held 16 GB.
_CELLS_AT_ONCE = 8_000_000


def resampled_metric(m: np.ndarray, metric: str, n_resamples: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``metric`` of ``n_resamples`` multinomial resamples of the K x K counts ``m`` (n > 0).

    Drawn in chunks of at most `_CELLS_AT_ONCE` cells from ``rng``: the same draws, in the
    same order, as one ``rng.multinomial(n, m / n, size=n_resamples)``, in bounded memory.
    """
    n, k = int(m.sum()), m.shape[0]
    shares, step = m.ravel() / n, max(1, _CELLS_AT_ONCE // (k * k))
    out = []
    for done in range(0, n_resamples, step):
        size = min(step, n_resamples - done)
        cells = rng.multinomial(n, shares, size=size).reshape(size, k, k)
        out.append(class_metric_draws(cells)[metric])
    return np.concatenate(out)


def class_metric_draws(matrices: np.ndarray) -> dict[str, np.ndarray]:
    """Every averaged metric of a stack of confusion matrices (shape ``(..., K, K)``).

    The vectorised kernel of the bootstrap: keys ``accuracy`` and ``<stat>_<average>`` for
    stat in precision, recall, f1 and average in macro, micro, weighted; zero division gives 0.
    """
    m = np.asarray(matrices, dtype=np.float64)
    tp = np.diagonal(m, axis1=-2, axis2=-1)
    support, called = m.sum(axis=-1), m.sum(axis=-2)
    n = support.sum(axis=-1)
    per = {stat: kernel(tp, support, called) for stat, kernel in _PER_CLASS.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = tp.sum(axis=-1) / n
        out = {"accuracy": accuracy}
        for stat, values in per.items():
            out[f"{stat}_macro"] = values.mean(axis=-1)
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
    matrix : numpy.ndarray
        KxK counts, rows actual, columns predicted.
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
    matrix: np.ndarray
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

    def confusion_frame(self) -> pl.DataFrame:
        """The matrix as a long frame ``actual``, ``predicted``, ``count`` (K² rows)."""
        k = len(self.labels)
        return pl.DataFrame({"actual": [a for a in self.labels for _ in range(k)],
                             "predicted": list(self.labels) * k,
                             "count": self.matrix.ravel().tolist()})

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
    confusion : array-like or polars.DataFrame
        A KxK matrix of counts (rows actual, columns predicted; ``labels`` name them, default
        ``0..K-1``), or a long frame with columns ``actual``, ``predicted``, ``count`` (pairs
        may repeat, e.g. one row per segment; absent pairs count 0).
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
    names, m = as_matrix(confusion, labels)
    confidence = check_probability("confidence", confidence, open_interval=True)
    tp = np.diagonal(m).astype(np.int64)
    support, called = m.sum(axis=1), m.sum(axis=0)
    n, correct = int(m.sum()), int(tp.sum())
    _warn_zero_division(names, support, called)
    draws = class_metric_draws(m)
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
    return MulticlassMetrics(names, m, n, acc_ci.estimate, acc_ci, per_class, averages)


def _warn_zero_division(names: tuple[Any, ...], support: np.ndarray, called: np.ndarray) -> None:
    parts = []
    for stat, denominator in _DENOMINATORS.items():
        empty = [names[i] for i in np.flatnonzero(denominator(support, called) == 0)]
        if empty:
            parts.append(f"{stat} of {empty}")
    if parts:
        warnings.warn(f"{'; '.join(parts)} ill-defined (0/0); set to 0.0 as scikit-learn's "
                      "zero_division default", UndefinedMetricWarning, stacklevel=3)


def multiclass_bootstrap_interval(confusion: Any, *, metric: str = "f1_macro",
                                  labels: Sequence[Any] | None = None, n_resamples: int = 2000,
                                  confidence: float = 0.95, seed: int = 0) -> Interval:
    """Percentile-bootstrap interval of an averaged metric from the confusion matrix alone.

    Resampling the ``n`` rows with replacement is drawing the K² cells from a multinomial with
    the observed cell shares, so each resample is one multinomial draw (seeded, vectorised).

    Examples
    --------
    >>> ci = multiclass_bootstrap_interval([[50, 5, 5], [10, 40, 10], [5, 5, 70]])
    >>> round(ci.estimate, 4), ci.low < ci.estimate < ci.high
    (0.7919, True)
    """
    if metric not in CLASS_COUNT_METRICS:
        raise invalid("metric", f"one of {', '.join(CLASS_COUNT_METRICS)}", metric)
    _, m = as_matrix(confusion, labels)
    n_resamples = check_int("n_resamples", n_resamples, low=1)
    confidence = check_probability("confidence", confidence, open_interval=True)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    estimate = float(class_metric_draws(m)[metric])
    n = int(m.sum())
    if n == 0:
        return Interval(math.nan, math.nan, estimate, confidence, "bootstrap")
    return percentile_interval(resampled_metric(m, metric, n_resamples, rng), estimate,
                               confidence, metric)
