"""Drift result type, prepared samples and the registry of drift methods (private).

Public names are re-exported by [`mlmkit.analysis.drift`][mlmkit.analysis.drift].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from mlmkit._validation import check_choice, invalid
from mlmkit.analysis.drift import kernels as k
from mlmkit.analysis.metrics.intervals import html_table
from mlmkit.exceptions import DuplicateError

Kind = Literal["numeric", "categorical"]
Score = Literal["p_value", "distance"]

AUTO_SMALL_SAMPLE = 1000
AUTO_MAX_NUMERIC_CATEGORIES = 5


@dataclass(frozen=True)
class DriftStat:
    """One two-sample drift statistic and its verdict.

    Attributes
    ----------
    method : str
        Registry name of the method (``"psi"``, ``"ks"``, ...).
    statistic : float
        The distance, or the test statistic for p-value methods.
    p_value : float or None
        The p-value for ``ks`` and ``chi_square``; ``None`` for distances.
    threshold : float
        Drift when ``p_value < threshold`` (p-value methods) or ``statistic >= threshold``.
    drift_detected : bool
        The verdict.
    n_reference, n_current : int
        Sample sizes.

    Examples
    --------
    >>> DriftStat("psi", 0.2, None, 0.1, True, 100, 100).to_dict()["drift_detected"]
    True
    """

    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drift_detected: bool
    n_reference: int
    n_current: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict."""
        return asdict(self)

    def _repr_html_(self) -> str:
        return html_table(self.to_dict(), title="DriftStat")


def make_stat(method: str, statistic: float, p_value: float | None, threshold: float,
              n_reference: int, n_current: int) -> DriftStat:
    """Build a `DriftStat`, deciding drift from the p-value or the distance."""
    detected = p_value < threshold if p_value is not None else statistic >= threshold
    return DriftStat(method, float(statistic), None if p_value is None else float(p_value),
                     float(threshold), bool(detected), int(n_reference), int(n_current))


@dataclass(frozen=True)
class Sample:
    """A prepared column: sorted float64 values (numeric) or categories with counts."""

    kind: Kind
    values: k.FloatArray | None = None
    categories: list[Any] | None = None
    counts: k.IntArray | None = None

    @property
    def n(self) -> int:
        """Number of observations."""
        return int(self.values.size) if self.values is not None else int(self.counts.sum())  # type: ignore[union-attr]

    def category_counts(self) -> tuple[list[Any], k.IntArray]:
        """Distinct values and their counts (numeric values are taken as categories)."""
        if self.values is None:
            return self.categories or [], self.counts  # type: ignore[return-value]
        v = self.values
        starts = np.flatnonzero(np.concatenate(([True], v[1:] != v[:-1])))
        return v[starts].tolist(), np.diff(np.append(starts, v.size)).astype(np.int64)

    def n_unique_at_most(self, limit: int) -> bool:
        """Whether the sample has at most ``limit`` distinct values."""
        if self.values is None:
            return len(self.categories or []) <= limit
        return int(np.count_nonzero(self.values[1:] != self.values[:-1])) + 1 <= limit


@dataclass
class Context:
    """Options and per-call caches shared by the methods of one ``detect_drift`` call."""

    bins: int = 10
    base: float = 2.0
    grids: dict[tuple[int, int], Any] = field(default_factory=dict)


Compute = Callable[[Sample, Sample, Kind, Context], tuple[float, float | None]]


@dataclass(frozen=True)
class DriftMethod:
    """A named drift method: how to compute it, what it returns, and its default threshold.

    Parameters
    ----------
    name : str
        Registry key.
    score : {"p_value", "distance"}
        Whether drift means ``p_value < threshold`` or ``statistic >= threshold``.
    default_threshold : float
        Threshold used when the caller gives none.
    kinds : frozenset of str
        Column kinds the method applies to (``"numeric"``, ``"categorical"``).
    compute : callable
        ``compute(reference, current, treatment, context) -> (statistic, p_value | None)``.
    description : str
        One line for documentation and reports.

    Examples
    --------
    >>> get_drift_method("ks").score
    'p_value'
    """

    name: str
    score: Score
    default_threshold: float
    kinds: frozenset[str]
    compute: Compute
    description: str = ""


def _histograms(ref: Sample, cur: Sample, treatment: Kind,
                ctx: Context) -> tuple[k.FloatArray, k.FloatArray]:
    if treatment == "numeric" and ref.values is not None and cur.values is not None:
        edges = k.quantile_edges_sorted(ref.values, ctx.bins)
        return (k.bin_counts_sorted(ref.values, edges).astype(np.float64),
                k.bin_counts_sorted(cur.values, edges).astype(np.float64))
    _, r, c = k.align_counts(ref.category_counts(), cur.category_counts())
    return r.astype(np.float64), c.astype(np.float64)


def _psi(ref: Sample, cur: Sample, t: Kind, ctx: Context) -> tuple[float, float | None]:
    return k.psi_counts(*_histograms(ref, cur, t, ctx)), None


def _js(ref: Sample, cur: Sample, t: Kind, ctx: Context) -> tuple[float, float | None]:
    return k.jensen_shannon_counts(*_histograms(ref, cur, t, ctx), ctx.base), None


def _hellinger(ref: Sample, cur: Sample, t: Kind, ctx: Context) -> tuple[float, float | None]:
    return k.hellinger_counts(*_histograms(ref, cur, t, ctx)), None


def _chi_square(ref: Sample, cur: Sample, t: Kind, ctx: Context) -> tuple[float, float | None]:
    _, r, c = k.align_counts(ref.category_counts(), cur.category_counts())
    return k.chi_square_counts(r.astype(np.float64), c.astype(np.float64))


def _ks(ref: Sample, cur: Sample, t: Kind, ctx: Context) -> tuple[float, float | None]:
    return k.ks_sorted(ref.values, cur.values)  # type: ignore[arg-type]


def normalized_wasserstein(w: float, reference_std: float) -> float:
    """``w / reference_std``; 0 when both are 0 and inf when only the std is 0."""
    if reference_std > 0:
        return w / reference_std
    return 0.0 if w == 0 else math.inf


def _wasserstein(ref: Sample, cur: Sample, t: Kind, ctx: Context) -> tuple[float, float | None]:
    a, b = ref.values, cur.values
    assert a is not None and b is not None
    key = (a.size, b.size)
    if a.size != b.size and key not in ctx.grids:
        ctx.grids[key] = k.quantile_grid(*key)
    w = k.wasserstein_sorted(a, b, ctx.grids.get(key))
    return normalized_wasserstein(w, float(a.std())), None


_REGISTRY: dict[str, DriftMethod] = {}


def register_drift_method(method: DriftMethod, *, replace: bool = False) -> DriftMethod:
    """Add ``method`` to the registry under ``method.name`` and return it.

    Raises
    ------
    DuplicateError
        If the name is taken and ``replace`` is false.

    Examples
    --------
    >>> m = register_drift_method(get_drift_method("psi"), replace=True)
    >>> m.default_threshold
    0.1
    """
    if method.name == "auto":
        raise invalid("method.name", "a name other than 'auto'", method.name)
    if method.name in _REGISTRY and not replace:
        raise DuplicateError(f"method.name must be a new drift method name; got {method.name!r}")
    _REGISTRY[method.name] = method
    return method


def get_drift_method(name: str) -> DriftMethod:
    """Return the registered drift method called ``name``.

    Examples
    --------
    >>> get_drift_method("wasserstein").default_threshold
    0.1
    """
    return _REGISTRY[check_choice("method", name, set(_REGISTRY))]


def available_drift_methods() -> tuple[str, ...]:
    """Names of the registered drift methods, sorted (``"auto"`` is a rule, not listed).

    Examples
    --------
    >>> available_drift_methods()
    ('chi_square', 'hellinger', 'jensen_shannon', 'ks', 'psi', 'wasserstein')
    """
    return tuple(sorted(_REGISTRY))


def auto_method(ref: Sample, cur: Sample) -> tuple[str, Kind]:
    """The ``auto`` rule: the method name and the treatment for one column pair."""
    categorical = ref.kind == "categorical" or ref.n_unique_at_most(AUTO_MAX_NUMERIC_CATEGORIES)
    small = min(ref.n, cur.n) <= AUTO_SMALL_SAMPLE
    if categorical:
        return ("chi_square" if small else "jensen_shannon"), "categorical"
    return ("ks" if small else "wasserstein"), "numeric"


_BOTH = frozenset({"numeric", "categorical"})
_NUM = frozenset({"numeric"})
for _m in (
    DriftMethod("psi", "distance", 0.1, _BOTH, _psi,
                "population stability index on reference-quantile bins or categories"),
    DriftMethod("ks", "p_value", 0.05, _NUM, _ks, "two-sample Kolmogorov-Smirnov test"),
    DriftMethod("wasserstein", "distance", 0.1, _NUM, _wasserstein,
                "Wasserstein-1 distance divided by the reference standard deviation"),
    DriftMethod("jensen_shannon", "distance", 0.1, _BOTH, _js,
                "Jensen-Shannon distance (base 2) on reference-quantile bins or categories"),
    DriftMethod("hellinger", "distance", 0.1, _BOTH, _hellinger,
                "Hellinger distance on reference-quantile bins or categories"),
    DriftMethod("chi_square", "p_value", 0.05, frozenset({"categorical"}), _chi_square,
                "chi-square test of homogeneity on category counts"),
):
    register_drift_method(_m)
