"""Binary classification metrics from rows or from sufficient statistics.

From rows:
[`binary_classification_metrics`][mlmkit.analysis.metrics.binary_classification_metrics] (the
API-contract dict), [`roc_auc`][mlmkit.analysis.metrics.roc_auc],
[`average_precision`][mlmkit.analysis.metrics.average_precision],
[`brier_score`][mlmkit.analysis.metrics.brier_score],
[`log_loss`][mlmkit.analysis.metrics.log_loss],
`calibration`,
[`expected_calibration_error`][mlmkit.analysis.metrics.expected_calibration_error]. From
aggregates a database can compute (no rows):
[`metrics_from_counts`][mlmkit.analysis.metrics.metrics_from_counts] /
[`Metrics.from_counts`][mlmkit.analysis.metrics.Metrics.from_counts],
[`auc_from_histograms`][mlmkit.analysis.metrics.auc_from_histograms],
[`average_precision_from_histograms`][mlmkit.analysis.metrics.average_precision_from_histograms],
[`brier_score_from_sums`][mlmkit.analysis.metrics.brier_score_from_sums],
[`log_loss_from_sums`][mlmkit.analysis.metrics.log_loss_from_sums],
[`calibration_from_histograms`][mlmkit.analysis.metrics.calibration_from_histograms].
Intervals: [`wilson_interval`][mlmkit.analysis.metrics.wilson_interval],
[`bootstrap_interval`][mlmkit.analysis.metrics.bootstrap_interval].

Conventions: labels are bool or 0/1 with 1 the positive class; scores are positive-class
probabilities in [0, 1]; a metric that is 0/0 (e.g. precision with no predicted positives,
ROC AUC with one class) is NaN and emits one
[`UndefinedMetricWarning`][mlmkit.analysis.metrics.UndefinedMetricWarning] per call. This
differs from scikit-learn, which returns 0.0 for an undefined MCC and averages the present classes
for balanced accuracy; every defined value equals scikit-learn's. Counting uses ``count_nonzero``
and ROC AUC / average precision one sort of the scores, so 1e7 rows take well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from mlmkit._validation import check_int, check_probability
from mlmkit.analysis.metrics import _kernels
from mlmkit.analysis.metrics._inputs import (
    UndefinedMetricWarning,
    as_score,
    check_length,
    warn_undefined,
)
from mlmkit.analysis.metrics.calibration import (
    calibration,
    calibration_from_histograms,
    expected_calibration_error,
    expected_calibration_error_from_histograms,
)
from mlmkit.analysis.metrics.histograms import (
    auc_from_histograms,
    auc_histogram_error_bound,
    average_precision_from_histograms,
    brier_score_from_sums,
    log_loss_from_sums,
)
from mlmkit.analysis.metrics.intervals import (
    SCORE_METRICS,
    Interval,
    bootstrap_counts,
    bootstrap_interval,
    html_table,
    percentile_interval,
    score_bootstrap,
    wilson_bounds,
    wilson_interval,
)
from mlmkit.analysis.metrics.scores import (
    average_precision,
    brier_score,
    log_loss,
    roc_auc,
    rows,
    score_values,
)
from mlmkit.catalogue import Kind, Significance, proportion, select

__all__ = [
    "Interval",
    "Metrics",
    "UndefinedMetricWarning",
    "auc_from_histograms",
    "auc_histogram_error_bound",
    "average_precision",
    "average_precision_from_histograms",
    "binary_classification_metrics",
    "bootstrap_interval",
    "brier_score",
    "brier_score_from_sums",
    "calibration",
    "calibration_from_histograms",
    "expected_calibration_error",
    "expected_calibration_error_from_histograms",
    "log_loss",
    "log_loss_from_sums",
    "metrics_from_counts",
    "roc_auc",
    "wilson_interval",
]

_WILSON = select(kind=Kind.COUNT, test=Significance.PROPORTION)
_BOOTSTRAPPED = select(kind=Kind.COUNT, test=Significance.BOOTSTRAP)


@dataclass(frozen=True)
class Metrics:
    """Binary classification metrics of one set of rows (or of its confusion counts).

    ``metrics["accuracy"]`` reads a metric by name;
    [`to_dict`][mlmkit.analysis.metrics.Metrics.to_dict] gives the flat dict of
    [`binary_classification_metrics`][mlmkit.analysis.metrics.binary_classification_metrics].
    Score-based fields are ``None`` when no scores were given; undefined metrics are NaN.

    Examples
    --------
    >>> m = Metrics.from_counts(40, 10, 45, 5)
    >>> m["accuracy"], m.precision, m.confusion_matrix["fn"]
    (0.85, 0.8, 5)
    """

    accuracy: float
    precision: float
    recall: float
    f1_score: float
    specificity: float
    balanced_accuracy: float
    mcc: float
    tp: int
    fp: int
    tn: int
    fn: int
    sample_count: int
    roc_auc: float | None = None
    pr_auc: float | None = None
    brier_score: float | None = None
    log_loss: float | None = None
    confidence_intervals: Mapping[str, Interval] = field(default_factory=dict)

    @classmethod
    def from_counts(
        cls,
        tp: int,
        fp: int,
        tn: int,
        fn: int,
        *,
        roc_auc: float | None = None,
        pr_auc: float | None = None,
        brier_score: float | None = None,
        log_loss: float | None = None,
        ci: bool = False,
        confidence: float = 0.95,
        n_resamples: int = 1000,
        seed: int = 0,
    ) -> Metrics:
        """Build the result from confusion counts (plus score metrics computed elsewhere).

        With ``ci=True``, accuracy / precision / recall / specificity get Wilson intervals
        and F1 / balanced accuracy / MCC a bootstrap interval from multinomial resamples of
        the four cells (exactly row resampling), so no rows are needed.

        Examples
        --------
        >>> m = Metrics.from_counts(40, 10, 45, 5, ci=True)
        >>> round(m.confidence_intervals["precision"].low, 4)
        0.6696
        """
        counts = (check_int("tp", tp, low=0), check_int("fp", fp, low=0),
                  check_int("tn", tn, low=0), check_int("fn", fn, low=0))
        confidence = check_probability("confidence", confidence, open_interval=True)
        values = {k: float(v) for k, v in _kernels.count_metrics(*counts).items()}
        undefined = [k for k, v in values.items() if math.isnan(v)]
        if undefined:
            warn_undefined(undefined, "0/0 with tp={}, fp={}, tn={}, fn={}".format(*counts))
        intervals: dict[str, Interval] = {}
        if ci:
            intervals = _count_intervals(counts, values, confidence, n_resamples, seed)
        tp_, fp_, tn_, fn_ = counts
        return cls(**values, tp=tp_, fp=fp_, tn=tn_, fn=fn_, sample_count=sum(counts),
                   roc_auc=roc_auc, pr_auc=pr_auc, brier_score=brier_score, log_loss=log_loss,
                   confidence_intervals=intervals)

    @property
    def confusion_matrix(self) -> dict[str, int]:
        """The confusion counts as ``{"tp", "fp", "tn", "fn"}``."""
        return {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn}

    def to_dict(self) -> dict[str, Any]:
        """Flat dict of every metric (score metrics only when present), plus intervals."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "confidence_intervals":
                if value:
                    out[f.name] = {k: v.to_dict() for k, v in value.items()}
            elif value is not None:
                out[f.name] = value
        return out

    def __getitem__(self, key: str) -> Any:
        if key == "confusion_matrix":
            return self.confusion_matrix
        return self.to_dict()[key]

    def _repr_html_(self) -> str:
        rows: dict[str, Any] = {}
        for key, value in self.to_dict().items():
            if key == "confidence_intervals":
                continue
            ci = self.confidence_intervals.get(key)
            rows[key] = value if ci is None else f"{value:.4g} [{ci.low:.4g}, {ci.high:.4g}]"
        return html_table(rows, title="Metrics")


def _count_intervals(
    counts: tuple[int, int, int, int], values: Mapping[str, float], confidence: float,
    n_resamples: int, seed: int,
) -> dict[str, Interval]:
    n_resamples = check_int("n_resamples", n_resamples, low=1)
    seed = check_int("seed", seed, low=0)
    out: dict[str, Interval] = {}
    cells = dict(zip(("tp", "fp", "tn", "fn"), counts, strict=True))
    for name in _WILSON:
        low, high = wilson_bounds(*proportion(name, cells), confidence)
        out[name] = Interval(float(low), float(high), values[name], confidence, "wilson")
    draws = bootstrap_counts(counts, n_resamples, np.random.default_rng(seed))
    for name in _BOOTSTRAPPED:
        if math.isnan(values[name]):
            out[name] = Interval(math.nan, math.nan, math.nan, confidence, "bootstrap")
        else:
            out[name] = percentile_interval(draws[name], values[name], confidence, name)
    return out


def metrics_from_counts(tp: int, fp: int, tn: int, fn: int) -> dict[str, Any]:
    """Every count metric from confusion counts, e.g. from a SQL ``GROUP BY``.

    Parameters
    ----------
    tp, fp, tn, fn : int
        Non-negative confusion counts.

    Returns
    -------
    dict
        ``accuracy, precision, recall, f1_score, specificity, balanced_accuracy, mcc, tp,
        fp, tn, fn, sample_count``; use
        [`Metrics.from_counts`][mlmkit.analysis.metrics.Metrics.from_counts] for the result
        object (with intervals).

    Examples
    --------
    >>> d = metrics_from_counts(40, 10, 45, 5)
    >>> d["recall"], round(d["f1_score"], 4), round(d["mcc"], 4)
    (0.8888888888888888, 0.8421, 0.7035)
    """
    return Metrics.from_counts(tp, fp, tn, fn).to_dict()


def binary_classification_metrics(
    actual: Any,
    predicted: Any,
    score: Any = None,
    *,
    ci: bool = False,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every binary classification metric of one set of rows, as a plain dict.

    Parameters
    ----------
    actual : array-like of bool or 0/1
        True labels (numpy, list, polars or pandas Series).
    predicted : array-like of bool or 0/1
        Predicted labels, same length.
    score : array-like of float in [0, 1], optional
        Positive-class scores; adds ``roc_auc``, ``pr_auc`` (average precision),
        ``brier_score`` and ``log_loss`` (scores clipped to ``[eps, 1 - eps]``).
    ci : bool, default False
        Add ``confidence_intervals``: Wilson for accuracy / precision / recall /
        specificity, seeded bootstrap for F1 / balanced accuracy / MCC / ROC AUC / PR AUC.
    confidence : float, default 0.95
        Interval coverage.
    n_resamples : int, default 1000
        Bootstrap resamples.
    seed : int, default 0
        Bootstrap seed.

    Returns
    -------
    dict
        ``accuracy, precision, recall, f1_score, specificity, balanced_accuracy, mcc, tp,
        fp, tn, fn, sample_count`` (+ score metrics, + ``confidence_intervals``).

    Raises
    ------
    ValidationError
        Naming the argument: unequal lengths, non-binary labels, scores outside [0, 1]/NaN.

    Examples
    --------
    >>> m = binary_classification_metrics([1, 0, 1, 1, 0], [1, 0, 0, 1, 1],
    ...                                   score=[0.9, 0.2, 0.4, 0.8, 0.6])
    >>> m["accuracy"], m["tp"], round(m["roc_auc"], 4), round(m["brier_score"], 4)
    (0.6, 2, 0.8333, 0.162)
    """
    y, p = rows(actual, predicted, "predicted", binary=True)
    s = None
    if score is not None:
        s = as_score("score", score)
        check_length("score", s, "actual", y.shape[0])
    confidence = check_probability("confidence", confidence, open_interval=True)
    counts = _kernels.confusion_counts(y, p)
    extra: dict[str, Any] = score_values(y, s) if s is not None else {}
    undefined = [k for k, v in extra.items() if math.isnan(v)]
    if undefined:
        warn_undefined(undefined, "needs rows of both classes")
    result = Metrics.from_counts(*counts, ci=ci, confidence=confidence,
                                 n_resamples=n_resamples, seed=seed, **extra)
    if ci and s is not None:
        intervals = dict(result.confidence_intervals)
        for name in SCORE_METRICS:
            intervals[name] = score_bootstrap(y, s, name, n_resamples, confidence,
                                              np.random.default_rng(seed), 10_000)
        result = Metrics(**{**{f.name: getattr(result, f.name) for f in fields(result)},
                            "confidence_intervals": intervals})
    return result.to_dict()

