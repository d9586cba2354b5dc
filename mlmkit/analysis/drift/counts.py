"""Drift statistics from pre-aggregated counts (re-exported by `mlmkit.analysis.drift.detect`).

The store computes histograms in SQL; these functions turn two aligned count vectors (same
bins or same categories, same order) into the same
[`DriftStat`][mlmkit.analysis.drift.DriftStat] the raw functions give. For
reference-quantile bins use `quantile_edges` on the reference and count with the convention of
`bin_counts`: bin 0 is ``x < e[0]``, bin i is ``e[i-1] <= x < e[i]``, the last bin is ``x >=
e[-1]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlmkit._validation import check_real, invalid
from mlmkit.analysis.drift import kernels as k
from mlmkit.analysis.drift.methods import (
    DriftStat,
    get_drift_method,
    make_stat,
    normalized_wasserstein,
)


def _threshold(method: str, threshold: float | None) -> float:
    if threshold is None:
        return get_drift_method(method).default_threshold
    return check_real("threshold", threshold, low=0.0)


def _pair(reference_counts: Any, current_counts: Any) -> tuple[k.FloatArray, k.FloatArray]:
    ref = k.count_vector("reference_counts", reference_counts)
    return ref, k.count_vector("current_counts", current_counts, ref.size)


def _check_base(base: float) -> float:
    return check_real("base", base, low=1.0, low_open=True)


def psi_from_counts(reference_counts: Any, current_counts: Any, *,
                    threshold: float | None = None) -> DriftStat:
    """Population stability index from two aligned count vectors.

    ``PSI = sum((q - p) * ln(q / p))`` over bins, with proportions ``p`` (reference) and ``q``
    (current); an empty bin's proportion is replaced by ``1e-4`` (no renormalisation).
    Default threshold 0.1.

    Examples
    --------
    >>> round(psi_from_counts([50, 50], [40, 60]).statistic, 6)
    0.040547
    """
    ref, cur = _pair(reference_counts, current_counts)
    return make_stat("psi", k.psi_counts(ref, cur), None, _threshold("psi", threshold),
                     round(ref.sum()), round(cur.sum()))


def jensen_shannon_from_counts(reference_counts: Any, current_counts: Any, *, base: float = 2.0,
                               threshold: float | None = None) -> DriftStat:
    """Jensen-Shannon distance (square root of the divergence) from aligned counts.

    With the default ``base=2`` the distance lies in [0, 1]; it equals
    ``scipy.spatial.distance.jensenshannon(p, q, base=base)``. Default threshold 0.1.

    Examples
    --------
    >>> round(jensen_shannon_from_counts([1, 0], [0, 1]).statistic, 6)
    1.0
    """
    ref, cur = _pair(reference_counts, current_counts)
    stat = k.jensen_shannon_counts(ref, cur, _check_base(base))
    return make_stat("jensen_shannon", stat, None, _threshold("jensen_shannon", threshold),
                     round(ref.sum()), round(cur.sum()))


def hellinger_from_counts(reference_counts: Any, current_counts: Any, *,
                          threshold: float | None = None) -> DriftStat:
    """Hellinger distance ``||sqrt(p) - sqrt(q)||_2 / sqrt(2)`` (in [0, 1]) from aligned counts.

    Default threshold 0.1.

    Examples
    --------
    >>> hellinger_from_counts([3, 1], [3, 1]).statistic
    0.0
    """
    ref, cur = _pair(reference_counts, current_counts)
    return make_stat("hellinger", k.hellinger_counts(ref, cur), None,
                     _threshold("hellinger", threshold), round(ref.sum()), round(cur.sum()))


def chi_square_from_counts(reference_counts: Any, current_counts: Any, *,
                           threshold: float | None = None) -> DriftStat:
    """Chi-square test of homogeneity on the 2 x k table of category counts.

    Equals ``scipy.stats.chi2_contingency`` (default ``correction=True``: Yates' correction
    when the table has one degree of freedom) after dropping categories empty in both rows.
    Drift when the p-value is below ``threshold`` (default 0.05).

    Examples
    --------
    >>> s = chi_square_from_counts([30, 70], [50, 50])
    >>> round(s.statistic, 4), round(s.p_value, 5), s.drift_detected
    (7.5208, 0.0061, True)
    """
    ref, cur = _pair(reference_counts, current_counts)
    stat, p = k.chi_square_counts(ref, cur)
    return make_stat("chi_square", stat, p, _threshold("chi_square", threshold),
                     round(ref.sum()), round(cur.sum()))


def ks_from_histograms(reference_counts: Any, current_counts: Any, *,
                       threshold: float | None = None) -> DriftStat:
    """Approximate Kolmogorov-Smirnov test from counts on the same ordered bins.

    The statistic is ``max |F_ref - F_cur|`` at the bin boundaries only, a lower bound of the
    exact statistic (equal when every bin holds a single distinct value, e.g. one bin per
    integer). The p-value is Smirnov's asymptotic one for the total counts. Default threshold
    0.05 on the p-value.

    Examples
    --------
    >>> round(ks_from_histograms([10, 20, 70], [20, 20, 60]).statistic, 6)
    0.1
    """
    ref, cur = _pair(reference_counts, current_counts)
    stat, p = k.ks_counts(ref, cur)
    return make_stat("ks", stat, p, _threshold("ks", threshold), round(ref.sum()),
                     round(cur.sum()))


def wasserstein_from_histogram(edges: Any, reference_counts: Any, current_counts: Any, *,
                               reference_std: float | None = None,
                               threshold: float | None = None) -> DriftStat:
    """Wasserstein-1 distance between two histograms on the same finite ``edges``.

    Each bin's mass sits at its midpoint, so the result differs from the distance between the
    raw samples by at most the widest bin. With ``reference_std`` the distance is divided by
    it (method ``"wasserstein"``, default threshold 0.1); without it the raw distance is
    returned and the default threshold is 0.1 times the reference standard deviation
    estimated from the histogram midpoints.

    Examples
    --------
    >>> wasserstein_from_histogram([0, 1, 2, 3], [1, 1, 0], [0, 1, 1]).statistic
    1.0
    """
    ref, cur = _pair(reference_counts, current_counts)
    try:
        e = np.asarray(edges, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise invalid("edges", "an increasing array of finite bin edges", edges) from err
    if (e.ndim != 1 or e.size != ref.size + 1 or not np.isfinite(e).all()
            or (np.diff(e) <= 0).any()):
        raise invalid("edges", f"{ref.size + 1} increasing finite bin edges", edges)
    w = k.wasserstein_hist(e, ref, cur)
    if reference_std is not None:
        std = check_real("reference_std", reference_std, low=0.0)
        return make_stat("wasserstein", normalized_wasserstein(w, std), None,
                         _threshold("wasserstein", threshold), round(ref.sum()),
                         round(cur.sum()))
    if threshold is None:
        mids = (e[:-1] + e[1:]) / 2.0
        mean = float(np.dot(ref, mids) / ref.sum())
        threshold = 0.1 * math.sqrt(float(np.dot(ref, (mids - mean) ** 2) / ref.sum()))
    return make_stat("wasserstein", w, None, check_real("threshold", threshold, low=0.0),
                     round(ref.sum()), round(cur.sum()))
