"""Multiclass confidence-based estimation from sufficient statistics (NannyML's multiclass CBPE).

If the class probabilities ``p_ik`` of a model are calibrated, the actual class of row ``i``
is a draw from ``p_i·``, so the confusion matrix of an unlabelled window is known in
expectation: with ``j(i)`` the predicted class of row ``i``,

``E[C[k, j]] = sum of p_ik over the rows predicted j``   (rows actual ``k``, columns predicted).

A database computes that with one grouped scan (``GROUP BY predicted, class`` over the unnested
probabilities: ``SUM(p)`` and ``SUM(p * p)``); the long frame of those sums is what
[`estimate_multiclass_from_sums`][mlmkit.analysis.estimation.estimate_multiclass_from_sums]
reads. Every metric is then the plug-in of the expected matrix, as NannyML defines it:

- accuracy ``= trace / n``: the mean probability of the predicted class;
- per class ``k`` one-vs-rest: ``tp = E[C[k, k]]``, ``fp = n_predicted_k - tp``,
  ``fn = E[support_k] - tp``; precision ``tp / (tp + fp)``, recall ``tp / (tp + fn)``,
  F1 ``2 tp / (2 tp + fp + fn)`` (0 where a denominator is 0, as scikit-learn);
- macro averages are the mean over classes (NannyML's multiclass F1 / precision / recall),
  micro equals accuracy, weighted uses the expected supports.

Standard errors are those of the *realised* metric around the estimate when the calibration
holds: each cell is a sum of independent Bernoulli(``p_ik``) terms with variance
``SUM(p) - SUM(p * p)``; the cells are drawn as independent normals with those variances
(``n_simulations`` seeded draws) and every metric recomputed. That is exact to first order
for accuracy and the per-class metrics (their cells lie in distinct predicted columns); for
the macro and weighted averages it ignores the negative correlation of cells within one
predicted column, which makes their standard errors slightly low.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_int, check_probability, invalid
from mlmkit.analysis.metrics.intervals import Interval, html_table, normal_interval
from mlmkit.analysis.metrics.multiclass.confusion import check_labels, class_metric_draws

__all__ = ["MAX_CLASSES", "EstimatedMulticlassMetrics", "check_classes",
           "estimate_multiclass_from_sums", "expected_confusion_sums"]

_SUM_COLUMNS = ("predicted", "actual", "p_sum", "p_sq_sum")
#: One-vs-rest statistics of each class from ``(tp, support, called)``, 0 where a denominator
#: is 0. Their names are the column schema of ``per_class`` and ``averages`` (``f1`` is not a
#: catalogue name): the kernels name them, so the schema is not a second list of metric names.
_PER_CLASS_KERNELS = {
    "precision": lambda tp, support, called: _divide(tp, called),
    "recall": lambda tp, support, called: _divide(tp, support),
    "f1": lambda tp, support, called: _divide(2.0 * tp, support + called),
}
_PER_CLASS = tuple(_PER_CLASS_KERNELS)
_ROW_SUM_TOLERANCE = 1e-3
#: CBPE's expected confusion matrix is dense (each row's K probabilities fill a column), and
#: so is each simulated draw: at most this many classes (4e6 cells, 32 MB a matrix).
MAX_CLASSES = 2_000
#: Simulated cells held at once (the draws and their temporaries: ~5 arrays of this size).
_DRAW_CELLS = 2_000_000


def check_classes(k: int, name: str = "labels") -> int:
    """``k`` if CBPE can hold a K x K matrix of it, else an `MlmkitError` naming ``name``."""
    if k > MAX_CLASSES:
        raise invalid(name, f"at most {MAX_CLASSES:,} classes for label-free estimation (CBPE "
                      "holds dense K x K expected matrices; the window metrics have no such "
                      "limit)", f"{k:,} classes")
    return k


@dataclass(frozen=True)
class EstimatedMulticlassMetrics:
    """Estimated metrics of an unlabelled multiclass window (see the module docstring).

    Attributes
    ----------
    labels : tuple
        Class labels, in matrix order.
    expected_matrix : numpy.ndarray
        KxK expected confusion counts (rows actual, columns predicted); floats.
    n : int
        Rows of the window.
    accuracy : float
        Expected accuracy (mean probability of the predicted class).
    per_class : polars.DataFrame
        One row per class: ``label``, ``expected_support``, ``predicted``, ``expected_tp``,
        ``precision``, ``recall``, ``f1`` and their ``*_standard_error``.
    averages : polars.DataFrame
        Rows ``macro``, ``micro``, ``weighted``; columns ``average``, ``precision``,
        ``recall``, ``f1``.
    standard_errors : Mapping[str, float]
        Standard error of ``accuracy`` and of every ``<stat>_<average>``.
    """

    labels: tuple[Any, ...]
    expected_matrix: np.ndarray
    n: int
    accuracy: float
    per_class: pl.DataFrame
    averages: pl.DataFrame
    standard_errors: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``accuracy``, ``n`` and every ``<precision|recall|f1>_<macro|micro|weighted>``."""
        out: dict[str, Any] = {"accuracy": self.accuracy, "n": self.n}
        for row in self.averages.iter_rows(named=True):
            for stat in _PER_CLASS:
                out[f"{stat}_{row['average']}"] = row[stat]
        return out

    def __getitem__(self, name: str) -> float:
        values = self.to_dict()
        if name not in values or name == "n":
            raise invalid("name", f"one of {', '.join(k for k in values if k != 'n')}", name)
        return float(values[name])

    def interval(self, metric: str, *, confidence: float = 0.95) -> Interval:
        """Normal interval ``estimate ± z * standard_error`` of ``metric``.

        Examples
        --------
        >>> est = estimate_multiclass_from_sums([[40.0, 5.0], [10.0, 45.0]],
        ...                                     [[33.0, 3.0], [3.0, 41.0]])
        >>> ci = est.interval("accuracy")  # exact: 1.96 * sqrt((40 - 33) + (45 - 41)) / 100
        >>> round(est.accuracy, 2), round(ci.high - ci.low, 2)
        (0.85, 0.13)
        """
        if metric not in self.standard_errors:
            raise invalid("metric", f"one of {sorted(self.standard_errors)}", metric)
        confidence = check_probability("confidence", confidence, open_interval=True)
        return normal_interval(self[metric], self.standard_errors[metric], confidence)

    def confusion_frame(self) -> pl.DataFrame:
        """The expected matrix as a long frame ``actual``, ``predicted``, ``expected_count``."""
        k = len(self.labels)
        return pl.DataFrame({"actual": [a for a in self.labels for _ in range(k)],
                             "predicted": list(self.labels) * k,
                             "expected_count": self.expected_matrix.ravel().tolist()})

    def _repr_html_(self) -> str:
        rows = {key: value if key not in self.standard_errors
                else f"{value:.4g} ± {self.standard_errors[key]:.2g}"
                for key, value in self.to_dict().items()}
        return html_table(rows, title="Estimated multiclass metrics (no labels)")


def as_probabilities(name: str, probabilities: Any, k: int | None = None) -> np.ndarray:
    """``probabilities`` as an (n, K) float array of rows summing to 1 (renormalised)."""
    if isinstance(probabilities, pl.DataFrame):
        probabilities = probabilities.to_numpy()
    try:
        p = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise invalid(name, "an (n, K) array of probabilities", probabilities) from err
    if p.ndim != 2 or p.shape[1] < 2:
        raise invalid(name, "an (n, K) array of probabilities with K >= 2", p.shape)
    if k is not None and p.shape[1] != k:
        raise invalid(name, f"{k} columns (one per class)", p.shape)
    bad = ~(np.isfinite(p) & (p >= 0.0) & (p <= 1.0))
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise invalid(f"{name} (row {row})", "probabilities in [0, 1]", p[row].tolist())
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > _ROW_SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise invalid(f"{name} (row {row})", "a row summing to 1", float(sums[row]))
    return p / sums[:, None]


def predicted_index(name: str, predicted: Any, labels: tuple[Any, ...], n: int) -> np.ndarray:
    """Positions in ``labels`` of the predicted (or actual) class of each row."""
    if not isinstance(predicted, np.ndarray) and hasattr(predicted, "to_list"):
        predicted = predicted.to_list()
    values = list(predicted.tolist() if isinstance(predicted, np.ndarray) else predicted)
    if len(values) != n:
        raise invalid(name, f"{n} values (one per row)", len(values))
    index = {label: i for i, label in enumerate(labels)}
    out = np.empty(n, dtype=np.int64)
    for row, value in enumerate(values):
        position = index.get(value)
        if position is None or isinstance(value, bool):
            raise invalid(f"{name} (row {row})", f"one of the labels {list(labels)}", value)
        out[row] = position
    return out


def expected_confusion_sums(predicted: Any, probabilities: Any, *,
                            labels: Sequence[Any] | None = None) -> pl.DataFrame:
    """The grouped sums a database returns: ``SUM(p)``, ``SUM(p * p)`` per (predicted, class).

    Parameters
    ----------
    predicted : array-like
        Predicted class label of each row (one of ``labels``).
    probabilities : array-like of shape (n, K)
        Calibrated probability of each class (columns in ``labels`` order); rows sum to 1.
    labels : sequence, optional
        Class labels; default ``0..K-1``.

    Returns
    -------
    polars.DataFrame
        Columns ``predicted``, ``actual`` (the class whose probability is summed),
        ``p_sum``, ``p_sq_sum``; K² rows.

    Examples
    --------
    >>> sums = expected_confusion_sums(["a", "a", "b"], [[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]],
    ...                                labels=["a", "b"])
    >>> [tuple(round(v, 6) if isinstance(v, float) else v for v in row)
    ...  for row in sums.filter(predicted="a").rows()]
    [('a', 'a', 1.4, 1.0), ('a', 'b', 0.6, 0.2)]
    """
    p = as_probabilities("probabilities", probabilities)
    names = check_labels(range(p.shape[1]) if labels is None else labels, "labels")
    if len(names) != p.shape[1]:
        raise invalid("labels", f"{p.shape[1]} labels (one per column)", list(names))
    j = predicted_index("predicted", predicted, names, p.shape[0])
    k = check_classes(len(names))
    p_sum = np.zeros((k, k))
    p_sq = np.zeros((k, k))
    for col in range(k):
        rows = p[j == col]
        p_sum[:, col] = rows.sum(axis=0)
        p_sq[:, col] = (rows * rows).sum(axis=0)
    return pl.DataFrame({"predicted": [names[c] for _ in range(k) for c in range(k)],
                         "actual": [names[a] for a in range(k) for _ in range(k)],
                         "p_sum": p_sum.ravel(), "p_sq_sum": p_sq.ravel()},
                        schema_overrides={"p_sum": pl.Float64, "p_sq_sum": pl.Float64},
                        strict=False).sort("predicted", "actual")


def _matrices(sums: Any, squares: Any, labels: Sequence[Any] | None) -> tuple[
        tuple[Any, ...], np.ndarray, np.ndarray]:
    if isinstance(sums, pl.DataFrame):
        if squares is not None:
            raise invalid("squares", "None when sums is a frame (its p_sq_sum column)", "given")
        missing = [c for c in _SUM_COLUMNS if c not in sums.columns]
        if missing:
            raise invalid("sums", f"a frame with columns {', '.join(_SUM_COLUMNS)}",
                          sums.columns)
        seen = set(sums["predicted"].to_list()) | set(sums["actual"].to_list())
        names = check_labels(sorted(seen, key=lambda v: (str(type(v)), v))
                             if labels is None else labels, "labels")
        if set(seen) - set(names):
            raise invalid("labels", f"every label of the sums ({sorted(map(str, seen))})",
                          list(names))
        check_classes(len(names))
        index = {v: i for i, v in enumerate(names)}
        e, s = np.zeros((len(names),) * 2), np.zeros((len(names),) * 2)
        rows = [index[v] for v in sums["actual"].to_list()]
        cols = [index[v] for v in sums["predicted"].to_list()]
        np.add.at(e, (rows, cols), sums["p_sum"].cast(pl.Float64).to_numpy())
        np.add.at(s, (rows, cols), sums["p_sq_sum"].cast(pl.Float64).to_numpy())
    else:
        try:
            e = np.asarray(sums, dtype=np.float64)
            s = np.asarray(e if squares is None else squares, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise invalid("sums", "a KxK matrix of expected counts", sums) from err
        if e.ndim != 2 or e.shape[0] != e.shape[1] or e.shape[0] < 2 or s.shape != e.shape:
            raise invalid("sums", "a KxK matrix (K >= 2) and squares of the same shape",
                          (e.shape, s.shape))
        names = check_labels(range(e.shape[0]) if labels is None else labels, "labels")
        if len(names) != e.shape[0]:
            raise invalid("labels", f"{e.shape[0]} labels", list(names))
        check_classes(len(names))
    if not (np.isfinite(e).all() and np.isfinite(s).all() and (e >= 0).all()
            and (s >= 0).all() and (s <= e * (1 + 1e-9) + 1e-9).all()):
        raise invalid("sums", "finite sums of probabilities with 0 <= p_sq_sum <= p_sum",
                      e.tolist()[:3])
    return names, e, s


def estimate_multiclass_from_sums(sums: Any, squares: Any = None, *,
                                  labels: Sequence[Any] | None = None,
                                  n_simulations: int = 1000,
                                  seed: int = 0) -> EstimatedMulticlassMetrics:
    """Estimate accuracy and per-class / averaged precision, recall, F1 from expected counts.

    Parameters
    ----------
    sums : polars.DataFrame or array-like
        The frame of `expected_confusion_sums` (columns ``predicted``, ``actual``,
        ``p_sum``, ``p_sq_sum``; absent pairs count 0), or the KxK matrix of ``SUM(p)``
        (rows actual class, columns predicted).
    squares : array-like, optional
        With a matrix: the KxK matrix of ``SUM(p * p)``. Without it the variance of each cell
        is taken as its maximum ``SUM(p)`` (conservative standard errors).
    labels : sequence, optional
        Class order; default the sorted labels of the frame, or ``0..K-1``.
    n_simulations : int, default 1000
        Seeded normal draws of the matrix for the standard errors (0: no standard errors).
    seed : int, default 0
        Seed of the draws.

    Returns
    -------
    EstimatedMulticlassMetrics

    Examples
    --------
    >>> est = estimate_multiclass_from_sums([[40.0, 5.0], [10.0, 45.0]],
    ...                                     [[33.0, 3.0], [3.0, 41.0]], labels=["a", "b"])
    >>> est.accuracy, round(est["f1_macro"], 4), est["f1_micro"]
    (0.85, 0.8496, 0.85)
    >>> est.per_class.select("label", "expected_support", "predicted", "precision").row(0)
    ('a', 45.0, 50.0, 0.8)
    """
    names, e, s = _matrices(sums, squares, labels)
    n_simulations = check_int("n_simulations", n_simulations, low=0)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    point = class_metric_draws(e)
    tp, support, called = np.diagonal(e), e.sum(axis=1), e.sum(axis=0)
    per = _per_class(tp, support, called)
    errors: dict[str, float] = {}
    per_errors = {stat: np.full(len(names), math.nan) for stat in _PER_CLASS}
    if n_simulations > 0:
        stacked, d_per = _simulated(e, s, n_simulations, rng)
        errors = {key: float(np.nanstd(value, ddof=1)) for key, value in stacked.items()}
        per_errors = {stat: np.nanstd(d_per[stat], axis=0, ddof=1) for stat in _PER_CLASS}
    per_class = pl.DataFrame({
        "label": list(names), "expected_support": support, "predicted": called,
        "expected_tp": tp, **{stat: per[stat] for stat in _PER_CLASS},
        **{f"{stat}_standard_error": per_errors[stat] for stat in _PER_CLASS}}, strict=False)
    averages = pl.DataFrame({"average": ["macro", "micro", "weighted"], **{
        stat: [float(point[f"{stat}_{avg}"]) for avg in ("macro", "micro", "weighted")]
        for stat in _PER_CLASS}})
    return EstimatedMulticlassMetrics(names, e, round(float(e.sum())),
                                      float(point["accuracy"]), per_class, averages, errors)


def _per_class(tp: np.ndarray, support: np.ndarray, called: np.ndarray) -> dict[str, np.ndarray]:
    return {stat: kernel(tp, support, called) for stat, kernel in _PER_CLASS_KERNELS.items()}


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _simulated(e: np.ndarray, s: np.ndarray, n_draws: int, rng: np.random.Generator
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The averaged and per-class metrics of ``n_draws`` simulated matrices, in chunks.

    Chunks of at most `_DRAW_CELLS` cells from ``rng``: the same normal draws, in the same
    order, as one call (200 draws of a 1,000-class matrix at once held 1.6 GB, times the
    temporaries).
    """
    step = max(1, _DRAW_CELLS // e.size)
    averaged: list[dict[str, np.ndarray]] = []
    per_class: list[dict[str, np.ndarray]] = []
    for done in range(0, n_draws, step):
        draws = _draw_matrices(e, s, min(step, n_draws - done), rng)
        averaged.append(class_metric_draws(draws))
        per_class.append(_per_class(np.diagonal(draws, axis1=-2, axis2=-1),
                                    draws.sum(axis=-1), draws.sum(axis=-2)))
    return ({key: np.concatenate([part[key] for part in averaged]) for key in averaged[0]},
            {key: np.concatenate([part[key] for part in per_class]) for key in per_class[0]})


def _draw_matrices(e: np.ndarray, s: np.ndarray, n_draws: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Normal draws of the realised matrix with each predicted column's total held fixed.

    Cells get variance ``SUM(p) - SUM(p * p)``; the diagonal cell of a column keeps its draw
    (clipped to the column total), the other cells of the column are rescaled to fill the
    rest, which gives them the negative correlation with the diagonal the realised counts have.
    """
    sd = np.sqrt(np.clip(e - s, 0.0, None))
    called = e.sum(axis=0)
    draws = np.clip(e + rng.standard_normal((n_draws, *e.shape)) * sd, 0.0, None)
    eye = np.eye(e.shape[0], dtype=bool)
    diag = np.minimum(np.diagonal(draws, axis1=-2, axis2=-1), called)
    off = np.where(eye, 0.0, draws)
    off_total = off.sum(axis=-2)
    scale = np.divide(called - diag, off_total, out=np.zeros_like(off_total),
                      where=off_total > 0)
    return off * scale[..., None, :] + eye * diag[..., None, :]
