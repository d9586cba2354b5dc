"""Multiclass metrics from sufficient statistics against scikit-learn on its shipped data sets."""

from __future__ import annotations

import math
import warnings
from functools import cache
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from sklearn import metrics as skm
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.exceptions import UndefinedMetricWarning as SkUndefined
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from statsmodels.stats.proportion import proportion_confint

from mlmkit.analysis import metrics as mm
from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.catalogue import Kind, select
from mlmkit.exceptions import ValidationError

TOL = 1e-9
EPS = float(np.finfo(np.float64).eps)
LOADERS = {"iris": load_iris, "wine": load_wine, "digits": load_digits}
MODELS = ("logistic", "tree")
CASES = [(d, m) for d in LOADERS for m in MODELS]


@cache
def fitted(dataset: str, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Held-out actuals, predictions, probabilities and class order of one fitted model.

    Iris keeps its string class names, so string labels are covered too.
    """
    bunch = LOADERS[dataset]()
    x, y = bunch.data, bunch.target
    if dataset == "iris":
        y = np.asarray(bunch.target_names)[y]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=0,
                                                        stratify=y)
    est = (make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
           if model == "logistic" else DecisionTreeClassifier(max_depth=4, random_state=0))
    est.fit(x_train, y_train)
    return y_test, est.predict(x_test), est.predict_proba(x_test), est.classes_


def sql_like_counts(y: np.ndarray, pred: np.ndarray) -> pl.DataFrame:
    """What ``GROUP BY actual, predicted`` returns (two segments, so pairs repeat)."""
    half = y.shape[0] // 2
    return pl.concat([mm.confusion_counts(y[:half], pred[:half]),
                      mm.confusion_counts(y[half:], pred[half:])])


@pytest.mark.parametrize(("dataset", "model"), CASES)
def test_confusion_based_metrics_equal_scikit_learn(dataset: str, model: str) -> None:
    y, pred, _, _ = fitted(dataset, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        m = mm.multiclass_metrics(sql_like_counts(y, pred))
    labels = list(m.labels)
    assert labels == sorted(set(y) | set(pred))
    np.testing.assert_array_equal(m.matrix, skm.confusion_matrix(y, pred, labels=labels))
    assert m.accuracy == pytest.approx(skm.accuracy_score(y, pred), abs=TOL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkUndefined)
        p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=labels)
        np.testing.assert_allclose(m.per_class["precision"], p, atol=TOL)
        np.testing.assert_allclose(m.per_class["recall"], r, atol=TOL)
        np.testing.assert_allclose(m.per_class["f1"], f, atol=TOL)
        np.testing.assert_array_equal(m.per_class["support"], s)
        for average in ("macro", "micro", "weighted"):
            p, r, f, _ = skm.precision_recall_fscore_support(y, pred, labels=labels,
                                                             average=average)
            assert m[f"precision_{average}"] == pytest.approx(p, abs=TOL), average
            assert m[f"recall_{average}"] == pytest.approx(r, abs=TOL), average
            assert m[f"f1_{average}"] == pytest.approx(f, abs=TOL), average
    low, high = proportion_confint(int(np.sum(y == pred)), y.shape[0], method="wilson")
    assert (m.accuracy_interval.low, m.accuracy_interval.high) == pytest.approx((low, high),
                                                                                abs=TOL)


@pytest.mark.parametrize(("dataset", "model"), CASES)
def test_log_loss_from_the_sum_equals_scikit_learn(dataset: str, model: str) -> None:
    y, _, proba, classes = fitted(dataset, model)
    p_true = proba[np.arange(y.shape[0]), np.searchsorted(classes, y)]
    total = float(-np.log(np.clip(p_true, EPS, 1 - EPS)).sum())
    ours = mm.multiclass_log_loss_from_sums(y.shape[0], total)
    assert ours == pytest.approx(skm.log_loss(y, proba, labels=classes), abs=TOL)


def ovr_histograms(y: np.ndarray, proba: np.ndarray,
                   classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class histograms on one shared grid: every distinct probability is a bin."""
    grid = np.unique(proba)
    pos = np.zeros((classes.size, grid.size), dtype=np.int64)
    neg = np.zeros_like(pos)
    for k, label in enumerate(classes):
        bins = np.searchsorted(grid, proba[:, k])
        is_k = y == label
        pos[k] = np.bincount(bins[is_k], minlength=grid.size)
        neg[k] = np.bincount(bins[~is_k], minlength=grid.size)
    return pos, neg


@pytest.mark.parametrize(("dataset", "model"), CASES)
def test_ovr_auc_from_histograms_equals_scikit_learn(dataset: str, model: str) -> None:
    y, _, proba, classes = fitted(dataset, model)
    r = mm.ovr_auc_from_histograms(*ovr_histograms(y, proba, classes), labels=list(classes))
    ovr = {"multi_class": "ovr", "labels": classes}
    np.testing.assert_allclose(r.per_class["roc_auc"],
                               skm.roc_auc_score(y, proba, average=None, **ovr), atol=TOL)
    for average in ("macro", "weighted", "micro"):
        expected = skm.roc_auc_score(y, proba, average=average, **ovr)
        assert getattr(r, average) == pytest.approx(expected, abs=TOL), average


def test_coarse_histogram_auc_stays_within_its_bound() -> None:
    y, _, proba, classes = fitted("digits", "logistic")
    index = np.minimum((proba * 20).astype(int), 19)  # 20 uniform bins of p(class)
    pos = np.stack([np.bincount(index[y == c, k], minlength=20) for k, c in enumerate(classes)])
    neg = np.stack([np.bincount(index[y != c, k], minlength=20) for k, c in enumerate(classes)])
    r = mm.ovr_auc_from_histograms(pos, neg)
    exact = skm.roc_auc_score(y, proba, multi_class="ovr", average=None, labels=classes)
    assert np.all(np.abs(r.per_class["roc_auc"].to_numpy() - exact)
                  <= r.per_class["error_bound"].to_numpy() + 1e-12)
    micro = skm.roc_auc_score(y, proba, multi_class="ovr", average="micro", labels=classes)
    assert abs(r.micro - micro) <= r.micro_error_bound


def test_zero_division_gives_zero_with_a_warning_as_scikit_learn() -> None:
    # class 2 is never predicted, class 3 never occurs nor is predicted (given as a label)
    y = np.array([0, 0, 1, 1, 2, 2, 1, 0])
    pred = np.array([0, 1, 1, 1, 0, 1, 0, 0])
    with pytest.warns(UndefinedMetricWarning, match=r"precision of \[2, 3\]"):
        m = mm.multiclass_metrics(mm.confusion_counts(y, pred), labels=[0, 1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkUndefined)
        p, r, f, _ = skm.precision_recall_fscore_support(y, pred, labels=[0, 1, 2, 3])
        macro = skm.f1_score(y, pred, labels=[0, 1, 2, 3], average="macro")
    np.testing.assert_allclose(m.per_class["precision"], p, atol=TOL)
    np.testing.assert_allclose(m.per_class["recall"], r, atol=TOL)
    np.testing.assert_allclose(m.per_class["f1"], f, atol=TOL)
    assert m["f1_macro"] == pytest.approx(macro, abs=TOL)
    assert math.isnan(m.per_class["precision_low"][2])  # no Wilson interval for 0/0


def expand(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = matrix.shape[0]
    actual = np.repeat(np.repeat(np.arange(k), k), matrix.ravel())
    predicted = np.repeat(np.tile(np.arange(k), k), matrix.ravel())
    return actual, predicted


MATRICES = hs.integers(2, 6).flatmap(lambda k: hs.lists(
    hs.integers(0, 40), min_size=k * k, max_size=k * k).map(
        lambda c: np.asarray(c, dtype=np.int64).reshape(k, k))).filter(lambda m: m.sum() > 0)


@settings(max_examples=60, deadline=None)
@given(matrix=MATRICES, data=hs.data())
def test_label_permutation_invariance_and_sums(matrix: np.ndarray, data: Any) -> None:
    k = matrix.shape[0]
    perm = np.asarray(data.draw(hs.permutations(range(k))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        m = mm.multiclass_metrics(matrix, labels=[f"c{i}" for i in range(k)])
        mp = mm.multiclass_metrics(matrix[np.ix_(perm, perm)],
                                   labels=[f"c{i}" for i in perm])
    assert m.per_class["support"].sum() == m.per_class["predicted"].sum() == m.n == matrix.sum()
    assert m["f1_micro"] == pytest.approx(m.accuracy, abs=1e-12)
    for name, value in m.to_dict().items():
        assert mp.to_dict()[name] == pytest.approx(value, abs=1e-12), name
    by_label = mp.per_class.sort("label")
    for column in ("precision", "recall", "f1", "support"):
        np.testing.assert_allclose(by_label[column], m.per_class.sort("label")[column],
                                   atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(matrix=MATRICES)
def test_random_matrices_equal_scikit_learn_on_their_rows(matrix: np.ndarray) -> None:
    actual, predicted = expand(matrix)
    labels = list(range(matrix.shape[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", SkUndefined)
        m = mm.multiclass_metrics(matrix)
        for average in ("macro", "weighted"):
            p, r, f, _ = skm.precision_recall_fscore_support(actual, predicted, labels=labels,
                                                             average=average)
            assert (m[f"precision_{average}"], m[f"recall_{average}"],
                    m[f"f1_{average}"]) == pytest.approx((p, r, f), abs=TOL)


def test_frame_and_matrix_inputs_agree_and_round_trip() -> None:
    y, pred, _, _ = fitted("wine", "tree")
    frame = sql_like_counts(y, pred)
    a = mm.multiclass_metrics(frame)
    b = mm.multiclass_metrics(a.matrix, labels=list(a.labels))
    assert a.to_dict() == b.to_dict()
    back = mm.multiclass_metrics(a.confusion_frame())
    np.testing.assert_array_equal(back.matrix, a.matrix)


def test_bootstrap_interval_is_seeded_and_covers_the_estimate() -> None:
    y, pred, _, _ = fitted("digits", "tree")
    counts = mm.confusion_counts(y, pred)
    for metric in select(kind=Kind.CLASS_COUNT):
        ci = mm.multiclass_bootstrap_interval(counts, metric=metric, seed=3)
        assert ci == mm.multiclass_bootstrap_interval(counts, metric=metric, seed=3)
        assert ci.low < ci.estimate < ci.high
    assert ci.estimate == pytest.approx(skm.f1_score(y, pred, average="weighted"), abs=TOL)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: mm.multiclass_metrics([[1, 2, 3]]), r"confusion must be a KxK count matrix"),
    (lambda: mm.multiclass_metrics([[1, -2], [0, 1]]), r"confusion must be non-negative"),
    (lambda: mm.multiclass_metrics([[1, 2], [0, 1]], labels=["a"]), r"labels must be 2 labels"),
    (lambda: mm.multiclass_metrics([[1, 0], [0, 1]], labels=["a", 1]),
     r"labels must be class labels of one type"),
    (lambda: mm.multiclass_metrics([[1, 0], [0, 1]], labels=[1.5, 2.5]),
     r"labels must be class labels \(all strings or all integers\)"),
    (lambda: mm.multiclass_metrics(mm.confusion_counts([0, 1, 2], [0, 1, 1]), labels=[0, 1]),
     r"labels must be a list containing every label of the counts \(\[2\]\)"),
    (lambda: mm.multiclass_metrics(pl.DataFrame({"a": [1]})), r"confusion must be a frame"),
    (lambda: mm.multiclass_bootstrap_interval([[1, 0], [0, 1]], metric="accuracy"),
     r"metric must be one of f1_macro"),
    (lambda: mm.ovr_auc_from_histograms([[1, 2]], [[1, 2]]), r"pos_counts must be one"),
    (lambda: mm.ovr_auc_from_histograms([[1, 2], [1, 1]], [[1, 2, 3], [1, 1, 1]]),
     r"neg_counts must be the shape of pos_counts"),
    (lambda: mm.multiclass_log_loss_from_sums(3, -1.0), r"sum_neg_log_proba must be"),
])
def test_bad_input_names_the_argument(call: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        call()


def test_an_absent_class_makes_its_auc_undefined_not_the_average() -> None:
    pos = [[0, 1, 2], [0, 0, 0], [2, 1, 0]]
    neg = [[3, 1, 0], [1, 2, 3], [0, 1, 3]]
    with pytest.warns(UndefinedMetricWarning, match=r"roc_auc of \[1\]"):
        r = mm.ovr_auc_from_histograms(pos, neg)
    assert math.isnan(r.per_class["roc_auc"][1])
    assert r.macro == pytest.approx(np.nanmean(r.per_class["roc_auc"].to_numpy()))


def test_a_single_class_window_matches_sklearn():
    # a trend bucket or a segment where every labelled row is one class (sklearn accepts it)
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y = p = ["a"] * 5
    m = mm.multiclass_metrics(mm.confusion_counts(y, p))
    assert m.accuracy == accuracy_score(y, p) == 1.0
    for average in ("macro", "micro", "weighted"):
        expected = precision_recall_fscore_support(y, p, average=average)[:3]
        assert tuple(m[f"{k}_{average}"] for k in ("precision", "recall", "f1")) == expected
