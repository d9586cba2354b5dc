"""Score-only models (anomaly scores, rankings): distribution, flag rate, and their drift.

A score-only model logs a score and optionally a flag, never a label, so its monitoring is
about the distribution: [`score_summary`][mlmkit.analysis.metrics.score_summary] (count,
mean, standard deviation, quantiles from a score histogram),
[`flag_rate`][mlmkit.analysis.metrics.flag_rate] (share flagged, Wilson interval), and the
drift of both against a reference window:
[`score_drift`][mlmkit.analysis.metrics.score_drift] (PSI, KS, Jensen-Shannon, Hellinger or
chi-square on the two histograms) and [`flag_drift`][mlmkit.analysis.metrics.flag_drift]
(chi-square on flagged / not flagged). Everything takes aggregates a ``GROUP BY`` returns; the
drift functions are those of `mlmkit.analysis.drift` on counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, check_int, check_probability, check_real, invalid
from mlmkit.analysis.metrics._inputs import as_counts
from mlmkit.analysis.metrics.intervals import Interval, html_table, wilson_interval
from mlmkit.analysis.metrics.summaries import (
    DEFAULT_QUANTILES,
    histogram_quantiles,
    variance_from_sums,
)

if TYPE_CHECKING:
    from mlmkit.analysis.drift.methods import DriftStat

__all__ = ["ScoreSummary", "flag_drift", "flag_rate", "score_drift", "score_moments",
           "score_summary"]

#: Drift statistics available on two score histograms over the same bins.
SCORE_DRIFT_METHODS = ("psi", "ks", "jensen_shannon", "hellinger", "chi_square")


@dataclass(frozen=True)
class ScoreSummary:
    """Distribution of a window's scores.

    Attributes
    ----------
    n : int
        Scored rows.
    mean, std : float
        Mean and sample standard deviation (``ddof=1``): exact from ``Σs`` and ``Σs²`` when
        given, else from bin midpoints (within half the widest bin for the mean).
    exact_moments : bool
        Whether ``mean`` and ``std`` came from the sums.
    quantiles : polars.DataFrame
        ``quantile``, ``value``, ``low``, ``high`` (see `histogram_quantiles`).
    """

    n: int
    mean: float
    std: float
    exact_moments: bool
    quantiles: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """``n``, ``mean``, ``std`` and ``q<percent>`` per quantile."""
        out: dict[str, Any] = {"n": self.n, "mean": self.mean, "std": self.std}
        for q, value in self.quantiles.select("quantile", "value").iter_rows():
            out[f"q{100 * q:g}"] = value
        return out

    def _repr_html_(self) -> str:
        return html_table(self.to_dict(), title="Score distribution")


def score_summary(edges: Any, counts: Any, *, sum_score: float | None = None,
                  sum_squared_score: float | None = None, shift: float = 0.0,
                  quantiles: Sequence[float] = DEFAULT_QUANTILES,
                  span: float | None = None) -> ScoreSummary:
    """Count, mean, standard deviation and quantiles of scores from their histogram.

    Parameters
    ----------
    edges : array-like of float
        ``len(counts) + 1`` increasing bin edges spanning every score (e.g. the window's
        ``min``/``max``, or ``[0, 1]`` for probabilities).
    counts : array-like of int
        Scores per bin ``[edges[i], edges[i+1])`` (the last bin closed).
    sum_score, sum_squared_score : float, optional
        ``Σ(s - shift)`` and ``Σ(s - shift)²`` (both or neither) for exact moments.
    shift : float, default 0
        The constant the sums are centred on (a ``shift`` near the mean keeps the standard
        deviation exact when the scores' mean dwarfs their spread).
    quantiles : sequence of float
        Probabilities of the quantiles to report.
    span : float, optional
        The scores' ``max - min`` when known: 0 says they are constant (std 0), which sums
        whose spread is rounding cannot say (`variance_from_sums`).

    Examples
    --------
    >>> s = score_summary([0.0, 0.25, 0.5, 0.75, 1.0], [10, 20, 30, 40],
    ...                   sum_score=62.0, sum_squared_score=45.0, quantiles=[0.5])
    >>> s.n, s.mean, round(s.std, 4), s.quantiles["value"].round(4).to_list()
    (100, 0.62, 0.2574, [0.6667])
    """
    table = histogram_quantiles(edges, counts, quantiles)
    c = as_counts("counts", counts).astype(np.float64)
    e = np.asarray(edges, dtype=np.float64)
    n = int(c.sum())
    if (sum_score is None) != (sum_squared_score is None):
        raise invalid("sum_squared_score", "given together with sum_score",
                      sum_squared_score)
    exact = sum_score is not None and sum_squared_score is not None
    if exact:
        total = check_real("sum_score", sum_score, infinite=True)  # one score of 1e200:
        squares = check_real("sum_squared_score", sum_squared_score, low=0.0,  # std inf
                             infinite=True)
    else:
        mids = (e[:-1] + e[1:]) / 2.0
        total, squares = float(c @ mids), float(c @ mids**2)
    mean, std = score_moments(n, total, squares, shift=shift, span=span)
    return ScoreSummary(n, mean, std, exact, table)


def score_moments(n: int, sum_score: float, sum_squared_score: float, *, shift: float = 0.0,
                  span: float | None = None) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=1``) of ``n`` scores from sums of ``score - shift``.

    ``span``: the scores' ``max - min`` when known (0: constant scores, std 0; see
    `variance_from_sums`, which gives NaN with a warning for sums whose spread rounding took).

    >>> mean, std = score_moments(4, 2.0, 1.5)  # scores 0, 0.5, 0.5, 1
    >>> mean, round(std, 4)
    (0.5, 0.4082)
    >>> score_moments(3, 0.0, 0.0, shift=1e9, span=0.0)
    (1000000000.0, 0.0)
    """
    mean = check_real("shift", shift) + sum_score / n if n else math.nan
    return mean, math.sqrt(variance_from_sums(n, sum_score, sum_squared_score, span=span))


def flag_rate(flagged: int, n: int, *, confidence: float = 0.95) -> Interval:
    """Share of scored rows the model flagged, with its Wilson interval.

    Examples
    --------
    >>> ci = flag_rate(30, 1000)
    >>> ci.estimate, round(ci.low, 4), round(ci.high, 4)
    (0.03, 0.0211, 0.0425)
    """
    n = check_int("n", n, low=0)
    return wilson_interval(check_int("flagged", flagged, low=0, high=n), n,
                           confidence=confidence)


def score_drift(reference_counts: Any, current_counts: Any, *, method: str = "psi",
                threshold: float | None = None) -> DriftStat:
    """Drift of the score distribution: a drift statistic on two histograms over the same bins.

    ``method`` is one of ``psi`` (default threshold 0.1), ``ks`` (approximate: the statistic
    is read at bin edges only, a lower bound of the exact one), ``jensen_shannon``,
    ``hellinger`` or ``chi_square`` (p-value < 0.05); see `mlmkit.analysis.drift`'s
    ``*_from_counts`` functions, which this calls. Bin with the reference window's quantile
    edges (`mlmkit.analysis.drift.quantile_edges`) or fixed edges, the same for both windows.

    Examples
    --------
    >>> d = score_drift([25, 25, 25, 25], [10, 20, 30, 40])
    >>> round(d.statistic, 4), d.drift_detected
    (0.2282, True)
    """
    from mlmkit.analysis.drift import counts as drift  # lazily: drift imports metrics

    check_choice("method", method, SCORE_DRIFT_METHODS)
    functions = {"psi": drift.psi_from_counts, "ks": drift.ks_from_histograms,
                 "jensen_shannon": drift.jensen_shannon_from_counts,
                 "hellinger": drift.hellinger_from_counts,
                 "chi_square": drift.chi_square_from_counts}
    return functions[method](reference_counts, current_counts, threshold=threshold)


def flag_drift(reference_flagged: int, reference_n: int, current_flagged: int, current_n: int,
               *, threshold: float | None = None) -> DriftStat:
    """Drift of the flag rate: chi-square test on the 2x2 table flagged / not flagged.

    Equals ``scipy.stats.chi2_contingency`` with Yates' correction; drift when the p-value is
    below ``threshold`` (default 0.05). For the size of the change use `flag_rate` of each
    window, or `mlmkit.analysis.stats.two_proportion_ztest`.

    Examples
    --------
    >>> d = flag_drift(30, 1000, 60, 1000)
    >>> round(d.p_value, 5), d.drift_detected
    (0.00176, True)
    """
    from mlmkit.analysis.drift import counts as drift  # lazily: drift imports metrics

    ref_n = check_int("reference_n", reference_n, low=1)
    cur_n = check_int("current_n", current_n, low=1)
    ref = check_int("reference_flagged", reference_flagged, low=0, high=ref_n)
    cur = check_int("current_flagged", current_flagged, low=0, high=cur_n)
    if threshold is not None:
        check_probability("threshold", threshold, open_interval=True)
    return drift.chi_square_from_counts([ref, ref_n - ref], [cur, cur_n - cur],
                                        threshold=threshold)
