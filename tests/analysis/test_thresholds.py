"""Threshold curve and best threshold against brute force with scikit-learn oracles."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlmkit.analysis.thresholds import (
    METRICS,
    ThresholdResult,
    best_threshold,
    best_threshold_from_curve,
    threshold_curve,
    threshold_curve_from_histogram,
)
from mlmkit.analysis.thresholds import kernels as _thresholds
from mlmkit.exceptions import ValidationError


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    # round so that some scores tie and the tie handling is exercised too
    return y, np.round(model.predict_proba(x)[:, 1], 3)


def _confusion(actual: np.ndarray, score: np.ndarray, t: float) -> tuple[int, int, int, int]:
    tn, fp, fn, tp = skm.confusion_matrix(actual, score >= t, labels=[0, 1]).ravel()
    return int(tp), int(fp), int(tn), int(fn)


def _sk_table(actual: np.ndarray, score: np.ndarray, thresholds: np.ndarray,
              extra: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """scikit-learn's numbers at every threshold in one call: each threshold is one label of a
    multilabel problem (columns of ``score >= threshold``)."""
    m = len(thresholds)
    # two sentinel columns (all positive / all negative) keep the target multilabel for any m
    padded = np.concatenate([np.asarray(thresholds, dtype=float), [-np.inf, np.inf]])
    truth = np.repeat(actual[:, None], padded.size, axis=1)
    predicted = (score[:, None] >= padded[None, :]).astype(int)
    mcm = skm.multilabel_confusion_matrix(truth, predicted)[:m]
    tn, fp, fn, tp = (mcm[:, i, j] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        precision, recall, f1, _ = (v[:m] for v in skm.precision_recall_fscore_support(
            truth, predicted, average=None, zero_division=np.nan))
        table = {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "precision": precision,
                 "recall": recall, "f1_score": f1, "accuracy": (tp + tn) / actual.size,
                 "specificity": tn / (tn + fp)}
        for name in extra:
            table[name] = np.array([SKLEARN[name](actual, predicted[:, j]) for j in range(m)],
                                   dtype=float)
    return table


def _check_curve(actual: np.ndarray, score: np.ndarray) -> None:
    curve = threshold_curve(actual, score)
    thresholds = np.unique(score)
    assert curve["threshold"].to_list() == thresholds.tolist()
    expected = _sk_table(actual, score, thresholds)
    for column, values in expected.items():
        got = curve[column].to_numpy()
        if column in ("tp", "fp", "tn", "fn"):
            assert np.array_equal(got, values), column
        else:
            assert np.allclose(got, values, rtol=0, atol=1e-12, equal_nan=True), column


def test_curve_equals_confusion_matrix_breast_cancer(cancer: tuple) -> None:
    _check_curve(*cancer)


def test_curve_matches_precision_recall_curve(cancer: tuple) -> None:
    actual, score = cancer
    curve = threshold_curve(actual, score)
    precision, recall, thresholds = skm.precision_recall_curve(actual, score)
    assert np.array_equal(thresholds, curve["threshold"].to_numpy())
    assert np.allclose(precision[:-1], curve["precision"].to_numpy(), atol=1e-15)
    assert np.allclose(recall[:-1], curve["recall"].to_numpy(), atol=1e-15)


labels_and_scores = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
    st.lists(st.integers(-8, 8).map(lambda v: v / 4), min_size=n, max_size=n)))


@settings(max_examples=40, deadline=None)
@given(labels_and_scores)
def test_curve_equals_brute_force_hypothesis(data: tuple[list[int], list[float]]) -> None:
    _check_curve(np.array(data[0]), np.array(data[1]))


@settings(max_examples=30, deadline=None)
@given(labels_and_scores, st.sampled_from(["float32", "int64", "polars"]))
def test_input_forms_agree(data: tuple[list[int], list[float]], form: str) -> None:
    actual, score = np.array(data[0]), np.array(data[1])
    expected = threshold_curve(actual, score)
    if form == "float32":
        got = threshold_curve(actual.astype(bool), score.astype(np.float32))
    elif form == "int64":
        got = threshold_curve(actual.astype(float), np.floor(score).astype(np.int64))
        expected = threshold_curve(actual, np.floor(score))
    else:
        got = threshold_curve(pl.Series(actual), pl.Series(score))
    assert got.equals(expected)


def test_all_distinct_fast_path_and_one_class() -> None:
    rng = np.random.default_rng(0)
    score = rng.random(500)
    _check_curve((rng.random(500) < score).astype(int), score)
    only_negative = threshold_curve(np.zeros(5, dtype=int), score[:5])
    assert only_negative["tp"].to_list() == [0] * 5
    assert only_negative["recall"].is_nan().all()
    assert threshold_curve(np.ones(3, dtype=bool), [1.0, 2.0, 2.0])["specificity"].is_nan().all()


def test_packed_sort_keeps_adjacent_floats_apart() -> None:
    # float64 scores in [0, 2) take the packed-key sort: neighbouring floats (one ulp apart)
    # and repeats must stay distinct thresholds; scores outside [0, 2) or -0.0 take the merge.
    rng = np.random.default_rng(1)
    base = rng.random(200)
    score = np.concatenate([base, np.nextafter(base, 2.0), base[:50], [0.0, 1.9999999999]])
    actual = (rng.random(score.size) < 0.4).astype(np.uint8)
    _check_curve(actual, score)
    for extra in ([2.0], [-0.0], [-1e-300]):
        _check_curve(np.append(actual, 1), np.append(score, extra))


# ---------------------------------------------------------------- histograms


def test_histogram_of_distinct_scores_equals_curve(cancer: tuple) -> None:
    actual, score = cancer
    values, inverse = np.unique(score, return_inverse=True)
    pos = np.bincount(inverse, weights=actual, minlength=values.size).astype(int)
    neg = np.bincount(inverse, minlength=values.size) - pos
    assert threshold_curve_from_histogram(values, pos, neg).equals(threshold_curve(actual, score))


def test_histogram_of_bins_equals_curve_of_binned_scores(cancer: tuple) -> None:
    actual, score = cancer
    edges = np.linspace(0.0, 1.0, 21)
    index = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, 19)
    pos = np.bincount(index, weights=actual, minlength=20).astype(int)
    neg = np.bincount(index, minlength=20) - pos
    from_bins = threshold_curve_from_histogram(edges, pos, neg)
    assert from_bins["threshold"].to_list() == edges[:-1].tolist()
    exact = threshold_curve(actual, edges[index])
    kept = from_bins.filter(pl.col("threshold").is_in(exact["threshold"].implode()))
    assert kept.equals(exact)
    for metric in ("f1_score", "accuracy", "mcc"):
        assert (best_threshold_from_curve(from_bins, metric=metric).to_dict()
                == best_threshold(actual, edges[index], metric=metric).to_dict())


# ---------------------------------------------------------------- best threshold oracles


def _specificity(a: np.ndarray, p: np.ndarray) -> float:
    tn, fp, _, _ = skm.confusion_matrix(a, p, labels=[0, 1]).ravel()
    return tn / (tn + fp) if tn + fp else math.nan


SKLEARN: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "f1_score": lambda a, p: skm.f1_score(a, p, zero_division=np.nan),
    "precision": lambda a, p: skm.precision_score(a, p, zero_division=np.nan),
    "recall": lambda a, p: skm.recall_score(a, p, zero_division=np.nan),
    "accuracy": skm.accuracy_score,
    "specificity": _specificity,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "mcc": skm.matthews_corrcoef,
}


def _brute(thresholds: np.ndarray, values: np.ndarray,
           feasible: np.ndarray | None = None) -> tuple[float, float] | None:
    """Best (value, lowest threshold among values within 1e-12) of a brute-force table."""
    ok = ~np.isnan(values) if feasible is None else ~np.isnan(values) & feasible
    if not ok.any():
        return None
    best = values[ok].max()
    return float(best), float(thresholds[ok & (values >= best - 1e-12)].min())


@pytest.mark.parametrize("metric", [m for m in METRICS if m != "cost"])
def test_best_threshold_equals_brute_force(cancer: tuple, metric: str) -> None:
    actual, score = cancer
    result = best_threshold(actual, score, metric=metric)
    thresholds = np.unique(score)
    extra = (metric,) if metric in ("balanced_accuracy", "mcc") else ()
    value, threshold = _brute(thresholds, _sk_table(actual, score, thresholds, extra)[metric])
    assert result.feasible
    assert result.value == pytest.approx(value, abs=1e-12)
    assert result.threshold == threshold
    assert (result.tp, result.fp, result.tn, result.fn) == _confusion(actual, score, threshold)


@settings(max_examples=30, deadline=None)
@given(labels_and_scores, st.sampled_from(["f1_score", "accuracy", "balanced_accuracy"]))
def test_best_threshold_hypothesis(data: tuple[list[int], list[float]], metric: str) -> None:
    actual, score = np.array(data[0]), np.array(data[1])
    # with one class sklearn averages the recall of the classes present; ours is NaN (undefined)
    assume(metric != "balanced_accuracy" or 0 < actual.sum() < actual.size)
    thresholds = np.unique(score)
    extra = (metric,) if metric == "balanced_accuracy" else ()
    expected = _brute(thresholds, _sk_table(actual, score, thresholds, extra)[metric])
    with np.errstate(all="ignore"):
        result = best_threshold(actual, score, metric=metric)
    if expected is None:
        assert not result.feasible
    else:
        assert result.value == pytest.approx(expected[0], abs=1e-12)
        assert result.threshold == expected[1]


@pytest.mark.parametrize(("low", "high", "step"), [(0.0, 1.0, 0.05), (0.1, 0.9, 0.1),
                                                   (0.2, 0.7, 0.03)])
def test_grid_mode_equals_brute_force(cancer: tuple, low: float, high: float,
                                      step: float) -> None:
    actual, score = cancer
    grid = np.round(np.arange(low, high + step / 2, step), 12)
    grid = grid[grid <= high]
    result = best_threshold(actual, score, threshold_range=(low, high), step=step)
    assert result.curve["threshold"].to_list() == grid.tolist()
    value, threshold = _brute(grid, _sk_table(actual, score, grid)["f1_score"])
    assert result.value == pytest.approx(value, abs=1e-12)
    assert result.threshold == threshold
    assert (result.tp, result.fp, result.tn, result.fn) == _confusion(actual, score, threshold)


def test_grid_is_robust_to_float_steps() -> None:
    grid = _thresholds.grid(0.0, 1.0, 0.1)
    assert grid.tolist() == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert _thresholds.grid(0.5, 0.8, 0.1).tolist() == [0.5, 0.6, 0.7, 0.8]
    assert _thresholds.grid(0.0, 0.35, 0.1).tolist() == [0.0, 0.1, 0.2, 0.3]
    result = best_threshold([0, 1, 1], [0.29, 0.3, 0.7], step=0.1)
    assert result.threshold == 0.3 and result.value == 1.0
    assert result.curve["threshold"].to_list() == [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]


def test_range_restricts_exact_mode(cancer: tuple) -> None:
    actual, score = cancer
    result = best_threshold(actual, score, threshold_range=(0.9, 1.0))
    inside = np.unique(score[(score >= 0.9) & (score <= 1.0)])
    value, threshold = _brute(inside, _sk_table(actual, score, inside)["f1_score"])
    assert (result.threshold, result.value) == (threshold, pytest.approx(value, abs=1e-12))
    assert result.curve["threshold"].to_list() == inside.tolist()


@pytest.mark.parametrize(("metric", "constraint"), [
    ("recall", {"precision_at_least": 0.99}),
    ("precision", {"recall_at_least": 0.98}),
    ("f1_score", {"precision_at_least": 0.95, "recall_at_least": 0.95}),
])
def test_constrained_optimum_equals_brute_force(cancer: tuple, metric: str,
                                                constraint: dict) -> None:
    actual, score = cancer
    thresholds = np.unique(score)
    table = _sk_table(actual, score, thresholds)
    feasible = np.ones(thresholds.size, dtype=bool)
    for key, bound in constraint.items():
        feasible &= np.nan_to_num(table[key.removesuffix("_at_least")], nan=0.0) >= bound
    result = best_threshold(actual, score, metric=metric, constraint=constraint)
    value, threshold = _brute(thresholds, table[metric], feasible)
    assert result.feasible and result.reason == ""
    assert result.value == pytest.approx(value, abs=1e-12)
    assert result.threshold == threshold
    assert result.curve["feasible"].to_list() == feasible.tolist()


def test_infeasible_constraint_is_reported() -> None:
    result = best_threshold([0, 1, 1], [0.9, 0.5, 0.4], metric="recall",
                            constraint={"precision_at_least": 0.9})
    assert not result.feasible
    assert math.isnan(result.threshold) and math.isnan(result.value)
    assert "precision >= 0.9" in result.reason and "0.666667" in result.reason
    assert result.curve.height == 3 and not result.curve["feasible"].any()
    empty = best_threshold([0, 1], [0.2, 0.4], threshold_range=(0.5, 0.9))
    assert not empty.feasible and "threshold_range" in empty.reason


@pytest.mark.parametrize(("cost_fp", "cost_fn"), [(1.0, 5.0), (5.0, 1.0), (1.0, 0.0),
                                                  (0.0, 2.0)])
def test_cost_optimum_equals_brute_force(cancer: tuple, cost_fp: float, cost_fn: float) -> None:
    actual, score = cancer
    thresholds = np.unique(score)
    table = _sk_table(actual, score, thresholds)
    cost = (cost_fp * table["fp"] + cost_fn * table["fn"]) / actual.size
    result = best_threshold(actual, score, cost_false_positive=cost_fp,
                            cost_false_negative=cost_fn)
    value, threshold = _brute(thresholds, -cost)
    assert result.metric == "cost"
    assert result.value == pytest.approx(-value, abs=1e-12)
    assert result.threshold == threshold


def test_ties_lowest_or_closest_to_current() -> None:
    actual = [0, 1, 0, 1]
    score = [0.1, 0.2, 0.3, 0.4]
    # accuracy 0.75 at 0.2 and at 0.4
    assert best_threshold(actual, score, metric="accuracy").threshold == 0.2
    assert best_threshold(actual, score, metric="accuracy", current=0.38).threshold == 0.4
    assert best_threshold(actual, score, metric="accuracy", current=0.25).threshold == 0.2


def test_result_is_frozen_with_forms(cancer: tuple) -> None:
    result = best_threshold(*cancer)
    assert isinstance(result, ThresholdResult)
    with pytest.raises(AttributeError):
        result.threshold = 0.5  # type: ignore[misc]
    as_dict = result.to_dict()
    assert "curve" not in as_dict and as_dict["metric"] == "f1_score"
    assert "<table" in result._repr_html_()
    assert {"threshold", "tp", "f1_score"} <= set(result.curve.columns)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"actual": [0, 2], "score": [0.1, 0.2]}, "actual"),
    ({"actual": ["a", "b"], "score": [0.1, 0.2]}, "actual"),
    ({"actual": [], "score": []}, "actual"),
    ({"actual": [[0, 1]], "score": [[0.1, 0.2]]}, "actual"),
    ({"actual": [0, 1], "score": [0.1, math.nan]}, "score"),
    ({"actual": [0, 1], "score": [0.1, math.inf]}, "score"),
    ({"actual": [0, 1], "score": [0.1]}, "score"),
    ({"actual": [0, 1], "score": ["a", "b"]}, "score"),
    ({"metric": "auc"}, "metric"),
    ({"metric": "f1_score", "cost_false_positive": 1.0, "cost_false_negative": 1.0}, "metric"),
    ({"metric": "cost"}, "cost_false_positive"),
    ({"cost_false_positive": -1.0, "cost_false_negative": 1.0}, "cost_false_positive"),
    ({"cost_false_positive": 1.0}, "cost_false_negative"),
    ({"cost_false_positive": 0.0, "cost_false_negative": 0.0}, "cost_false_negative"),
    ({"step": 0.0}, "step"),
    ({"step": -0.1}, "step"),
    ({"step": 1e-12, "threshold_range": (0.0, 1.0)}, "step"),
    ({"threshold_range": (0.9, 0.1)}, "threshold_range"),
    ({"threshold_range": (0.1,)}, "threshold_range"),
    ({"threshold_range": "ab"}, "threshold_range"),
    ({"constraint": {"precision": 0.9}}, "constraint"),
    ({"constraint": {"precision_at_least": 1.5}}, r"constraint\['precision_at_least'\]"),
    ({"constraint": [0.9]}, "constraint"),
    ({"current": math.nan}, "current"),
])
def test_bad_inputs_name_the_parameter(kwargs: dict, param: str) -> None:
    args = {"actual": [0, 1, 1], "score": [0.1, 0.5, 0.7]} | kwargs
    actual, score = args.pop("actual"), args.pop("score")
    with pytest.raises(ValidationError, match=rf"^{param} must be "):
        best_threshold(actual, score, **args)


@pytest.mark.parametrize(("args", "param"), [
    (([0.1, 0.2], [1, -1], [0, 0]), "pos_counts"),
    (([0.1, 0.2], [1.5, 1], [0, 0]), "pos_counts"),
    (([0.1, 0.2], [1, 1], [0]), "neg_counts"),
    (([0.2, 0.1], [1, 1], [0, 0]), "thresholds_or_bin_edges"),
    (([0.1, 0.2, 0.3, 0.4], [1, 1], [0, 0]), "thresholds_or_bin_edges"),
    (([0.1, 0.2], [0, 0], [0, 0]), "pos_counts"),
])
def test_bad_histograms(args: tuple, param: str) -> None:
    with pytest.raises(ValidationError, match=rf"^{param} must be "):
        threshold_curve_from_histogram(*args)


@pytest.mark.parametrize("curve", [pl.DataFrame(), pl.DataFrame({"threshold": [0.1]}),
                                   pl.DataFrame({"threshold": [0.2, 0.1], "tp": [1, 1],
                                                 "fp": [0, 0], "tn": [0, 0], "fn": [0, 0]}),
                                   "curve"])
def test_bad_curves(curve: object) -> None:
    with pytest.raises(ValidationError, match=r"^curve must be "):
        best_threshold_from_curve(curve)  # type: ignore[arg-type]
