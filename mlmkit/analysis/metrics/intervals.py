"""Confidence intervals for the metrics: Wilson for proportions, a vectorised bootstrap.

The bootstrap never loops over rows. Resampling ``n`` rows with replacement is the same as
drawing the number of copies of each distinct ``(label, prediction)`` or ``(label, score)``
cell from a multinomial, so count metrics resample the four confusion cells and ranking
metrics resample the per-distinct-score positive / negative counts (binned to at most
``max_bins`` uniform score bins for very large windows; see `auc_histogram_error_bound`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from mlmkit._html import dict_table
from mlmkit._validation import check_choice, check_int, check_probability
from mlmkit.analysis.metrics import _kernels
from mlmkit.analysis.metrics._inputs import as_binary, as_score, check_length, warn_undefined
from mlmkit.catalogue import Kind, Significance, select

#: Ranking metrics of the scores, bootstrapped over the score histogram.
SCORE_METRICS = select(kind=Kind.SCORE, test=Significance.BOOTSTRAP)
BOOTSTRAP_METRICS = (*_kernels.COUNT_METRICS, *SCORE_METRICS)
_CHUNK_CELLS = 4_000_000


@functools.lru_cache(maxsize=64)
def two_sided_z(confidence: float) -> float:
    """``z`` with ``P(|Z| > z) = 1 - confidence`` for a normal ``Z``.

    Cached: ``norm.isf`` costs ~0.1 ms a call, paid per interval by every segment and trend row.
    """
    return float(norm.isf((1.0 - confidence) / 2.0))


def html_table(rows: Mapping[str, Any], *, title: str) -> str:
    """Render ``rows`` (name -> value) as a two-column, escaped HTML table."""
    return dict_table(rows, title=title, digits=6)


@dataclass(frozen=True)
class Interval:
    """A confidence interval around a point estimate.

    Attributes
    ----------
    low, high : float
        Interval bounds (NaN when the metric is undefined).
    estimate : float
        The point estimate on the full data.
    confidence : float
        Nominal coverage, e.g. 0.95.
    method : str
        ``"wilson"``, ``"bootstrap"`` or ``"normal"``.

    Examples
    --------
    >>> Interval(0.2, 0.4, 0.3, 0.95, "wilson").to_dict()["high"]
    0.4
    """

    low: float
    high: float
    estimate: float
    confidence: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict."""
        return asdict(self)

    def _repr_html_(self) -> str:
        return html_table(self.to_dict(), title="Interval")


def wilson_bounds(successes: Any, n: Any, confidence: float) -> tuple[Any, Any]:
    """Element-wise Wilson score bounds (statsmodels' formula); NaN where ``n`` is 0."""
    s = np.asarray(successes, dtype=np.float64)
    total = np.asarray(n, dtype=np.float64)
    crit = two_sided_z(float(confidence))
    crit2 = crit * crit
    with np.errstate(divide="ignore", invalid="ignore"):
        q = s / total
        denom = 1.0 + crit2 / total
        center = (q + crit2 / (2.0 * total)) / denom
        half = crit * np.sqrt(q * (1.0 - q) / total + crit2 / (4.0 * total**2)) / denom
    return center - half, center + half


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a proportion ``successes / n``.

    Equals ``statsmodels.stats.proportion.proportion_confint(successes, n,
    alpha=1 - confidence, method="wilson")``. ``n == 0`` gives a NaN interval and an
    `UndefinedMetricWarning`.

    Parameters
    ----------
    successes : int
        Number of successes, ``0 <= successes <= n``.
    n : int
        Number of trials.
    confidence : float, default 0.95
        Nominal coverage in (0, 1).

    Returns
    -------
    Interval
        ``method == "wilson"``, ``estimate == successes / n``.

    Examples
    --------
    >>> ci = wilson_interval(8, 10)
    >>> round(ci.low, 4), round(ci.high, 4)
    (0.4902, 0.9433)
    """
    n = check_int("n", n, low=0)
    successes = check_int("successes", successes, low=0, high=n)
    confidence = check_probability("confidence", confidence, open_interval=True)
    if n == 0:
        warn_undefined(["proportion"], "n is 0")
        nan = float("nan")
        return Interval(nan, nan, nan, confidence, "wilson")
    low, high = wilson_bounds(successes, n, confidence)
    return Interval(float(low), float(high), successes / n, confidence, "wilson")


def percentile_interval(
    draws: np.ndarray, estimate: float, confidence: float, metric: str
) -> Interval:
    """Percentile interval of bootstrap draws, dropping (and reporting) undefined draws."""
    finite = draws[~np.isnan(draws)]
    if finite.size < draws.size:
        warn_undefined(
            [metric], f"in {draws.size - finite.size} of {draws.size} resamples; dropped them",
            stacklevel=4,
        )
    if finite.size == 0:
        return Interval(math.nan, math.nan, estimate, confidence, "bootstrap")
    alpha = 1.0 - confidence
    low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Interval(float(low), float(high), estimate, confidence, "bootstrap")


def bootstrap_counts(
    counts: tuple[int, int, int, int], n_resamples: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Every count metric on ``n_resamples`` multinomial resamples of the confusion cells."""
    n = sum(counts)
    if n == 0:
        return {name: np.full(n_resamples, np.nan) for name in _kernels.COUNT_METRICS}
    cells = rng.multinomial(n, np.asarray(counts, dtype=np.float64) / n, size=n_resamples)
    return _kernels.count_metrics(cells[:, 0], cells[:, 1], cells[:, 2], cells[:, 3])


def bootstrap_histogram(
    pos: np.ndarray,
    neg: np.ndarray,
    kernel: Callable[[np.ndarray, np.ndarray], np.ndarray],
    n_resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``kernel`` on multinomial resamples of per-bin positive / negative counts."""
    cells = np.concatenate([pos, neg]).astype(np.float64)
    n = int(cells.sum())
    k = pos.shape[0]
    chunk = max(1, _CHUNK_CELLS // max(1, cells.shape[0]))
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        draw = rng.multinomial(n, cells / n, size=size)
        out[start : start + size] = kernel(draw[:, :k], draw[:, k:])
    return out


def bootstrap_interval(
    actual: Any,
    predicted_or_score: Any,
    *,
    metric: str = "f1_score",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    max_bins: int = 10_000,
) -> Interval:
    """Seeded, vectorised percentile-bootstrap interval for one metric.

    Count metrics (``accuracy``, ``precision``, ``recall``, ``f1_score``, ``specificity``,
    ``balanced_accuracy``, ``mcc``) take predicted labels and resample the four confusion
    cells with one multinomial draw per resample — the exact distribution of the metric
    under row resampling, in O(n_resamples). ``roc_auc`` and ``pr_auc`` take scores and
    resample per-distinct-score counts; with more than ``max_bins`` distinct scores, the
    scores are binned into ``max_bins`` uniform bins first (the AUC moves by at most
    `auc_histogram_error_bound`, ~1e-4 for 10,000 bins, far inside the interval).
    Resamples where the metric is undefined are dropped with an UndefinedMetricWarning.

    Parameters
    ----------
    actual : array-like of bool or 0/1
        True labels.
    predicted_or_score : array-like
        Predicted labels for count metrics, scores in [0, 1] for ``roc_auc`` / ``pr_auc``.
    metric : str, default "f1_score"
        One of the count metrics, ``"roc_auc"`` or ``"pr_auc"``.
    n_resamples : int, default 1000
        Number of bootstrap resamples.
    confidence : float, default 0.95
        Nominal coverage in (0, 1).
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; equal seeds give equal intervals.
    max_bins : int, default 10000
        Bin limit for ranking metrics (see above).

    Returns
    -------
    Interval
        ``method == "bootstrap"``; ``estimate`` is the metric on the full data.

    Examples
    --------
    >>> ci = bootstrap_interval([1, 1, 0, 0, 1, 0] * 50, [1, 0, 0, 1, 1, 0] * 50)
    >>> round(ci.estimate, 4), ci.low < ci.estimate < ci.high
    (0.6667, True)
    """
    check_choice("metric", metric, BOOTSTRAP_METRICS)
    n_resamples = check_int("n_resamples", n_resamples, low=1)
    confidence = check_probability("confidence", confidence, open_interval=True)
    seed = check_int("seed", seed, low=0)
    max_bins = check_int("max_bins", max_bins, low=2)
    y = as_binary("actual", actual)
    rng = np.random.default_rng(seed)
    if metric in SCORE_METRICS:
        score = as_score("predicted_or_score", predicted_or_score)
        check_length("predicted_or_score", score, "actual", y.shape[0])
        return score_bootstrap(y, score, metric, n_resamples, confidence, rng, max_bins)
    predicted = as_binary("predicted_or_score", predicted_or_score)
    check_length("predicted_or_score", predicted, "actual", y.shape[0])
    counts = _kernels.confusion_counts(y, predicted)
    estimate = float(_kernels.count_metrics(*counts)[metric])
    draws = bootstrap_counts(counts, n_resamples, rng)[metric]
    return percentile_interval(draws, estimate, confidence, metric)


def score_bootstrap(
    actual: np.ndarray,
    score: np.ndarray,
    metric: str,
    n_resamples: int,
    confidence: float,
    rng: np.random.Generator,
    max_bins: int,
) -> Interval:
    """Bootstrap interval of ``roc_auc`` / ``pr_auc`` from validated arrays."""
    kernel = _kernels.hist_auc if metric == "roc_auc" else _kernels.hist_average_precision
    _, pos, neg = _kernels.score_groups(actual, score)
    estimate = float(kernel(pos, neg))
    if pos.shape[0] > max_bins:
        pos, neg = _kernels.uniform_bin_counts(actual, score, max_bins)
    if math.isnan(estimate):
        return Interval(math.nan, math.nan, estimate, confidence, "bootstrap")
    draws = bootstrap_histogram(pos, neg, kernel, n_resamples, rng)
    return percentile_interval(draws, estimate, confidence, metric)


def normal_interval(estimate: float, standard_error: float, confidence: float) -> Interval:
    """Symmetric normal interval ``estimate ± z * standard_error``."""
    z = two_sided_z(float(confidence))
    return Interval(
        estimate - z * standard_error, estimate + z * standard_error, estimate, confidence,
        "normal",
    )
