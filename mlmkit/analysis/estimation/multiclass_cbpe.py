"""Multiclass CBPE on rows: per-class calibration on a labelled reference, then estimation.

Calibration follows NannyML: one isotonic regression per class, one-vs-rest (``actual == k``
on ``p_k``), then each row renormalised to sum to 1. With ``calibration="auto"`` (NannyML's
``needs_calibration``) a class is calibrated only if cross-validation on the reference shows
it helps: the isotonic map is fitted on 4/5 of the rows and the expected calibration error
(ECE: 10 equal-count bins of the sorted probabilities, NannyML's definition) of the held-out
fifth compared before and after, over 5 folds; a class whose out-of-fold ECE does not drop
keeps its probabilities. ``"isotonic"`` calibrates every class, ``"none"`` none.
[`MulticlassCBPE.reliability`][mlmkit.analysis.estimation.MulticlassCBPE.reliability]
reports those out-of-fold ECEs per class.

Estimates survive covariate shift (the inputs move, ``P(actual | probabilities)`` stays) but
not concept drift. With per-class maps the calibrated rows are only approximately calibrated
jointly (each map sees one coordinate); the tests state the resulting error.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, check_int, invalid
from mlmkit.analysis.estimation.binary import CBPE
from mlmkit.analysis.estimation.multiclass import (
    EstimatedMulticlassMetrics,
    as_probabilities,
    estimate_multiclass_from_sums,
    expected_confusion_sums,
    predicted_index,
)
from mlmkit.analysis.metrics.multiclass.confusion import check_labels
from mlmkit.exceptions import StateError

__all__ = ["MulticlassCBPE", "estimate_multiclass_performance", "expected_calibration_error"]

CALIBRATIONS = ("auto", "isotonic", "none")
_FOLDS = 5


def expected_calibration_error(actual: Any, probability: Any, *, bins: int = 10) -> float:
    """ECE of one class: rows sorted by probability, ``bins`` equal-count bins (NannyML).

    ``sum over bins of (rows in bin / n) * |mean probability - share of positives|``.

    Examples
    --------
    >>> expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8], bins=2)
    0.25
    """
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(actual, dtype=np.float64)
    bins = check_int("bins", bins, low=1)
    if p.shape != y.shape or p.ndim != 1 or p.size == 0:
        raise invalid("probability", f"a non-empty 1-D array like actual {y.shape}", p.shape)
    order = np.argsort(p, kind="stable")
    edges = np.linspace(0, p.size, min(bins, p.size) + 1).astype(np.int64)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        part = order[low:high]
        if part.size:
            total += part.size / p.size * abs(float(p[part].mean() - y[part].mean()))
    return round(total, 12)


class MulticlassCBPE:
    """Fit per-class calibration on a labelled reference; estimate unlabelled windows.

    Parameters
    ----------
    calibration : {"auto", "isotonic", "none"}, default "auto"
        Which classes to calibrate (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> logits = rng.normal(size=(20000, 3)) * 2
    >>> true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    >>> model = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    >>> actual = (rng.random((20000, 1)) > true.cumsum(axis=1)).sum(axis=1)
    >>> cbpe = MulticlassCBPE().fit(actual[:10000], model[:10000])
    >>> est = cbpe.estimate(model[10000:])
    >>> realised = float(np.mean(model[10000:].argmax(axis=1) == actual[10000:]))
    >>> bool(abs(est.accuracy - realised) < 0.02), bool(model[10000:].max(axis=1).mean() > 0.9)
    (True, True)
    """

    def __init__(self, *, calibration: str = "auto") -> None:
        self._calibration = check_choice("calibration", calibration, CALIBRATIONS)
        self._labels: tuple[Any, ...] | None = None
        self._maps: list[CBPE | None] = []
        self._reliability: pl.DataFrame | None = None

    @property
    def labels(self) -> tuple[Any, ...]:
        """Class labels, in the order of the probability columns."""
        return self._fitted()[0]

    @property
    def reliability(self) -> pl.DataFrame:
        """Per-class calibration check on the reference (one row per class).

        Columns ``label``, ``reference_share``, ``mean_probability``, out-of-fold
        ``ece_uncalibrated`` and ``ece_calibrated``, and whether the class is ``calibrated``.
        """
        self._fitted()
        assert self._reliability is not None
        return self._reliability

    def _fitted(self) -> tuple[tuple[Any, ...], list[CBPE | None]]:
        if self._labels is None:
            raise StateError("MulticlassCBPE is not fitted; call fit(reference_actual, "
                             "reference_probabilities)")
        return self._labels, self._maps

    def fit(self, reference_actual: Any, reference_probabilities: Any, *,
            labels: Sequence[Any] | None = None, seed: int = 0) -> MulticlassCBPE:
        """Fit the per-class calibration on a labelled reference window.

        Parameters
        ----------
        reference_actual : array-like
            Actual class of each reference row (one of ``labels``); every class must occur.
        reference_probabilities : array-like of shape (n, K)
            The model's class probabilities (columns in ``labels`` order), rows summing to 1.
        labels : sequence, optional
            Class labels; default ``0..K-1``.
        seed : int, default 0
            Seed of the cross-validation folds of ``calibration="auto"``.

        Returns
        -------
        MulticlassCBPE
            ``self``.
        """
        p = as_probabilities("reference_probabilities", reference_probabilities)
        names = check_labels(range(p.shape[1]) if labels is None else labels, "labels")
        if len(names) != p.shape[1]:
            raise invalid("labels", f"{p.shape[1]} labels (one per column)", list(names))
        y = predicted_index("reference_actual", reference_actual, names, p.shape[0])
        counts = np.bincount(y, minlength=len(names))
        if (counts == 0).any() or (counts == p.shape[0]).any():
            raise invalid("reference_actual", "rows of every class and of more than one",
                          dict(zip(names, counts.tolist(), strict=True)))
        folds = np.asarray(np.random.default_rng(check_int("seed", seed, low=0)).integers(
            0, _FOLDS, size=p.shape[0]))
        maps: list[CBPE | None] = []
        rows = []
        for k, label in enumerate(names):
            positive = y == k
            before, after = _cross_validated_ece(positive, p[:, k], folds)
            use = self._calibration == "isotonic" or (
                self._calibration == "auto" and after < before)
            maps.append(CBPE().fit(positive, p[:, k]) if use else None)
            rows.append((label, float(positive.mean()), float(p[:, k].mean()), before, after,
                         use))
        self._labels, self._maps = names, maps
        self._reliability = pl.DataFrame(rows, schema=[
            ("label", _label_dtype(names)), ("reference_share", pl.Float64),
            ("mean_probability", pl.Float64), ("ece_uncalibrated", pl.Float64),
            ("ece_calibrated", pl.Float64), ("calibrated", pl.Boolean)], orient="row")
        return self

    def calibrate(self, probabilities: Any) -> np.ndarray:
        """Calibrated probabilities (per-class maps, rows renormalised; a zero row: uniform).

        Examples
        --------
        >>> cbpe = MulticlassCBPE(calibration="none").fit([0, 1, 1], [[.9, .1], [.2, .8],
        ...                                                            [.4, .6]])
        >>> cbpe.calibrate([[0.25, 0.75]]).tolist()
        [[0.25, 0.75]]
        """
        names, maps = self._fitted()
        p = as_probabilities("probabilities", probabilities, len(names))
        out = np.column_stack([p[:, k] if m is None else m.calibrate(p[:, k])
                               for k, m in enumerate(maps)])
        total = out.sum(axis=1, keepdims=True)
        uniform = np.full_like(out, 1.0 / len(names))
        return np.divide(out, total, out=uniform, where=total > 0)

    def estimate(self, probabilities: Any, *, predicted: Any = None, n_simulations: int = 1000,
                 seed: int = 0) -> EstimatedMulticlassMetrics:
        """Estimate the metrics of an unlabelled window from the model's probabilities.

        Parameters
        ----------
        probabilities : array-like of shape (n, K)
            The model's (uncalibrated) class probabilities, columns in `labels` order.
        predicted : array-like, optional
            Predicted class of each row; default the class of the highest probability.
        n_simulations : int, default 1000
            Draws for the standard errors.
        seed : int, default 0
            Seed of the draws.

        Returns
        -------
        EstimatedMulticlassMetrics
        """
        names, _ = self._fitted()
        raw = as_probabilities("probabilities", probabilities, len(names))
        if predicted is None:
            predicted = [names[i] for i in raw.argmax(axis=1)]
        sums = expected_confusion_sums(predicted, self.calibrate(raw), labels=names)
        return estimate_multiclass_from_sums(sums, labels=names, n_simulations=n_simulations,
                                             seed=seed)


def _label_dtype(names: tuple[Any, ...]) -> type[pl.DataType]:
    return pl.Utf8 if isinstance(names[0], str) else pl.Int64


def _cross_validated_ece(positive: np.ndarray, p: np.ndarray,
                         folds: np.ndarray) -> tuple[float, float]:
    """Out-of-fold ECE of ``p`` and of its isotonic calibration (NaN if a fold lacks a class)."""
    calibrated = np.full(p.shape[0], np.nan)
    for fold in range(_FOLDS):
        train, test = folds != fold, folds == fold
        if not test.any() or positive[train].all() or not positive[train].any():
            return expected_calibration_error(positive, p), float("nan")
        calibrated[test] = CBPE().fit(positive[train], p[train]).calibrate(p[test])
    return (expected_calibration_error(positive, p),
            expected_calibration_error(positive, calibrated))


def estimate_multiclass_performance(
    reference_actual: Any,
    reference_probabilities: Any,
    probabilities: Any,
    *,
    labels: Sequence[Any] | None = None,
    predicted: Any = None,
    calibration: str = "auto",
    n_simulations: int = 1000,
    seed: int = 0,
) -> EstimatedMulticlassMetrics:
    """Fit `MulticlassCBPE` on a labelled reference window and estimate an unlabelled one.

    Arguments as `MulticlassCBPE.fit` and `MulticlassCBPE.estimate`.

    Examples
    --------
    >>> est = estimate_multiclass_performance(
    ...     ["a", "b", "c", "a"], [[.8, .1, .1], [.1, .8, .1], [.1, .1, .8], [.6, .2, .2]],
    ...     [[.7, .2, .1], [.2, .2, .6]], labels=["a", "b", "c"], calibration="none")
    >>> round(est.accuracy, 4), est.n
    (0.65, 2)
    """
    return MulticlassCBPE(calibration=calibration).fit(
        reference_actual, reference_probabilities, labels=labels, seed=seed).estimate(
        probabilities, predicted=predicted, n_simulations=n_simulations, seed=seed)
