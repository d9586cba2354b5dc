"""Label-free performance estimation from calibrated scores (confidence-based, as NannyML's CBPE).

Labels often arrive days after the predictions. If a model's scores are calibrated —
``P(actual = 1 | score) = calibrated(score)`` — the confusion matrix of an unlabelled window
is known in expectation: with ``p_i`` the calibrated probability of row ``i`` and
``predicted_i = score_i >= threshold``,

- ``E[tp] = sum(p_i  over predicted positives)``, ``E[fp] = n_predicted_positive - E[tp]``,
- ``E[fn] = sum(p_i  over predicted negatives)``, ``E[tn] = n_predicted_negative - E[fn]``,

and every count metric is estimated by plugging the expected counts into its formula
(exact in expectation for accuracy and precision, a ratio estimate for the others). The
expected ROC AUC weights each (row ``i``, row ``j``) pair by ``p_i (1 - p_j)``.

Calibration is an isotonic regression (pool-adjacent-violators, ``scipy.optimize.
isotonic_regression``) of the labels on the scores of a labelled reference window, linearly
interpolated between distinct reference scores and clipped outside them (the same map as
scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``).

Expected error. Given the calibration holds, the realised metric of the window differs
from the estimate only by label noise: ``tp`` and ``fn`` are independent Poisson-binomial
sums, and ``standard_errors`` reports the delta-method standard error of each count metric
from their variances ``sum p (1 - p)`` and, for ROC AUC, the standard deviation over
``n_simulations`` seeded label draws. ``|estimate - realised|`` stays within 3 standard
errors plus the calibration error of the fitted map, which for a reference window of
>= 10,000 rows is typically below 0.01. Estimates survive covariate shift (scores move,
``P(actual | score)`` stays) but not concept drift (the calibration itself changes) —
that is what the labelled metrics are for once labels arrive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from scipy.optimize import isotonic_regression
from scipy.stats import rankdata

from mlmkit._validation import check_int, check_probability, invalid
from mlmkit.analysis.metrics import _kernels
from mlmkit.analysis.metrics._inputs import (
    FloatArray,
    as_binary,
    as_score,
    check_length,
    warn_undefined,
)
from mlmkit.analysis.metrics.intervals import Interval, html_table, normal_interval
from mlmkit.exceptions import StateError

__all__ = ["CBPE", "EstimatedMetrics", "estimate_performance"]

_SIMULATION_CELLS = 20_000_000  # label draws per roc_auc standard error before subsampling


@dataclass(frozen=True)
class EstimatedMetrics:
    """Estimated metrics of an unlabelled window (see the module docstring for the method).

    ``standard_errors`` holds the standard error of each estimate;
    [`interval`][mlmkit.analysis.estimation.EstimatedMetrics.interval] turns one into a normal
    confidence interval. ``metrics["accuracy"]`` reads a metric by name.

    Examples
    --------
    >>> est = estimate_performance([0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.4, 0.8, 0.6, 0.9],
    ...                            [0.2, 0.7, 0.95])
    >>> # calibrated probabilities of the window: 0.2 -> 0, 0.7 -> 0.75, 0.95 -> 1
    >>> round(est.accuracy, 4), est.sample_count, est.expected_tp, est.expected_fp
    (0.9167, 3, 1.75, 0.25)
    """

    accuracy: float
    precision: float
    recall: float
    f1_score: float
    specificity: float
    balanced_accuracy: float
    mcc: float
    roc_auc: float
    expected_tp: float
    expected_fp: float
    expected_tn: float
    expected_fn: float
    sample_count: int
    threshold: float
    standard_errors: Mapping[str, float] = field(default_factory=dict)

    def interval(self, metric: str, *, confidence: float = 0.95) -> Interval:
        """Normal interval ``estimate ± z * standard_error`` for ``metric``.

        Examples
        --------
        >>> est = EstimatedMetrics(*[0.5] * 8, 50.0, 50.0, 50.0, 50.0, 200, 0.5,
        ...                        standard_errors={"accuracy": 0.01})
        >>> round(est.interval("accuracy").high, 4)
        0.5196
        """
        if metric not in self.standard_errors:
            raise invalid("metric", f"one of {sorted(self.standard_errors)}", metric)
        confidence = check_probability("confidence", confidence, open_interval=True)
        return normal_interval(getattr(self, metric), self.standard_errors[metric], confidence)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (``standard_errors`` as a nested dict)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["standard_errors"] = dict(self.standard_errors)
        return out

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def _repr_html_(self) -> str:
        rows: dict[str, Any] = {}
        for key, value in self.to_dict().items():
            if key == "standard_errors":
                continue
            se = self.standard_errors.get(key)
            rows[key] = value if se is None else f"{value:.4g} ± {se:.2g}"
        return html_table(rows, title="Estimated metrics (no labels)")


class CBPE:
    """Confidence-based performance estimation: fit calibration on labels, estimate without.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> score = rng.random(5000)
    >>> actual = rng.random(5000) < score ** 2          # scores are not calibrated
    >>> cbpe = CBPE().fit(actual, score, threshold=0.5)
    >>> new = rng.random(5000)
    >>> est = cbpe.estimate(new)
    >>> realised = np.mean((rng.random(5000) < new ** 2) == (new >= 0.5))
    >>> bool(abs(est.accuracy - realised) < 3 * est.standard_errors["accuracy"] + 0.01)
    True
    """

    def __init__(self) -> None:
        self._x: FloatArray | None = None
        self._y: FloatArray | None = None
        self._threshold = 0.5

    @property
    def threshold(self) -> float:
        """Decision threshold: a row is predicted positive when ``score >= threshold``."""
        return self._threshold

    @property
    def is_fitted(self) -> bool:
        """Whether [`fit`][mlmkit.analysis.estimation.CBPE.fit] has been called."""
        return self._x is not None

    def fit(self, reference_actual: Any, reference_score: Any, *,
            threshold: float = 0.5) -> CBPE:
        """Fit the isotonic calibration on a labelled reference window.

        Parameters
        ----------
        reference_actual : array-like of bool or 0/1
            Labels of the reference window; both classes must occur.
        reference_score : array-like of float in [0, 1]
            Scores of the same rows.
        threshold : float, default 0.5
            Decision threshold of the model.

        Returns
        -------
        CBPE
            ``self``.
        """
        y = as_binary("reference_actual", reference_actual)
        s = as_score("reference_score", reference_score)
        check_length("reference_score", s, "reference_actual", y.shape[0])
        positives = int(np.count_nonzero(y))
        if positives in (0, y.shape[0]):
            raise invalid("reference_actual", "labels of both classes", f"{positives} of "
                          f"{y.shape[0]} positive")
        self._threshold = check_probability("threshold", threshold)
        values, pos, neg = _kernels.score_groups(y, s)
        count = (pos + neg).astype(np.float64)
        fitted = isotonic_regression(pos / count, weights=count, increasing=True)
        self._x, self._y = values, np.asarray(fitted.x, dtype=np.float64)
        return self

    def calibrate(self, score: Any) -> FloatArray:
        """Calibrated probabilities ``P(actual = 1 | score)`` for ``score``.

        Examples
        --------
        >>> CBPE().fit([0, 0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).calibrate(
        ...     [0.05, 0.35, 0.9]).tolist()
        [0.0, 0.5, 1.0]
        """
        if self._x is None or self._y is None:
            raise StateError("CBPE is not fitted; call fit(reference_actual, reference_score)")
        s = as_score("score", score)
        return np.asarray(np.interp(s, self._x, self._y), dtype=np.float64)

    def estimate(self, score: Any, *, n_simulations: int = 200, seed: int = 0) -> EstimatedMetrics:
        """Estimate the metrics of an unlabelled window from its scores.

        Parameters
        ----------
        score : array-like of float in [0, 1]
            Scores of the window.
        n_simulations : int, default 200
            Seeded label draws for the ROC AUC standard error (0 skips it: NaN). Windows
            with more than ``20e6 / n_simulations`` rows use that many random rows and scale
            the standard error by ``sqrt(m / n)``.
        seed : int, default 0
            Seed of the simulation.

        Returns
        -------
        EstimatedMetrics
            NaN (with an UndefinedMetricWarning) for metrics that are 0/0 in expectation.
        """
        p = self.calibrate(score)
        s = as_score("score", score)
        n_simulations = check_int("n_simulations", n_simulations, low=0)
        seed = check_int("seed", seed, low=0)
        predicted = s >= self._threshold
        e_tp, e_fn = float(p[predicted].sum()), float(p[~predicted].sum())
        n_pos_pred = int(np.count_nonzero(predicted))
        counts = (e_tp, n_pos_pred - e_tp, s.shape[0] - n_pos_pred - e_fn, e_fn)
        values = {k: float(v) for k, v in _kernels.count_metrics(*counts).items()}
        var = p * (1.0 - p)
        errors = _delta_errors(counts, float(var[predicted].sum()), float(var[~predicted].sum()))
        values["roc_auc"] = _expected_auc(p, s)
        errors["roc_auc"] = _simulated_auc_error(p, s, n_simulations, seed)
        undefined = [k for k, v in values.items() if math.isnan(v)]
        if undefined:
            warn_undefined(undefined, f"expected counts {tuple(round(c, 3) for c in counts)}")
        return EstimatedMetrics(
            **values, expected_tp=counts[0], expected_fp=counts[1], expected_tn=counts[2],
            expected_fn=counts[3], sample_count=int(s.shape[0]), threshold=self._threshold,
            standard_errors=errors,
        )


def _delta_errors(counts: tuple[float, float, float, float], var_tp: float,
                  var_fn: float) -> dict[str, float]:
    """Delta-method standard errors; tp and fn vary independently, fp / tn follow."""
    tp, fp, tn, fn = counts
    base = _kernels.count_metrics(tp, fp, tn, fn)
    h = 0.5
    d_tp = _kernels.count_metrics(tp + h, fp - h, tn, fn)
    m_tp = _kernels.count_metrics(tp - h, fp + h, tn, fn)
    d_fn = _kernels.count_metrics(tp, fp, tn - h, fn + h)
    m_fn = _kernels.count_metrics(tp, fp, tn + h, fn - h)
    out = {}
    with np.errstate(invalid="ignore"):
        for name in base:
            g_tp = (d_tp[name] - m_tp[name]) / (2 * h)
            g_fn = (d_fn[name] - m_fn[name]) / (2 * h)
            out[name] = float(np.sqrt(g_tp**2 * var_tp + g_fn**2 * var_fn))
    return out


def _expected_auc(p: FloatArray, s: FloatArray) -> float:
    """``sum_{i != j} p_i (1 - p_j) [s_i > s_j]`` (ties 1/2) over its value without the order."""
    values, inverse = np.unique(s, return_inverse=True)
    pos = np.bincount(inverse, weights=p, minlength=values.shape[0])
    neg = np.bincount(inverse, weights=1.0 - p, minlength=values.shape[0])
    self_pairs = float(np.dot(p, 1.0 - p))
    below = np.cumsum(neg) - neg
    numerator = float(np.dot(pos, below + 0.5 * neg)) - 0.5 * self_pairs
    denominator = float(pos.sum() * neg.sum()) - self_pairs
    return numerator / denominator if denominator > 0 else math.nan


def _simulated_auc_error(p: FloatArray, s: FloatArray, n_simulations: int, seed: int) -> float:
    """Standard deviation of the realised AUC over seeded Bernoulli(p) label draws."""
    n = p.shape[0]
    if n_simulations == 0 or n < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    m = min(n, max(2, _SIMULATION_CELLS // n_simulations))
    if m < n:
        keep = rng.choice(n, size=m, replace=False)
        p, s = p[keep], s[keep]
    ranks = rankdata(s)
    chunk = max(1, 4_000_000 // m)
    draws = []
    for start in range(0, n_simulations, chunk):
        labels = rng.random((min(chunk, n_simulations - start), m)) < p
        n_pos = labels.sum(axis=1).astype(np.float64)
        rank_sum = labels.astype(np.float64) @ ranks
        with np.errstate(divide="ignore", invalid="ignore"):
            draws.append((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * (m - n_pos)))
    auc = np.concatenate(draws)
    auc = auc[np.isfinite(auc)]
    if auc.size < 2:
        return math.nan
    return float(np.std(auc, ddof=1) * math.sqrt(m / n))


def estimate_performance(
    reference_actual: Any,
    reference_score: Any,
    score: Any,
    *,
    threshold: float = 0.5,
    n_simulations: int = 200,
    seed: int = 0,
) -> EstimatedMetrics:
    """Fit `CBPE` on a labelled reference window and estimate an unlabelled one.

    Parameters
    ----------
    reference_actual : array-like of bool or 0/1
        Labels of the reference window (both classes).
    reference_score : array-like of float in [0, 1]
        Scores of the reference rows.
    score : array-like of float in [0, 1]
        Scores of the unlabelled window.
    threshold : float, default 0.5
        Decision threshold (``score >= threshold`` is positive).
    n_simulations : int, default 200
        Label draws for the ROC AUC standard error.
    seed : int, default 0
        Seed of the simulation.

    Returns
    -------
    EstimatedMetrics
        Estimates with standard errors.

    Examples
    --------
    >>> est = estimate_performance([0, 1, 0, 1], [0.2, 0.9, 0.4, 0.6], [0.1, 0.95])
    >>> est.accuracy, est.roc_auc
    (1.0, 1.0)
    """
    return CBPE().fit(reference_actual, reference_score, threshold=threshold).estimate(
        score, n_simulations=n_simulations, seed=seed)
