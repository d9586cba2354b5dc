"""Two-sample drift statistics, a registry of drift methods and a per-feature drift report.

Methods (``available_drift_methods()``; each is a
[`DriftMethod`][mlmkit.analysis.drift.DriftMethod] with a default threshold
and a score type, and new ones can be added with
[`register_drift_method`][mlmkit.analysis.drift.register_drift_method]):

=================  ==========  =========  =================================================
name               score       default    applies to
=================  ==========  =========  =================================================
``psi``            distance    0.1        numeric (10 reference-quantile bins), categorical
``ks``             p-value     0.05       numeric
``wasserstein``    distance    0.1        numeric; W1 / reference standard deviation
``jensen_shannon`` distance    0.1        numeric (quantile bins), categorical; base 2
``hellinger``      distance    0.1        numeric (quantile bins), categorical
``chi_square``     p-value     0.05       categorical
=================  ==========  =========  =================================================

A distance drifts when ``statistic >= threshold``, a p-value when ``p_value < threshold``.

The ``auto`` rule (per column, used by [`detect_drift`][mlmkit.analysis.drift.detect_drift]
by default):

1. A numeric column with at most 5 distinct reference values is treated as categorical.
2. If ``min(n_reference, n_current) <= 1000``: numeric -> ``ks``, categorical ->
   ``chi_square``; their p-values are then corrected across features (Holm by default).
3. Otherwise: numeric -> ``wasserstein`` (normalised, threshold 0.1), categorical ->
   ``jensen_shannon`` (threshold 0.1).

Why: this is Evidently's rule with the sample-size test on the *smaller* sample. With small
samples an effect-size distance is dominated by noise (the normalised Wasserstein distance
between two samples of 50 from the same normal law is about 0.2), so a test with a
family-wise error guarantee is the sound choice. With large samples every p-value goes to 0
for practically irrelevant differences (at 1e6 rows KS "detects" 0.005 standard deviations,
and 20 uncorrected tests give false alarms), so drift is judged by effect size instead: a
location shift of ``d`` standard deviations gives a normalised Wasserstein distance of exactly
``d`` while sampling noise is about ``1/sqrt(n)``, so the 0.1 threshold flags shifts of 0.1 sd
and more. PSI >= 0.1 on 10 bins needs about 0.3 sd and misses smaller shifts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlmkit._validation import check_int, check_real, invalid
from mlmkit.analysis.drift import kernels as k
from mlmkit.analysis.drift.counts import (
    chi_square_from_counts,
    hellinger_from_counts,
    jensen_shannon_from_counts,
    ks_from_histograms,
    psi_from_counts,
    wasserstein_from_histogram,
)
from mlmkit.analysis.drift.methods import (
    DriftMethod,
    DriftStat,
    available_drift_methods,
    get_drift_method,
    make_stat,
    normalized_wasserstein,
    register_drift_method,
)
from mlmkit.analysis.drift.report import DriftReport, detect_drift

__all__ = [
    "DriftMethod",
    "DriftReport",
    "DriftStat",
    "available_drift_methods",
    "bin_counts",
    "chi_square",
    "chi_square_from_counts",
    "detect_drift",
    "get_drift_method",
    "hellinger",
    "hellinger_from_counts",
    "jensen_shannon",
    "jensen_shannon_from_counts",
    "ks",
    "ks_from_histograms",
    "psi",
    "psi_from_counts",
    "quantile_edges",
    "register_drift_method",
    "wasserstein",
    "wasserstein_from_histogram",
]


def _threshold(method: str, threshold: float | None) -> float:
    spec = get_drift_method(method)
    if threshold is None:
        return spec.default_threshold
    if spec.score == "p_value":
        return check_real("threshold", threshold, low=0.0, high=1.0, low_open=True)
    return check_real("threshold", threshold, low=0.0)


def quantile_edges(reference: Any, *, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the reference quantiles ``1/bins, ..., (bins-1)/bins``.

    Quantiles interpolate linearly between order statistics (numpy's default); repeated edges
    (discrete data) are dropped, so there may be fewer than ``bins`` bins. The outer bins are
    open: use [`bin_counts`][mlmkit.analysis.drift.bin_counts] (or the same rule in SQL) to
    count.

    Examples
    --------
    >>> quantile_edges([1, 2, 3, 4, 5], bins=4).tolist()
    [2.0, 3.0, 4.0]
    """
    ref = k.sorted_sample("reference", reference)
    return k.quantile_edges_sorted(ref, check_int("bins", bins, low=2))


def bin_counts(values: Any, edges: Any) -> np.ndarray:
    """Counts of ``values`` in the bins ``x < e[0]``, ``e[i-1] <= x < e[i]``, ``x >= e[-1]``.

    Examples
    --------
    >>> bin_counts([0, 1, 2, 3, 4], [1.5, 3]).tolist()
    [2, 1, 2]
    """
    x = k.sorted_sample("values", values)
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size == 0 or not np.isfinite(e).all() or (np.diff(e) <= 0).any():
        raise invalid("edges", "a non-empty increasing 1-D array of finite numbers", edges)
    return k.bin_counts_sorted(x, e)


def _is_categorical(reference: Any, categorical: bool | None) -> bool:
    if categorical is not None:
        return bool(categorical)
    return np.asarray(reference).dtype.kind not in "iuf"


def _histogram_pair(reference: Any, current: Any, bins: int,
                    categorical: bool | None) -> tuple[np.ndarray, np.ndarray]:
    if _is_categorical(reference, categorical):
        _, r, c = k.align_counts(k.category_counts("reference", reference),
                                 k.category_counts("current", current))
        return r.astype(np.float64), c.astype(np.float64)
    ref = k.sorted_sample("reference", reference)
    cur = k.sorted_sample("current", current)
    edges = k.quantile_edges_sorted(ref, check_int("bins", bins, low=2))
    return (k.bin_counts_sorted(ref, edges).astype(np.float64),
            k.bin_counts_sorted(cur, edges).astype(np.float64))


def psi(reference: Any, current: Any, bins: int = 10, *, categorical: bool | None = None,
        threshold: float | None = None) -> DriftStat:
    """Population stability index of ``current`` against ``reference``.

    Numeric samples are cut at ``bins`` reference quantiles
    ([`quantile_edges`][mlmkit.analysis.drift.quantile_edges], outer bins open); categorical
    ones (strings, booleans, or ``categorical=True``) use one bin per category. ``PSI = sum((q - p)
    * ln(q / p))`` with reference proportions ``p`` and current proportions ``q``; an empty bin's
    proportion is replaced by ``1e-4`` (no renormalisation), so ``psi(x, x) == 0``. Default
    threshold 0.1 (drift when ``PSI >= 0.1``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(1000.0)
    >>> psi(x, x).statistic
    0.0
    >>> round(psi(x, x + 100).statistic, 4)
    0.7594
    """
    r, c = _histogram_pair(reference, current, bins, categorical)
    return make_stat("psi", k.psi_counts(r, c), None, _threshold("psi", threshold),
                     round(r.sum()), round(c.sum()))


def ks(reference: Any, current: Any, *, threshold: float | None = None) -> DriftStat:
    """Two-sample Kolmogorov-Smirnov test (two-sided).

    Statistic and p-value equal ``scipy.stats.ks_2samp(reference, current)`` (its
    ``method="auto"``): for ``max(n) <= 10000`` the exact null law (computed by scipy), above
    that Smirnov's asymptotic law ``kstwo(round(n1 n2 / (n1 + n2)))``; the statistic itself is
    computed from the two sorted samples with one ``searchsorted`` each. In the far tail
    (DKW bound below 1e-12) the Kolmogorov limit is returned, which differs by < 1e-12.
    Drift when the p-value is below ``threshold`` (default 0.05).

    Examples
    --------
    >>> s = ks([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0])
    >>> s.statistic, round(s.p_value, 4)
    (0.5, 0.7714)
    """
    ref = k.sorted_sample("reference", reference)
    cur = k.sorted_sample("current", current)
    stat, p = k.ks_sorted(ref, cur)
    return make_stat("ks", stat, p, _threshold("ks", threshold), ref.size, cur.size)


def wasserstein(reference: Any, current: Any, *, normalized: bool = False,
                threshold: float | None = None) -> DriftStat:
    """First Wasserstein (earth mover's) distance between two numeric samples.

    Equals ``scipy.stats.wasserstein_distance(reference, current)``; computed as
    ``int_0^1 |Q_ref(u) - Q_cur(u)| du`` from the sorted samples. With ``normalized=True`` it
    is divided by the reference standard deviation (``ddof=0``; a constant reference gives 0
    or inf) and the default threshold is 0.1; the raw distance's default threshold is 0.1
    times the reference standard deviation (the same decision).

    Examples
    --------
    >>> wasserstein([0.0, 1.0, 3.0], [5.0, 6.0, 8.0]).statistic
    5.0
    >>> wasserstein([0.0, 2.0], [1.0, 3.0], normalized=True).statistic
    1.0
    """
    ref = k.sorted_sample("reference", reference)
    cur = k.sorted_sample("current", current)
    w = k.wasserstein_sorted(ref, cur)
    std = float(ref.std())
    if normalized:
        return make_stat("wasserstein", normalized_wasserstein(w, std), None,
                         _threshold("wasserstein", threshold), ref.size, cur.size)
    limit = 0.1 * std if threshold is None else check_real("threshold", threshold, low=0.0)
    return make_stat("wasserstein", w, None, limit, ref.size, cur.size)


def jensen_shannon(reference: Any, current: Any, *, bins: int = 10, base: float = 2.0,
                   categorical: bool | None = None,
                   threshold: float | None = None) -> DriftStat:
    """Jensen-Shannon distance between the binned (or categorical) distributions.

    Bins as in [`psi`][mlmkit.analysis.drift.psi] (no smoothing: the distance handles empty
    bins). The distance is the square root of the JS divergence in log base ``base`` (default 2,
    range [0, 1]) and equals ``scipy.spatial.distance.jensenshannon(p, q, base=base)`` on the same
    histograms. Default threshold 0.1.

    Examples
    --------
    >>> jensen_shannon(["a", "a", "b"], ["a", "a", "b"]).statistic
    0.0
    >>> jensen_shannon(["a", "a"], ["b", "b"]).statistic
    1.0
    """
    r, c = _histogram_pair(reference, current, bins, categorical)
    stat = k.jensen_shannon_counts(r, c, check_real("base", base, low=1.0, low_open=True))
    return make_stat("jensen_shannon", stat, None, _threshold("jensen_shannon", threshold),
                     round(r.sum()), round(c.sum()))


def hellinger(reference: Any, current: Any, *, bins: int = 10, categorical: bool | None = None,
              threshold: float | None = None) -> DriftStat:
    """Hellinger distance ``||sqrt(p) - sqrt(q)||_2 / sqrt(2)`` between binned distributions.

    Bins as in [`psi`][mlmkit.analysis.drift.psi]; the distance lies in [0, 1]. Default
    threshold 0.1.

    Examples
    --------
    >>> hellinger(["a", "b"], ["c", "d"]).statistic
    1.0
    """
    r, c = _histogram_pair(reference, current, bins, categorical)
    return make_stat("hellinger", k.hellinger_counts(r, c), None,
                     _threshold("hellinger", threshold), round(r.sum()), round(c.sum()))


def chi_square(reference: Any, current: Any, *, threshold: float | None = None) -> DriftStat:
    """Chi-square test that two categorical samples come from the same distribution.

    Builds the 2 x k table of category counts (union of categories) and equals
    ``scipy.stats.chi2_contingency(table)`` (Yates' correction when k = 2, as scipy's default).
    Drift when the p-value is below ``threshold`` (default 0.05).

    Examples
    --------
    >>> s = chi_square(["a"] * 30 + ["b"] * 70, ["a"] * 50 + ["b"] * 50)
    >>> round(s.p_value, 5), s.drift_detected
    (0.0061, True)
    """
    _, r, c = k.align_counts(k.category_counts("reference", reference),
                             k.category_counts("current", current))
    stat, p = k.chi_square_counts(r.astype(np.float64), c.astype(np.float64))
    return make_stat("chi_square", stat, p, _threshold("chi_square", threshold),
                     int(r.sum()), int(c.sum()))

