"""Oracle tests of mlmkit.analysis.metrics against scikit-learn and statsmodels."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.proportion import proportion_confint

from mlmkit.analysis import metrics as mm
from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.exceptions import ValidationError

TOL = 1e-9
FAST = settings(max_examples=60, deadline=None)
COUNT_NAMES = ["accuracy", "precision", "recall", "f1_score", "specificity",
               "balanced_accuracy", "mcc"]
SCORE_NAMES = ["roc_auc", "pr_auc", "brier_score", "log_loss"]


def sklearn_oracle(y: np.ndarray, p: np.ndarray, s: np.ndarray | None) -> dict[str, float]:
    """Every metric computed by scikit-learn (NaN where ours is undefined)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=int)
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
    out = {
        "accuracy": skm.accuracy_score(y, p),
        "precision": skm.precision_score(y, p, zero_division=np.nan),
        "recall": skm.recall_score(y, p, zero_division=np.nan),
        "f1_score": skm.f1_score(y, p, zero_division=np.nan),
        "specificity": skm.recall_score(1 - y, 1 - p, zero_division=np.nan),
        "balanced_accuracy": np.nan,
        "mcc": np.nan,
        "tp": tp, "fp": fp, "tn": tn, "fn": fn, "sample_count": len(y),
    }
    both_classes = 0 < y.sum() < len(y)
    if both_classes:
        out["balanced_accuracy"] = skm.balanced_accuracy_score(y, p)
    if min(tp + fp, tp + fn, tn + fp, tn + fn) > 0:
        out["mcc"] = skm.matthews_corrcoef(y, p)
    if s is not None:
        out["brier_score"] = skm.brier_score_loss(y, s)
        out["log_loss"] = skm.log_loss(y, s, labels=[0, 1])
        out["roc_auc"] = skm.roc_auc_score(y, s) if both_classes else np.nan
        out["pr_auc"] = skm.average_precision_score(y, s) if y.sum() else np.nan
    return out


def assert_matches(ours: dict, oracle: dict) -> None:
    for key, expected in oracle.items():
        got = ours[key]
        if isinstance(expected, float) and math.isnan(expected):
            assert math.isnan(got), key
        else:
            assert got == pytest.approx(expected, abs=TOL), key


def _fitted(x: np.ndarray, y: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    est = (make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.05))
           if model == "logistic" else GaussianNB())
    est.fit(x, y)
    return est.predict(x), est.predict_proba(x)[:, 1]


@pytest.fixture(scope="module", params=[
    ("breast_cancer", "logistic"), ("breast_cancer", "naive_bayes"),
    ("digits_8", "logistic"), ("digits_8", "naive_bayes"),
], ids=lambda p: "-".join(p))
def real(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data, model = request.param
    if data == "breast_cancer":
        x, y = load_breast_cancer(return_X_y=True)
    else:
        x, target = load_digits(return_X_y=True)
        y = (target == 8).astype(int)
    predicted, score = _fitted(x, y, model)
    return y, predicted, score


# --- oracle agreement on real data ------------------------------------------------------------


def test_real_data_equals_sklearn(real):
    y, p, s = real
    ours = mm.binary_classification_metrics(y, p, s)
    assert set(ours) == set(COUNT_NAMES + SCORE_NAMES + ["tp", "fp", "tn", "fn", "sample_count"])
    assert_matches(ours, sklearn_oracle(y, p, s))


def test_real_data_standalone_functions(real):
    y, _, s = real
    assert mm.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=TOL)
    assert mm.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=TOL)
    assert mm.brier_score(y, s) == pytest.approx(skm.brier_score_loss(y, s), abs=TOL)
    assert mm.log_loss(y, s) == pytest.approx(skm.log_loss(y, s), abs=TOL)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("bins", [5, 10, 23])
def test_calibration_equals_sklearn(real, strategy, bins):
    y, _, s = real
    frame = mm.calibration(y, s, bins=bins, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, s, n_bins=bins, strategy=strategy)
    np.testing.assert_allclose(frame["observed_rate"].to_numpy(), prob_true, atol=TOL)
    np.testing.assert_allclose(frame["mean_score"].to_numpy(), prob_pred, atol=TOL)
    assert frame["count"].sum() == len(y)
    # ECE: count-weighted gap, restated from sklearn's bins.
    expected = float(np.sum(frame["count"].to_numpy() * np.abs(prob_true - prob_pred)) / len(y))
    assert mm.expected_calibration_error(y, s, bins=bins, strategy=strategy) == pytest.approx(
        expected, abs=TOL)


def test_calibration_from_histograms_equals_rows(real):
    y, _, s = real
    index = np.minimum(np.searchsorted(np.linspace(0, 1, 11)[1:-1], s), 9)
    counts = np.bincount(index, minlength=10)
    positives = np.bincount(index, weights=y, minlength=10).astype(int)
    sums = np.bincount(index, weights=s, minlength=10)
    from_hist = mm.calibration_from_histograms(counts, positives, sums)
    assert_frame_close(from_hist, mm.calibration(y, s))
    assert mm.expected_calibration_error_from_histograms(counts, positives, sums) == (
        pytest.approx(mm.expected_calibration_error(y, s), abs=TOL))


def assert_frame_close(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns
    for column in a.columns:
        np.testing.assert_allclose(a[column].to_numpy(), b[column].to_numpy(), atol=TOL)


# --- the contract test across every metric ---------------------------------------------------

ALL_NAMES = COUNT_NAMES + SCORE_NAMES + ["tp", "fp", "tn", "fn"]


@pytest.fixture(scope="module")
def seeded() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    s = np.round(rng.beta(2, 3, 3_000), 2)  # rounded: many ties
    y = (rng.random(3_000) < s).astype(int)
    return y, (s >= 0.4).astype(int), s


CONVERTERS = {
    "numpy_int": lambda a: np.asarray(a),
    "numpy_bool_or_float": lambda a: (np.asarray(a).astype(bool) if a.dtype.kind == "i"
                                      else np.asarray(a, dtype=np.float64)),
    "list": lambda a: np.asarray(a).tolist(),
    "polars": lambda a: pl.Series(a),
    "pandas": lambda a: pd.Series(a),
}


@pytest.mark.parametrize("name", ALL_NAMES)
def test_metric_contract(seeded, name):
    y, p, s = seeded
    reference = mm.binary_classification_metrics(y, p, s)[name]
    # oracle agreement
    assert reference == pytest.approx(sklearn_oracle(y, p, s)[name], abs=TOL)
    # order invariance
    order = np.random.default_rng(1).permutation(len(y))
    assert mm.binary_classification_metrics(y[order], p[order], s[order])[name] == (
        pytest.approx(reference, abs=TOL))
    # every input type gives the same number
    for convert in CONVERTERS.values():
        value = mm.binary_classification_metrics(convert(y), convert(p), convert(s))[name]
        assert value == pytest.approx(reference, abs=TOL)
    # standalone functions and the counts / histogram forms agree with the rows form
    if name in COUNT_NAMES:
        counts = {k: mm.binary_classification_metrics(y, p)[k] for k in ("tp", "fp", "tn", "fn")}
        assert mm.metrics_from_counts(**counts)[name] == pytest.approx(reference, abs=TOL)
        assert mm.Metrics.from_counts(**counts)[name] == pytest.approx(reference, abs=TOL)
    standalone = {"roc_auc": mm.roc_auc, "pr_auc": mm.average_precision,
                  "brier_score": mm.brier_score, "log_loss": mm.log_loss}
    if name in standalone:
        assert standalone[name](pl.Series(y), list(s)) == pytest.approx(reference, abs=TOL)


# --- hypothesis: random inputs ---------------------------------------------------------------


@hs.composite
def rows(draw: hs.DrawFn, min_size: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(hs.integers(min_size, 120))
    y = np.array(draw(hs.lists(hs.integers(0, 1), min_size=n, max_size=n)))
    p = np.array(draw(hs.lists(hs.integers(0, 1), min_size=n, max_size=n)))
    grid = draw(hs.sampled_from([None, 3, 10]))
    if grid is None:
        values = hs.floats(0, 1, allow_nan=False)
        s = np.array(draw(hs.lists(values, min_size=n, max_size=n)), dtype=np.float64)
    else:
        s = np.array(draw(hs.lists(hs.integers(0, grid), min_size=n, max_size=n))) / grid
    return y, p, s


@settings(max_examples=40, deadline=None)
@given(rows())
def test_random_inputs_equal_sklearn(data):
    y, p, s = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        ours = mm.binary_classification_metrics(y, p, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = sklearn_oracle(y, p, s)
    assert_matches(ours, oracle)


@settings(max_examples=40, deadline=None)
@given(rows(min_size=2))
def test_histogram_forms_are_exact_with_one_bin_per_score(data):
    y, _, s = data
    if not 0 < y.sum() < len(y):
        return
    values = np.unique(s)
    index = np.searchsorted(values, s)
    pos = np.bincount(index, weights=y, minlength=len(values)).astype(int)
    neg = np.bincount(index, minlength=len(values)) - pos
    assert mm.auc_from_histograms(pos, neg) == pytest.approx(skm.roc_auc_score(y, s), abs=TOL)
    assert mm.average_precision_from_histograms(pos, neg) == pytest.approx(
        skm.average_precision_score(y, s), abs=TOL)
    eps = np.finfo(float).eps
    c = np.clip(s, eps, 1 - eps)
    assert mm.brier_score_from_sums(len(y), int(y.sum()), float(s[y == 1].sum()),
                                    float((s**2).sum())) == pytest.approx(
        skm.brier_score_loss(y, s), abs=TOL)
    assert mm.log_loss_from_sums(len(y), float(np.log(c[y == 1]).sum()),
                                 float(np.log1p(-c[y == 0]).sum())) == pytest.approx(
        skm.log_loss(y, s), abs=TOL)


# --- histogram AUC on a large window ---------------------------------------------------------


def test_histogram_auc_error_bound_on_a_million_points():
    rng = np.random.default_rng(3)
    n = 1_000_000
    s = rng.beta(2, 5, n)
    y = rng.random(n) < s
    bins = 10_000
    index = np.minimum((s * bins).astype(int), bins - 1)
    pos = np.bincount(index[y], minlength=bins)
    neg = np.bincount(index[~y], minlength=bins)
    exact = mm.roc_auc(y, s)
    approx = mm.auc_from_histograms(pos, neg)
    bound = mm.auc_histogram_error_bound(pos, neg)
    assert abs(approx - exact) <= bound
    assert bound <= 1e-4  # documented: <= 0.5 * max density / bins
    assert abs(approx - exact) <= 1e-5  # realised error is far smaller


def test_average_precision_from_histograms_equals_sklearn_on_binned_scores(real):
    y, _, s = real
    bins = 50
    index = np.minimum((s * bins).astype(int), bins - 1)
    pos = np.bincount(index[y == 1], minlength=bins)
    neg = np.bincount(index[y == 0], minlength=bins)
    assert mm.average_precision_from_histograms(pos, neg) == pytest.approx(
        skm.average_precision_score(y, index), abs=TOL)
    assert mm.auc_from_histograms(pos, neg) == pytest.approx(skm.roc_auc_score(y, index), abs=TOL)


# --- intervals -------------------------------------------------------------------------------


@FAST
@given(hs.integers(1, 10_000).flatmap(lambda n: hs.tuples(hs.integers(0, n), hs.just(n))),
       hs.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_equals_statsmodels(counts, confidence):
    successes, n = counts
    ci = mm.wilson_interval(successes, n, confidence=confidence)
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert ci.low == pytest.approx(low, abs=TOL)
    assert ci.high == pytest.approx(high, abs=TOL)
    assert ci.estimate == successes / n
    assert ci.method == "wilson"


def test_metrics_intervals_use_wilson_and_bootstrap(seeded):
    y, p, s = seeded
    out = mm.binary_classification_metrics(y, p, s, ci=True, n_resamples=200)
    cis = out["confidence_intervals"]
    assert set(cis) == {"accuracy", "precision", "recall", "specificity", "f1_score",
                        "balanced_accuracy", "mcc", "roc_auc", "pr_auc"}
    low, high = proportion_confint(out["tp"], out["tp"] + out["fp"], method="wilson")
    assert cis["precision"]["low"] == pytest.approx(low, abs=TOL)
    assert cis["precision"]["high"] == pytest.approx(high, abs=TOL)
    for name, ci in cis.items():
        assert ci["low"] <= out[name] <= ci["high"], name
    again = mm.binary_classification_metrics(y, p, s, ci=True, n_resamples=200)
    assert again["confidence_intervals"] == cis


@pytest.mark.parametrize("metric", ["f1_score", "mcc", "roc_auc", "pr_auc"])
def test_bootstrap_is_seeded(seeded, metric):
    y, p, s = seeded
    second = s if metric in ("roc_auc", "pr_auc") else p
    a = mm.bootstrap_interval(y, second, metric=metric, n_resamples=300, seed=5)
    b = mm.bootstrap_interval(y, second, metric=metric, n_resamples=300, seed=5)
    c = mm.bootstrap_interval(y, second, metric=metric, n_resamples=300, seed=6)
    assert a == b
    assert a != c
    assert a.low < a.estimate < a.high


def test_bootstrap_f1_covers_truth_at_nominal_rate():
    rng = np.random.default_rng(11)
    cells = np.array([0.30, 0.10, 0.45, 0.15])  # tp, fp, tn, fn shares of the population
    truth = 2 * cells[0] / (2 * cells[0] + cells[1] + cells[3])
    covered = 0
    repeats = 400
    for seed in range(repeats):
        kind = rng.choice(4, size=300, p=cells)
        y = (kind == 0) | (kind == 3)
        p = (kind == 0) | (kind == 1)
        ci = mm.bootstrap_interval(y, p, metric="f1_score", n_resamples=400, seed=seed)
        covered += ci.low <= truth <= ci.high
    assert 0.91 <= covered / repeats <= 0.98


def test_bootstrap_auc_covers_truth_at_nominal_rate():
    from scipy.stats import norm

    rng = np.random.default_rng(12)
    truth = norm.cdf(1 / math.sqrt(2))  # AUC of N(1, 1) vs N(0, 1), unchanged by the sigmoid
    covered = 0
    repeats = 150
    for seed in range(repeats):
        y = rng.random(300) < 0.4
        s = 1 / (1 + np.exp(-(rng.normal(size=300) + y)))
        ci = mm.bootstrap_interval(y, s, metric="roc_auc", n_resamples=200, seed=seed)
        covered += ci.low <= truth <= ci.high
    assert 0.89 <= covered / repeats <= 0.99


def test_bootstrap_bins_large_score_sets(seeded):
    rng = np.random.default_rng(2)
    s = rng.random(50_000)
    y = rng.random(50_000) < s
    binned = mm.bootstrap_interval(y, s, metric="roc_auc", n_resamples=50, max_bins=1_000)
    assert binned.estimate == pytest.approx(skm.roc_auc_score(y, s), abs=TOL)
    assert binned.low < binned.estimate < binned.high


# --- undefined metrics -----------------------------------------------------------------------


def test_no_positives_gives_nan_and_one_warning():
    with pytest.warns(UndefinedMetricWarning) as record:
        out = mm.binary_classification_metrics([0, 0, 0], [0, 1, 0], [0.1, 0.6, 0.2])
    assert len(record) == 2  # one for the count metrics, one for the score metrics
    for name in ("recall", "balanced_accuracy", "mcc", "roc_auc", "pr_auc"):
        assert math.isnan(out[name]), name
    assert out["accuracy"] == pytest.approx(2 / 3)
    assert out["precision"] == 0.0
    assert out["f1_score"] == 0.0
    assert out["specificity"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("call", [
    lambda: mm.metrics_from_counts(0, 0, 0, 0),
    lambda: mm.binary_classification_metrics([], []),
    lambda: mm.roc_auc([1, 1], [0.2, 0.3]),
    lambda: mm.average_precision([0, 0], [0.2, 0.3]),
    lambda: mm.brier_score([], []),
    lambda: mm.log_loss([], []),
    lambda: mm.auc_from_histograms([3, 2], [0, 0]),
    lambda: mm.average_precision_from_histograms([0, 0], [1, 2]),
    lambda: mm.wilson_interval(0, 0),
    lambda: mm.brier_score_from_sums(0, 0, 0.0, 0.0),
    lambda: mm.log_loss_from_sums(0, 0.0, 0.0),
    lambda: mm.expected_calibration_error([], []),
])
def test_undefined_returns_nan_with_warning(call):
    with pytest.warns(UndefinedMetricWarning):
        result = call()
    values = result.values() if isinstance(result, dict) else [getattr(result, "low", result)]
    assert any(isinstance(v, float) and math.isnan(v) for v in values)


def test_defined_inputs_do_not_warn(seeded):
    y, p, s = seeded
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mm.binary_classification_metrics(y, p, s, ci=True, n_resamples=50)


# --- result type -----------------------------------------------------------------------------


def test_metrics_result_object():
    m = mm.Metrics.from_counts(40, 10, 45, 5, roc_auc=0.9, ci=True)
    assert m["accuracy"] == 0.85
    assert m["confusion_matrix"] == {"tp": 40, "fp": 10, "tn": 45, "fn": 5}
    assert m.to_dict()["roc_auc"] == 0.9
    assert "brier_score" not in m.to_dict()
    assert "<table" in m._repr_html_()
    assert m.confidence_intervals["accuracy"] == mm.wilson_interval(85, 100)
    with pytest.raises(KeyError):
        m["brier_score"]
    with pytest.raises(AttributeError):
        m.accuracy = 1.0  # type: ignore[misc]


# --- bad input -------------------------------------------------------------------------------


def _message_names(err: pytest.ExceptionInfo, name: str) -> None:
    assert str(err.value).startswith(f"{name} must ")


@FAST
@given(hs.integers(1, 30), hs.integers(1, 30))
def test_length_mismatch_names_the_argument(n, m):
    if n == m:
        m += 1
    with pytest.raises(ValidationError) as err:
        mm.binary_classification_metrics([0] * n, [1] * m)
    _message_names(err, "predicted")
    with pytest.raises(ValidationError) as err:
        mm.binary_classification_metrics([0] * n, [1] * n, [0.5] * m)
    _message_names(err, "score")


bad_labels = hs.one_of(hs.integers().filter(lambda v: v not in (0, 1)),
                       hs.floats().filter(lambda v: v not in (0.0, 1.0)),
                       hs.sampled_from(["yes", "1", None]))


@FAST
@given(hs.lists(hs.integers(0, 1), min_size=1, max_size=20), bad_labels, hs.data())
def test_non_binary_labels_name_the_argument(good, bad, data):
    position = data.draw(hs.integers(0, len(good)))
    values = [*good[:position], bad, *good[position:]]
    ok = [0] * len(values)
    for name, call in [("actual", lambda: mm.binary_classification_metrics(values, ok)),
                       ("predicted", lambda: mm.binary_classification_metrics(ok, values)),
                       ("actual", lambda: mm.roc_auc(values, [0.5] * len(values)))]:
        with pytest.raises(ValidationError) as err:
            call()
        _message_names(err, name)


bad_scores = hs.one_of(hs.floats().filter(lambda v: not 0 <= v <= 1), hs.just(float("nan")))


@FAST
@given(hs.lists(hs.floats(0, 1), min_size=1, max_size=20), bad_scores, hs.data())
def test_bad_scores_name_the_argument(good, bad, data):
    position = data.draw(hs.integers(0, len(good)))
    values = [*good[:position], bad, *good[position:]]
    y = [position % 2] * len(values)
    for call in (lambda: mm.binary_classification_metrics(y, y, values),
                 lambda: mm.roc_auc(y, values), lambda: mm.log_loss(y, values),
                 lambda: mm.calibration(y, values)):
        with pytest.raises(ValidationError) as err:
            call()
        _message_names(err, "score")
    with pytest.raises(ValidationError) as err:
        mm.bootstrap_interval(y, values, metric="roc_auc")
    _message_names(err, "predicted_or_score")


@pytest.mark.parametrize(("call", "name"), [
    (lambda: mm.metrics_from_counts(-1, 0, 0, 0), "tp"),
    (lambda: mm.metrics_from_counts(1, 0.5, 0, 0), "fp"),
    (lambda: mm.auc_from_histograms([1, 2], [1]), "neg_counts"),
    (lambda: mm.auc_from_histograms([1, -2], [1, 1]), "pos_counts"),
    (lambda: mm.wilson_interval(5, 3), "successes"),
    (lambda: mm.wilson_interval(1, 3, confidence=1.0), "confidence"),
    (lambda: mm.bootstrap_interval([1], [1], metric="nope"), "metric"),
    (lambda: mm.bootstrap_interval([1], [1], n_resamples=0), "n_resamples"),
    (lambda: mm.calibration([1], [0.5], bins=0), "bins"),
    (lambda: mm.calibration([1], [0.5], strategy="kmeans"), "strategy"),
    (lambda: mm.calibration_from_histograms([1], [2], [0.5]), "positives"),
    (lambda: mm.brier_score_from_sums(3, 4, 0.0, 0.0), "positives"),
    (lambda: mm.log_loss_from_sums(3, 0.5, 0.0), "sum_log_score_positive"),
    (lambda: mm.binary_classification_metrics([[0, 1]], [[0, 1]]), "actual"),
])
def test_bad_options_name_the_argument(call, name):
    with pytest.raises(ValidationError) as err:
        call()
    _message_names(err, name)
