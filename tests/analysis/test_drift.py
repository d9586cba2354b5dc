"""Drift statistics against scipy / statsmodels oracles, invariants and bad inputs."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats
from scipy.spatial import distance
from sklearn.datasets import load_breast_cancer
from statsmodels.stats.multitest import multipletests

from mlmkit.analysis import drift
from mlmkit.analysis.drift import methods as _drift_methods
from mlmkit.exceptions import DuplicateError, ValidationError

ABS = 1e-9
RNG = np.random.default_rng(20240601)

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
samples = hnp.arrays(np.float64, st.integers(1, 60), elements=finite)


def _digitize_counts(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Independent binning: ``np.digitize`` puts ``e[i-1] <= x < e[i]`` in bin i."""
    return np.bincount(np.digitize(x, edges), minlength=edges.size + 1)


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    data = load_breast_cancer()
    return data.data, data.target


# ------------------------------------------------------------------ KS
@pytest.mark.parametrize("n1,n2,decimals", [(30, 40, 1), (200, 200, 8), (20_000, 15_000, 2),
                                            (12_000, 12_000, 8), (50, 30_000, 1)])
def test_ks_equals_scipy(n1: int, n2: int, decimals: int) -> None:
    a = np.round(RNG.normal(size=n1), decimals)
    b = np.round(RNG.normal(0.05, 1.1, size=n2), decimals)
    res, ref = drift.ks(a, b), stats.ks_2samp(a, b)
    assert res.statistic == pytest.approx(ref.statistic, abs=ABS)
    assert res.p_value == pytest.approx(ref.pvalue, abs=ABS)
    assert res.drift_detected == (ref.pvalue < 0.05)


def test_ks_far_tail_matches_scipy() -> None:
    a, b = RNG.normal(size=30_000), RNG.normal(0.3, 1.0, size=25_000)
    res, ref = drift.ks(a, b), stats.ks_2samp(a, b)
    assert res.statistic == pytest.approx(ref.statistic, abs=ABS)
    assert res.p_value == pytest.approx(ref.pvalue, abs=ABS)


def test_ks_and_wasserstein_on_breast_cancer(cancer: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = cancer
    for j in range(0, x.shape[1], 3):
        a, b = x[y == 0, j], x[y == 1, j]
        ref = stats.ks_2samp(a, b)
        res = drift.ks(a, b)
        assert (res.statistic, res.p_value) == pytest.approx((ref.statistic, ref.pvalue), abs=ABS)
        w = drift.wasserstein(a, b).statistic
        assert w == pytest.approx(stats.wasserstein_distance(a, b), abs=ABS, rel=1e-12)


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")
@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_ks_and_wasserstein_equal_scipy_on_random_inputs(a: np.ndarray, b: np.ndarray) -> None:
    res = drift.ks(a, b)
    ref = stats.ks_2samp(a, b)
    assert res.statistic == pytest.approx(ref.statistic, abs=ABS)
    assert res.p_value == pytest.approx(ref.pvalue, abs=ABS)
    w = drift.wasserstein(a, b).statistic
    assert w == pytest.approx(stats.wasserstein_distance(a, b), abs=1e-9, rel=1e-9)


# ------------------------------------------------------------------ Wasserstein
@pytest.mark.parametrize("n1,n2", [(1000, 1000), (1000, 777), (3, 50_000), (4096, 6000)])
def test_wasserstein_equals_scipy(n1: int, n2: int) -> None:
    a, b = RNG.lognormal(size=n1), RNG.lognormal(0.1, 1.0, size=n2)
    expected = stats.wasserstein_distance(a, b)
    assert drift.wasserstein(a, b).statistic == pytest.approx(expected, abs=ABS, rel=1e-12)
    normed = drift.wasserstein(a, b, normalized=True)
    assert normed.statistic == pytest.approx(expected / np.std(a), rel=1e-12)
    assert normed.threshold == 0.1


def test_normalized_wasserstein_is_the_shift_in_sd() -> None:
    a = RNG.exponential(2.0, size=50_000)
    assert drift.wasserstein(a, a + 0.15 * a.std(), normalized=True).statistic == pytest.approx(
        0.15, rel=1e-9)


# ------------------------------------------------------------------ binned distances
def test_quantile_edges_match_numpy() -> None:
    x = RNG.gamma(2.0, size=10_001)
    expected = np.quantile(x, np.linspace(0, 1, 11)[1:-1])
    np.testing.assert_allclose(drift.quantile_edges(x), expected, rtol=1e-12)
    assert drift.quantile_edges([1, 1, 1, 2], bins=4).tolist() == [1.0, 1.25]


def test_binned_distances_equal_scipy_on_the_same_histograms() -> None:
    a, b = RNG.normal(size=5000), RNG.normal(0.3, 1.2, size=4000)
    edges = np.quantile(a, np.linspace(0, 1, 11)[1:-1])
    p, q = _digitize_counts(a, edges), _digitize_counts(b, edges)
    np.testing.assert_array_equal(drift.bin_counts(a, edges), p)
    assert drift.jensen_shannon(a, b).statistic == pytest.approx(
        distance.jensenshannon(p, q, base=2), abs=ABS)
    assert drift.jensen_shannon(a, b, base=math.e).statistic == pytest.approx(
        distance.jensenshannon(p, q), abs=ABS)
    hell = distance.euclidean(np.sqrt(p / p.sum()), np.sqrt(q / q.sum())) / math.sqrt(2)
    assert drift.hellinger(a, b).statistic == pytest.approx(hell, abs=ABS)
    pp, qq = p / p.sum(), q / q.sum()
    assert drift.psi(a, b).statistic == pytest.approx(np.sum((qq - pp) * np.log(qq / pp)), abs=ABS)


def test_psi_smoothing_of_empty_bins() -> None:
    # current has nothing in the first bin: its proportion becomes 1e-4
    res = drift.psi_from_counts([50, 50], [0, 100])
    expected = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(1.0 / 0.5)
    assert res.statistic == pytest.approx(expected, abs=ABS)


@pytest.mark.parametrize("family", ["normal", "exponential", "uniform"])
def test_psi_is_zero_on_itself_and_grows_with_shift(family: str) -> None:
    x = getattr(RNG, family)(size=20_000)
    assert drift.psi(x, x).statistic == 0.0
    values = [drift.psi(x, x + s * x.std()).statistic for s in np.linspace(0.0, 1.5, 16)]
    assert values[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(values))


def test_categorical_distances_use_categories() -> None:
    a = np.array(["x"] * 60 + ["y"] * 40)
    b = np.array(["x"] * 30 + ["y"] * 50 + ["z"] * 20)
    p, q = np.array([60, 40, 0]), np.array([30, 50, 20])
    assert drift.jensen_shannon(a, b).statistic == pytest.approx(
        distance.jensenshannon(p, q, base=2), abs=ABS)
    assert drift.hellinger(a, b).statistic == pytest.approx(
        drift.hellinger_from_counts(p, q).statistic, abs=ABS)
    assert drift.psi(a, b).statistic == pytest.approx(drift.psi_from_counts(p, q).statistic)
    codes = np.array([0] * 60 + [1] * 40)
    assert drift.psi(codes, codes + 0, categorical=True).statistic == 0.0


# ------------------------------------------------------------------ chi-square
@pytest.mark.parametrize("k_ref,k_cur,n", [(2, 2, 300), (5, 5, 1000), (4, 6, 500), (3, 3, 40)])
def test_chi_square_equals_scipy(k_ref: int, k_cur: int, n: int) -> None:
    a = RNG.integers(0, k_ref, size=n).astype(str)
    b = RNG.integers(0, k_cur, size=n + 17).astype(str)
    cats = sorted(set(a) | set(b))
    table = np.array([[np.sum(a == c) for c in cats], [np.sum(b == c) for c in cats]])
    ref = stats.chi2_contingency(table)
    res = drift.chi_square(a, b)
    assert (res.statistic, res.p_value) == pytest.approx((ref.statistic, ref.pvalue), abs=ABS)
    from_counts = drift.chi_square_from_counts(table[0], table[1])
    assert from_counts.p_value == pytest.approx(ref.pvalue, abs=ABS)


def test_chi_square_single_category_is_no_drift() -> None:
    res = drift.chi_square(["a"] * 5, ["a"] * 7)
    assert (res.statistic, res.p_value, res.drift_detected) == (0.0, 1.0, False)


# ------------------------------------------------------------------ count-based variants
def test_count_variants_agree_with_raw_on_the_same_bins() -> None:
    a, b = RNG.normal(size=3000), RNG.normal(0.2, 1.0, size=2500)
    edges = drift.quantile_edges(a, bins=12)
    p, q = drift.bin_counts(a, edges), drift.bin_counts(b, edges)
    pairs = [(drift.psi(a, b, 12), drift.psi_from_counts(p, q)),
             (drift.jensen_shannon(a, b, bins=12), drift.jensen_shannon_from_counts(p, q)),
             (drift.hellinger(a, b, bins=12), drift.hellinger_from_counts(p, q))]
    for raw, counted in pairs:
        assert raw.to_dict() == pytest.approx(counted.to_dict())


def test_histogram_ks_and_wasserstein_exact_with_one_bin_per_value() -> None:
    a = RNG.poisson(6.0, size=20_000).astype(float)
    b = RNG.poisson(6.3, size=15_000).astype(float)
    values = np.arange(0, max(a.max(), b.max()) + 1)
    p = np.array([np.sum(a == v) for v in values])
    q = np.array([np.sum(b == v) for v in values])
    ref = stats.ks_2samp(a, b)
    res = drift.ks_from_histograms(p, q)
    assert (res.statistic, res.p_value) == pytest.approx((ref.statistic, ref.pvalue), abs=ABS)
    edges = np.append(values - 0.5, values[-1] + 0.5)
    w = drift.wasserstein_from_histogram(edges, p, q)
    assert w.statistic == pytest.approx(stats.wasserstein_distance(a, b), abs=ABS)
    normed = drift.wasserstein_from_histogram(edges, p, q, reference_std=float(a.std()))
    assert normed.statistic == pytest.approx(w.statistic / a.std(), rel=1e-12)


def test_histogram_ks_is_a_lower_bound() -> None:
    a, b = RNG.normal(size=4000), RNG.normal(0.1, 1.0, size=4000)
    edges = drift.quantile_edges(a, bins=20)
    approx = drift.ks_from_histograms(drift.bin_counts(a, edges), drift.bin_counts(b, edges))
    assert approx.statistic <= drift.ks(a, b).statistic + 1e-12


# ------------------------------------------------------------------ detect_drift
def _scenario(n: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    shifts = {0: 0.15, 3: 0.25, 6: 0.5, 9: 0.75, 12: 1.0}
    draws: list[Callable[[int], np.ndarray]] = [
        lambda m: rng.normal(10, 2, m), lambda m: rng.lognormal(0, 0.5, m),
        lambda m: rng.exponential(3, m), lambda m: rng.uniform(-1, 1, m),
        lambda m: rng.standard_t(5, m)]
    ref: dict[str, np.ndarray] = {}
    cur: dict[str, np.ndarray] = {}
    for i in range(20):
        r, c = draws[i % 5](n), draws[i % 5](n)
        ref[f"num_{i:02d}"], cur[f"num_{i:02d}"] = r, c + shifts.get(i, 0.0) * r.std()
    labels = np.array(list("abcde"))
    ref["cat"], cur["cat"] = labels[rng.integers(0, 5, n)], labels[rng.integers(0, 5, n)]
    return ref, cur


def test_auto_flags_exactly_the_shifted_features_at_1e5() -> None:
    # n = 1e5: noise in the normalised Wasserstein distance is ~0.005, far below 0.1,
    # while the smallest shift (0.15 sd) gives 0.15; a fixed PSI >= 0.1 rule misses it.
    ref, cur = _scenario(100_000, seed=3)
    report = drift.detect_drift(ref, cur)
    assert report.drifted_features == ["num_00", "num_03", "num_06", "num_09", "num_12"]
    assert set(report.features["method"]) == {"wasserstein", "jensen_shannon"}
    assert report.share_drifted == pytest.approx(5 / 21)
    assert not report.dataset_drift
    assert not drift.psi(ref["num_00"], cur["num_00"]).drift_detected


def test_auto_on_small_samples_uses_corrected_tests() -> None:
    ref, cur = _scenario(400, seed=5)
    report = drift.detect_drift(ref, cur)
    assert set(report.features["method"]) == {"ks", "chi_square"}
    p = report.features["p_value"].to_numpy()
    np.testing.assert_allclose(report.features["adjusted_p_value"].to_numpy(),
                               multipletests(p, method="holm")[1], atol=ABS)
    assert {"num_06", "num_09", "num_12"} <= set(report.drifted_features)
    assert set(report.drifted_features) <= {"num_00", "num_03", "num_06", "num_09", "num_12"}


def test_detect_drift_on_breast_cancer_matches_scipy_and_statsmodels(
        cancer: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = cancer
    names = [f"f{j}" for j in range(10)]
    ref = pl.DataFrame({n: x[y == 1, j] for j, n in enumerate(names)})
    cur = pl.DataFrame({n: x[y == 0, j] for j, n in enumerate(names)})
    for correction in ("holm", "fdr_bh"):
        report = drift.detect_drift(ref, cur, correction=correction)
        p = [stats.ks_2samp(ref[n], cur[n]).pvalue for n in names]
        reject, adjusted, *_ = multipletests(p, alpha=0.05, method=correction)
        np.testing.assert_allclose(report.features["p_value"].to_numpy(), p, atol=ABS)
        np.testing.assert_allclose(report.features["adjusted_p_value"].to_numpy(), adjusted,
                                   atol=ABS)
        assert report.features["drift_detected"].to_list() == reject.tolist()


def test_polars_and_dict_inputs_agree_and_nulls_are_dropped() -> None:
    ref, cur = _scenario(2000, seed=7)
    a = drift.detect_drift(ref, cur, method="psi")
    b = drift.detect_drift(pl.DataFrame(ref), pl.DataFrame(cur), method="psi")
    assert a.features.equals(b.features)
    assert set(a.features["method"]) == {"psi"}
    with_nulls = pl.DataFrame(cur).with_columns(
        pl.when(pl.int_range(pl.len()) < 10).then(None).otherwise(pl.col("num_01"))
        .alias("num_01"))
    c = drift.detect_drift(pl.DataFrame(ref), with_nulls, columns=["num_01"], method="ks")
    assert c.features["n_current"].item() == 1990
    assert c.features["p_value"].item() == pytest.approx(
        stats.ks_2samp(ref["num_01"], cur["num_01"][10:]).pvalue, abs=ABS)


def test_method_mapping_thresholds_and_low_cardinality_numbers() -> None:
    rng = np.random.default_rng(11)
    ref = {"x": rng.normal(size=5000), "flag": rng.integers(0, 2, 5000),
           "s": rng.choice(["u", "v"], 5000)}
    cur = {"x": rng.normal(0.05, 1, 5000), "flag": rng.integers(0, 2, 5000),
           "s": rng.choice(["u", "v"], 5000)}
    report = drift.detect_drift(ref, cur, method={"x": "ks"}, thresholds={"jensen_shannon": 0.5})
    rows = {r["feature"]: r for r in report.features.iter_rows(named=True)}
    assert rows["x"]["method"] == "ks"
    assert rows["flag"]["method"] == "jensen_shannon"  # 2 distinct values: categorical rule
    assert rows["flag"]["kind"] == "numeric"
    assert rows["s"]["threshold"] == 0.5
    fallback = drift.detect_drift(ref, cur, method="ks", thresholds={"x": 0.01})
    assert fallback.features["method"].to_list() == ["ks", "ks", "jensen_shannon"]
    assert fallback.features["threshold"][0] == 0.01


def test_report_serialises_and_is_frozen() -> None:
    report = drift.detect_drift({"a": [1.0, 2.0, 3.0, 4.0]}, {"a": [2.0, 3.0, 4.0, 5.0]},
                                method="ks")
    d = report.to_dict()
    assert d["features"][0]["method"] == "ks" and d["correction"] == "holm"
    assert "<table" in report._repr_html_() and "ks" in report._repr_html_()
    stat = drift.ks([1.0, 2.0], [3.0, 4.0])
    assert "<table" in stat._repr_html_()
    with pytest.raises(AttributeError):
        report.share_drifted = 1.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        stat.statistic = 1.0  # type: ignore[misc]


def _mean_gap(r: Any, c: Any, treatment: Any, ctx: Any) -> tuple[float, float | None]:
    return float(abs(np.mean(r.values) - np.mean(c.values))), None


def test_registry_accepts_new_methods_and_rejects_duplicates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_drift_methods, "_REGISTRY", dict(_drift_methods._REGISTRY))
    ks_method = drift.get_drift_method("ks")
    with pytest.raises(DuplicateError, match=r"^method\.name"):
        drift.register_drift_method(ks_method)
    custom = drift.DriftMethod("mean_gap", "distance", 0.5, frozenset({"numeric"}), _mean_gap)
    drift.register_drift_method(custom, replace=True)
    report = drift.detect_drift({"a": [0.0, 1.0] * 5}, {"a": [1.0, 2.0] * 5},
                                method={"a": "mean_gap"})
    assert report.features["statistic"].item() == 1.0 and report.features["drift_detected"][0]
    assert "mean_gap" in drift.available_drift_methods()


# ------------------------------------------------------------------ bad inputs
bad_samples = st.one_of(
    st.just([]), st.just(np.array([])),
    hnp.arrays(np.float64, st.integers(1, 20), elements=finite).map(
        lambda a: np.append(a, np.nan)),
    hnp.arrays(np.float64, st.integers(1, 20), elements=finite).map(
        lambda a: np.append(a, -np.inf)),
    st.just(np.zeros((2, 2))), st.just("abc"),
)


@settings(max_examples=40, deadline=None)
@given(bad_samples, st.sampled_from(["psi", "ks", "wasserstein", "jensen_shannon", "hellinger"]),
       st.booleans())
def test_bad_samples_raise_with_parameter_name(bad: object, name: str, first: bool) -> None:
    good = np.arange(10.0)
    args = (bad, good) if first else (good, bad)
    with pytest.raises(ValidationError, match=r"^reference" if first else "^current"):
        getattr(drift, name)(*args)


@settings(max_examples=30, deadline=None)
@given(st.one_of(st.just([]), st.just([1, -1]), st.just([0, 0]), st.just([1, np.nan]),
                 st.just([1, 2, 3])),
       st.sampled_from([drift.psi_from_counts, drift.jensen_shannon_from_counts,
                        drift.hellinger_from_counts, drift.chi_square_from_counts,
                        drift.ks_from_histograms]))
def test_bad_counts_raise_with_parameter_name(bad: list[float], fn: object) -> None:
    with pytest.raises(ValidationError, match=r"^current_counts"):
        fn([5, 5], bad)  # type: ignore[operator]


@pytest.mark.parametrize("kwargs,param", [
    ({"method": "nope"}, "^method"), ({"correction": "bonferroni"}, "^correction"),
    ({"columns": ["zzz"]}, "^columns"), ({"columns": "a"}, "^columns"),
    ({"thresholds": {"a": -1}}, r"^thresholds\['a'\]"),
    ({"thresholds": {"zzz": 1}}, "^thresholds keys"),
    ({"drift_share": 0}, "^drift_share"), ({"bins": 1}, "^bins"),
    ({"method": {"zzz": "ks"}}, "^method"), ({"method": {"a": "x"}}, r"^method\['a'\]"),
    ({"method": {"s": "ks"}}, r"^method\['s'\]"),
])
def test_detect_drift_bad_options(kwargs: dict[str, object], param: str) -> None:
    ref = {"a": np.arange(10.0), "s": np.array(list("abcdeabcde"))}
    with pytest.raises(ValidationError, match=param):
        drift.detect_drift(ref, ref, **kwargs)  # type: ignore[arg-type]


def test_detect_drift_bad_frames() -> None:
    ref = {"a": np.arange(10.0), "b": np.arange(10.0)}
    with pytest.raises(ValidationError, match=r"^current"):
        drift.detect_drift(ref, {"a": np.arange(10.0)})
    with pytest.raises(ValidationError, match=r"^current\['a'\]"):
        drift.detect_drift(ref, {"a": np.array(list("abcdefghij")), "b": np.arange(10.0)})
    with pytest.raises(ValidationError, match=r"^reference\['a'\]"):
        drift.detect_drift({"a": np.array([np.nan, 1.0])}, {"a": np.arange(3.0)})
    with pytest.raises(ValidationError, match=r"^current\['a'\]"):
        drift.detect_drift({"a": [1.0, 2.0]}, pl.DataFrame({"a": [None, None]},
                                                           schema={"a": pl.Float64}))
    with pytest.raises(ValidationError, match=r"^reference"):
        drift.detect_drift([1, 2, 3], ref)
    with pytest.raises(ValidationError, match=r"^edges"):
        drift.wasserstein_from_histogram([0, 1], [1, 1], [1, 1])
