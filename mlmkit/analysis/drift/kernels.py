"""Numeric kernels behind [`mlmkit.analysis.drift`][mlmkit.analysis.drift] (private).

Everything here works on already-validated inputs: sorted float64 samples or aligned count
vectors. Validation helpers at the top turn user input into those shapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special
from scipy import stats as sps

from mlmkit._validation import invalid

PSI_EPSILON = 1e-4
KS_EXACT_MAX_N = 10_000  # scipy.stats.ks_2samp(method="auto") uses the exact law up to here

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


# ----------------------------------------------------------------------------- validation
def sorted_sample(name: str, values: Any) -> FloatArray:
    """Validate a numeric sample and return it as a sorted float64 array."""
    expectation = "a non-empty 1-D array of finite numbers"
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise invalid(name, expectation, values) from err
    if arr.ndim != 1 or arr.size == 0:
        raise invalid(name, expectation, values)
    arr = np.sort(arr)  # NaN sorts last, -inf first, +inf last: two checks suffice
    if not (math.isfinite(arr[0]) and math.isfinite(arr[-1])):
        raise invalid(name, expectation + " (no NaN or inf)", values)
    return arr


def category_counts(name: str, values: Any) -> tuple[list[Any], IntArray]:
    """Validate a categorical sample and return its categories and counts."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as err:  # pragma: no cover - numpy accepts nearly anything
        raise invalid(name, "a non-empty 1-D array of categories", values) from err
    if arr.ndim != 1 or arr.size == 0:
        raise invalid(name, "a non-empty 1-D array of categories", values)
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise invalid(name, "a 1-D array of categories without NaN", values)
    if arr.dtype.kind == "O":
        cats, counts = np.unique(arr.astype(str), return_counts=True)
    else:
        cats, counts = np.unique(arr, return_counts=True)
    return cats.tolist(), counts.astype(np.int64)


def count_vector(name: str, counts: Any, size: int | None = None) -> FloatArray:
    """Validate a vector of non-negative finite counts with a positive total."""
    expectation = "a non-empty 1-D array of non-negative finite counts with a positive sum"
    if size is not None:
        expectation += f" and length {size}"
    try:
        arr = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise invalid(name, expectation, counts) from err
    if (arr.ndim != 1 or arr.size == 0 or (size is not None and arr.size != size)
            or not np.isfinite(arr).all() or (arr < 0).any() or arr.sum() <= 0):
        raise invalid(name, expectation, counts)
    return arr


def align_counts(ref: tuple[Sequence[Any], IntArray],
                 cur: tuple[Sequence[Any], IntArray]) -> tuple[list[Any], IntArray, IntArray]:
    """Align two (categories, counts) pairs on the union of categories (sorted by str)."""
    ref_map = dict(zip(ref[0], ref[1].tolist(), strict=True))
    cur_map = dict(zip(cur[0], cur[1].tolist(), strict=True))
    union = sorted(set(ref_map) | set(cur_map), key=lambda c: (str(type(c)), str(c)))
    r = np.array([ref_map.get(c, 0) for c in union], dtype=np.int64)
    c = np.array([cur_map.get(c, 0) for c in union], dtype=np.int64)
    return union, r, c


# ----------------------------------------------------------------------------- sorted samples
def quantile_edges_sorted(ref: FloatArray, bins: int) -> FloatArray:
    """Inner cut points at reference quantiles 1/bins .. (bins-1)/bins, duplicates dropped.

    Linear interpolation between order statistics (numpy's default ``quantile`` method).
    """
    n = ref.size
    pos = np.arange(1, bins) * ((n - 1) / bins)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    edges = ref[lo] + (ref[hi] - ref[lo]) * frac
    return np.unique(edges)


def bin_counts_sorted(sample: FloatArray, edges: FloatArray) -> IntArray:
    """Counts per bin ``x < e1``, ``e_k <= x < e_{k+1}``, ``x >= e_last`` of a sorted sample."""
    cut = np.searchsorted(sample, edges, side="left")
    return np.diff(np.concatenate(([0], cut, [sample.size]))).astype(np.int64)


def ks_statistic_sorted(a: FloatArray, b: FloatArray) -> float:
    """Two-sided KS statistic of two sorted samples, bit-identical to scipy's ``ks_2samp``.

    ``sup(F_a - F_b)`` is reached at a point of ``a`` and ``sup(F_b - F_a)`` at a point of
    ``b``; at the last copy of a tied value the running index equals the right-continuous rank,
    so one ``searchsorted`` per sample is enough.
    """
    n1, n2 = a.size, b.size
    d_plus = np.max(np.arange(1, n1 + 1) / n1 - np.searchsorted(b, a, side="right") / n2)
    d_minus = np.max(np.arange(1, n2 + 1) / n2 - np.searchsorted(a, b, side="right") / n1)
    return float(max(d_plus, d_minus, 0.0))


def ks_pvalue(d: float, n1: int, n2: int) -> float:
    """Smirnov's asymptotic two-sided p-value, as ``ks_2samp(method="asymp")`` computes it.

    scipy evaluates ``kstwo.sf(d, round(n1 n2 / (n1 + n2)))``, which takes up to a second in
    the far tail at n = 1e6. When the Dvoretzky-Kiefer-Wolfowitz-Massart bound
    ``2 exp(-2 n d^2)`` is below ``1e-12`` both that value and the Kolmogorov limit lie in
    ``[0, 1e-12]``, so the (fast) limit is returned instead.
    """
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    if 2.0 * math.exp(-2.0 * en * d * d) < 1e-12:
        return float(sps.kstwobign.sf(d * math.sqrt(en)))
    return float(np.clip(sps.kstwo.sf(d, en), 0.0, 1.0))


def ks_sorted(a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """KS statistic and p-value with scipy's ``method="auto"`` choice of null distribution."""
    if max(a.size, b.size) <= KS_EXACT_MAX_N:
        res = sps.ks_2samp(a, b, method="auto")  # exact law: cheap at this size
        return float(res.statistic), float(res.pvalue)
    d = ks_statistic_sorted(a, b)
    return d, ks_pvalue(d, a.size, b.size)


def quantile_grid(n1: int, n2: int) -> tuple[IntArray, IntArray, FloatArray]:
    """Indices into two sorted samples and weights for ``W1 = int_0^1 |Q_a(u) - Q_b(u)| du``.

    Breakpoints ``k/n1`` and ``l/n2`` are merged in exact integer units of ``1/(n1*n2)``.
    """
    u = np.concatenate((np.arange(1, n1 + 1, dtype=np.int64) * n2,
                        np.arange(1, n2 + 1, dtype=np.int64) * n1))
    u.sort()
    u = u[np.concatenate(([True], u[1:] != u[:-1]))]
    width = np.diff(u, prepend=0) / (n1 * n2)
    return (u + n2 - 1) // n2 - 1, (u + n1 - 1) // n1 - 1, width


def wasserstein_sorted(a: FloatArray, b: FloatArray,
                       grid: tuple[IntArray, IntArray, FloatArray] | None = None) -> float:
    """First Wasserstein distance of two sorted samples via their quantile functions."""
    if a.size == b.size:
        return float(np.mean(np.abs(a - b)))
    ia, ib, w = grid if grid is not None else quantile_grid(a.size, b.size)
    return float(np.dot(w, np.abs(a[ia] - b[ib])))


# ----------------------------------------------------------------------------- counts
def proportions(counts: FloatArray) -> FloatArray:
    """Normalise bin counts to proportions."""
    return counts / counts.sum()


def psi_counts(ref: FloatArray, cur: FloatArray) -> float:
    """PSI with empty-bin proportions replaced by ``PSI_EPSILON`` (no renormalisation)."""
    p = np.where(ref > 0, proportions(ref), PSI_EPSILON)
    q = np.where(cur > 0, proportions(cur), PSI_EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon_counts(ref: FloatArray, cur: FloatArray, base: float) -> float:
    """Jensen-Shannon distance (square root of the divergence) in the given log base."""
    p, q = proportions(ref), proportions(cur)
    m = (p + q) / 2.0
    js = (np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))) / 2.0
    return float(math.sqrt(max(js / math.log(base), 0.0)))


def hellinger_counts(ref: FloatArray, cur: FloatArray) -> float:
    """Hellinger distance ``||sqrt(p) - sqrt(q)||_2 / sqrt(2)`` in [0, 1]."""
    diff = np.sqrt(proportions(ref)) - np.sqrt(proportions(cur))
    return float(np.sqrt(np.sum(diff * diff)) / math.sqrt(2.0))


def chi_square_counts(ref: FloatArray, cur: FloatArray) -> tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x k table, as ``scipy.stats.chi2_contingency``.

    Categories empty in both samples are dropped; with one degree of freedom Yates' continuity
    correction is applied (scipy's default ``correction=True``).
    """
    keep = (ref + cur) > 0
    observed = np.vstack((ref[keep], cur[keep]))
    dof = observed.shape[1] - 1
    if dof == 0:
        return 0.0, 1.0
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    if dof == 1:
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return stat, float(sps.chi2.sf(stat, dof))


def ks_counts(ref: FloatArray, cur: FloatArray) -> tuple[float, float]:
    """KS statistic at bin boundaries (a lower bound of the exact one) and asymptotic p."""
    d = float(np.max(np.abs(np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum())))
    return d, ks_pvalue(d, round(ref.sum()), round(cur.sum()))


def wasserstein_hist(edges: FloatArray, ref: FloatArray, cur: FloatArray) -> float:
    """W1 between histograms with each bin's mass at its midpoint."""
    mids = (edges[:-1] + edges[1:]) / 2.0
    gap = np.abs(np.cumsum(ref)[:-1] / ref.sum() - np.cumsum(cur)[:-1] / cur.sum())
    return float(np.sum(gap * np.diff(mids)))


# ----------------------------------------------------------------------------- corrections
def adjust_pvalues(p: FloatArray, correction: str | None) -> FloatArray:
    """Holm (step-down FWER) or Benjamini-Hochberg (step-up FDR) adjusted p-values."""
    m = p.size
    if correction is None or m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if correction == "holm":
        adj = np.maximum.accumulate(np.minimum((m - np.arange(m)) * ranked, 1.0))
    else:  # fdr_bh
        adj = np.minimum.accumulate(m / np.arange(m, 0, -1) * ranked[::-1])[::-1]
        adj = np.minimum(adj, 1.0)
    out = np.empty(m)
    out[order] = adj
    return out
