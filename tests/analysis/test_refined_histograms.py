"""Quantiles from histograms whose range one extreme value stretched: refined, not smeared.

`refined_histograms` against numpy's exact quantiles on seeded samples (with and without
extreme values, point masses, both tails), with a fetch that counts like the SQL statements
(equal bins on ``[lo, hi]``, ``floor``, clamped to the ends).
"""

from __future__ import annotations

import numpy as np
import pytest

from mlmkit.analysis.metrics.summaries import (
    DEFAULT_QUANTILES,
    histogram_quantiles,
    refined_histograms,
)

BINS = 10_000


def _counts(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The portable statements' arithmetic: ``floor((x - lo) / w)`` clamped to the bins."""
    w = (hi - lo) / BINS if hi > lo else 1.0
    b = np.clip(np.floor((x - lo) / w), 0, BINS - 1).astype(np.int64)
    return np.bincount(b, minlength=BINS)


def _edges(lo: float, hi: float) -> np.ndarray:
    w = (hi - lo) / BINS if hi > lo else 1.0
    e = lo + w * np.arange(BINS + 1, dtype=np.float64)
    e[-1] = max(e[-1], hi)
    return e


def _quantiles(x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """``(value, low, high)`` per quantile after refinement, and the fetch calls' sizes."""
    calls: list[int] = []

    def fetch(spans: dict[str, tuple[float, float]]) -> dict[str, np.ndarray]:
        calls.append(len(spans))
        return {k: _counts(x, lo, hi) for k, (lo, hi) in spans.items()}

    lo, hi = float(x.min()), float(x.max())
    (e, c), = refined_histograms(fetch, {"k": _edges(lo, hi)}, {"k": _counts(x, lo, hi)},
                                 DEFAULT_QUANTILES).values()
    assert c.sum() == x.size and (np.diff(e) > 0).all() and e[0] == lo and e[-1] >= hi
    table = histogram_quantiles(e, c, DEFAULT_QUANTILES)
    return table.select("value", "low", "high").to_numpy(), calls


@pytest.mark.parametrize("extreme", [1e3, 1e6, -1e9, 1e12])
def test_one_extreme_value_leaves_the_quantiles_of_the_bulk_exact(extreme: float) -> None:
    rng = np.random.default_rng(int(abs(extreme)) % 97)
    x = np.append(rng.normal(0.0, 1.0, 20_000), extreme)
    got, calls = _quantiles(x)
    exact = np.quantile(x, DEFAULT_QUANTILES)
    assert ((got[:, 1] <= exact) & (exact <= got[:, 2])).all()  # the bracket holds it
    assert (got[:, 2] - got[:, 1]).max() < 0.02  # and is fine: not the stretched bin
    assert np.abs(got[:, 0] - exact).max() < 0.01
    assert 1 <= len(calls) <= 4


def test_extremes_on_both_sides_and_a_heavy_tail() -> None:
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.standard_cauchy(20_000), [-1e8, 1e8]])
    got, _ = _quantiles(x)
    exact = np.quantile(x, DEFAULT_QUANTILES)
    assert ((got[:, 1] <= exact) & (exact <= got[:, 2])).all()
    assert np.abs(got[:, 0] - exact).max() < 0.05


def test_a_smooth_sample_is_not_refined() -> None:
    rng = np.random.default_rng(5)
    for x in (rng.normal(0, 1, 50_000), rng.exponential(1, 50_000), rng.random(300)):
        got, calls = _quantiles(x)
        assert calls == []  # no second statement
        exact = np.quantile(x, DEFAULT_QUANTILES)
        assert ((got[:, 1] <= exact) & (exact <= got[:, 2])).all()


def test_a_point_mass_stops_after_two_refinements_without_progress() -> None:
    rng = np.random.default_rng(9)
    x = np.concatenate([np.zeros(10_000), rng.normal(0, 1, 5_000)])  # exact zeros: a third
    got, calls = _quantiles(x)
    assert len(calls) <= 4
    exact = np.quantile(x, DEFAULT_QUANTILES)
    assert ((got[:, 1] <= exact) & (exact <= got[:, 2])).all()
    assert abs(got[2, 0]) <= got[2, 2] - got[2, 1] < 1e-3  # the median, one of the zeros


def test_keys_refine_apart_in_one_fetch_per_level() -> None:
    rng = np.random.default_rng(2)
    xs = {"plain": rng.normal(0, 1, 5000), "stretched": np.append(rng.normal(0, 1, 5000), 1e7)}
    calls: list[set[str]] = []

    def fetch(spans: dict[str, tuple[float, float]]) -> dict[str, np.ndarray]:
        calls.append(set(spans))
        return {k: _counts(xs[k], lo, hi) for k, (lo, hi) in spans.items()}

    first = {k: _counts(x, x.min(), x.max()) for k, x in xs.items()}
    out = refined_histograms(fetch, {k: _edges(x.min(), x.max()) for k, x in xs.items()},
                             first, DEFAULT_QUANTILES)
    assert calls and all(c == {"stretched"} for c in calls)
    assert out["plain"][1] is not None and out["plain"][1].size == BINS  # untouched
    assert (out["plain"][1] == first["plain"]).all()
