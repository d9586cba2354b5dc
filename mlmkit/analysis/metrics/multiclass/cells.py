"""The non-zero cells of a K x K confusion matrix: what every multiclass metric is built from.

A model with 50,000 classes (product categories, ICD codes, intents) has a 2.5e9-cell matrix,
20 GB as dense int64, but only as many non-zero cells as distinct ``(actual, predicted)``
pairs in its window, at most its labelled rows. `ClassCells` keeps those cells; the per-class
totals (correct, support, predicted) and every averaged metric and bootstrap resample cost
O(cells + K), never K². A dense matrix is built only on request and only up to `DENSE_CELLS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mlmkit._validation import invalid

__all__ = ["DENSE_CELLS", "ClassCells", "as_cells", "check_labels", "label_indexes",
           "named_classes"]

#: A dense matrix is built on request up to this many cells (int64: 200 MB, 5,000 classes);
#: beyond, read the non-zero cells (`ClassCells.frame`).
DENSE_CELLS = 25_000_000

_Ints = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]


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


#: Classes a warning names (a 50,000-class model's full list would be the whole log line).
_NAMED = 10


def named_classes(names: Sequence[Any], indexes: Any) -> str:
    """The classes at ``indexes`` for a message: the first 10, then how many more.

    Examples
    --------
    >>> named_classes(list("abcdefghijklm"), range(13))
    "['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] and 3 more classes"
    """
    at = list(indexes)
    more = f" and {len(at) - _NAMED:,} more classes" if len(at) > _NAMED else ""
    return f"{[names[i] for i in at[:_NAMED]]}{more}"


def _sort_key(v: Any) -> tuple[str, Any]:
    return str(type(v)), v


@dataclass(frozen=True)
class ClassCells:
    """The non-zero cells of a confusion matrix (rows actual, columns predicted).

    Attributes
    ----------
    labels : tuple
        The K class labels, in matrix order (classes without cells included).
    actual, predicted : numpy.ndarray
        int64 indexes into ``labels`` of each non-zero cell, row-major order, each pair once.
    count : numpy.ndarray
        int64 rows of each cell (> 0).

    Examples
    --------
    >>> c = as_cells([[5, 1, 0], [0, 6, 2], [0, 0, 3]], None)
    >>> c.k, c.n, c.count.tolist()
    (3, 17, [5, 1, 6, 2, 3])
    >>> [t.tolist() for t in c.totals()]  # correct, support, predicted per class
    [[5, 6, 3], [6, 8, 3], [5, 7, 5]]
    """

    labels: tuple[Any, ...]
    actual: _Ints
    predicted: _Ints
    count: _Ints

    @property
    def k(self) -> int:
        """Number of classes."""
        return len(self.labels)

    @property
    def n(self) -> int:
        """Rows counted."""
        return int(self.count.sum())

    def totals(self) -> tuple[_Ints, _Ints, _Ints]:
        """Per class (K,): correct (the diagonal), support (actual rows), predicted rows."""
        k, diag = self.k, self.actual == self.predicted
        tp = np.bincount(self.actual[diag], weights=self.count[diag], minlength=k)
        support = np.bincount(self.actual, weights=self.count, minlength=k)
        called = np.bincount(self.predicted, weights=self.count, minlength=k)
        return tp.astype(np.int64), support.astype(np.int64), called.astype(np.int64)

    def dense(self, name: str = "confusion_matrix") -> _Ints:
        """The K x K int64 matrix; an `MlmkitError` naming ``name`` beyond `DENSE_CELLS`."""
        if self.k * self.k > DENSE_CELLS:
            raise invalid(name, f"a matrix of at most {DENSE_CELLS:,} cells (this one has "
                          f"{self.k:,} classes, {self.k * self.k:,} cells; read the non-zero "
                          "cells instead: .cells.frame())", self.k)
        m = np.zeros((self.k, self.k), dtype=np.int64)
        m[self.actual, self.predicted] = self.count
        return m

    def frame(self) -> pl.DataFrame:
        """The non-zero cells as a long frame ``actual``, ``predicted``, ``count``."""
        names = pl.Series("label", list(self.labels), strict=False)
        return pl.DataFrame({"actual": names.gather(self.actual),
                             "predicted": names.gather(self.predicted),
                             "count": self.count})

    def resampled_totals(self, draws: _Ints) -> tuple[_Floats, _Floats, _Floats]:
        """Per-class totals of resampled cell counts ``draws`` (R, cells), on the classes seen.

        Returns ``(tp, support, called)``, each (R, U): U the classes with a cell (in label
        order); classes without cells have all three 0 in every resample. Sums of contiguous
        runs (``reduceat``), no (R, K) or K² array.
        """
        d = np.asarray(draws, dtype=np.float64)
        seen, inverse = np.unique(np.concatenate([self.actual, self.predicted]),
                                  return_inverse=True)
        ia, ip = inverse[:self.actual.size], inverse[self.actual.size:]
        out = np.zeros((3, d.shape[0], seen.size))
        diag = ia == ip
        out[0][:, ia[diag]] = d[:, diag]  # one diagonal cell per class at most
        for row, index in ((1, ia), (2, ip)):  # cells are in actual order: ia is sorted
            order = None if row == 1 else np.argsort(index, kind="stable")
            ordered, runs = (index, d) if order is None else (index[order], d[:, order])
            starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            out[row][:, ordered[starts]] = np.add.reduceat(runs, starts, axis=1)
        return out[0], out[1], out[2]

    def relabelled(self, labels: Sequence[Any] | None, name: str = "labels") -> ClassCells:
        """The same cells on another class order (``None``: unchanged)."""
        if labels is None:
            return self
        names = check_labels(labels, name)
        index = {v: i for i, v in enumerate(names)}
        missing = [v for v in self.labels if v not in index]
        if missing:
            raise invalid(name, f"a list containing every label of the counts ({missing[:10]})",
                          list(names)[:10])
        remap = np.asarray([index[v] for v in self.labels], dtype=np.int64)
        return _cells(names, remap[self.actual], remap[self.predicted], self.count)


def _cells(labels: tuple[Any, ...], actual: _Ints, predicted: _Ints, count: _Ints
           ) -> ClassCells:
    """Cells in row-major order, repeated pairs added up, zero counts dropped."""
    k = max(len(labels), 1)
    flat = actual.astype(np.int64) * k + predicted.astype(np.int64)
    keys, inverse = np.unique(flat, return_inverse=True)
    sums = np.bincount(inverse, weights=count, minlength=keys.size).astype(np.int64) \
        if keys.size else np.zeros(0, np.int64)
    keep = sums > 0
    keys, sums = keys[keep], sums[keep]
    return ClassCells(labels, keys // k, keys % k, sums)


def as_cells(confusion: Any, labels: Sequence[Any] | None) -> ClassCells:
    """The cells of any confusion input: a K x K matrix, a long frame, or `ClassCells`.

    A matrix's classes are ``labels`` (default ``0..K-1``); a frame (``actual``,
    ``predicted``, ``count``; pairs may repeat) has the sorted labels of its rows, or
    ``labels`` when given (which may add classes without rows and must hold every label seen).
    """
    if isinstance(confusion, ClassCells):
        return confusion.relabelled(labels)
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
    a, p = np.nonzero(m)
    return ClassCells(names, a.astype(np.int64), p.astype(np.int64), m[a, p].astype(np.int64))


def _from_frame(frame: pl.DataFrame, labels: Sequence[Any] | None) -> ClassCells:
    if not {"actual", "predicted", "count"} <= set(frame.columns):
        raise invalid("confusion", "a frame with columns actual, predicted, count",
                      frame.columns)
    counts = frame["count"].to_numpy()
    if counts.dtype == np.bool_ or not np.issubdtype(counts.dtype, np.number) or (
            counts.size and not ((counts >= 0).all() and (counts == np.round(counts)).all())):
        raise invalid("count", "non-negative integer counts", counts[:5].tolist())
    both = set(frame["actual"].to_list()) | set(frame["predicted"].to_list())
    if labels is None:
        names = check_labels(sorted(both, key=_sort_key), "confusion labels")
    else:  # one check of the K labels, then the labels seen must be among them
        names = check_labels(labels, "labels")
        missing = both - set(names)
        if missing:
            check_labels(sorted(missing, key=_sort_key), "confusion labels")
            raise invalid("labels", "a list containing every label of the counts "
                          f"({sorted(missing, key=_sort_key)[:10]})", list(names)[:10])
    if not names:
        raise invalid("labels", "at least one class", list(names))
    actual, predicted = (label_indexes(frame[c], names) for c in ("actual", "predicted"))
    return _cells(names, actual, predicted, counts.astype(np.int64))


def label_indexes(column: pl.Series, labels: Sequence[Any]) -> _Ints:
    """Each value's index in ``labels`` (every value is one of them)."""
    return column.replace_strict(list(labels), list(range(len(labels))),
                                 return_dtype=pl.Int64).to_numpy()
