"""Tests of label-free performance estimation (CBPE) against withheld labels and sklearn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from sklearn.datasets import load_breast_cancer
from sklearn.isotonic import IsotonicRegression
from sklearn.naive_bayes import GaussianNB

from mlmkit.analysis import metrics as mm
from mlmkit.analysis.estimation import CBPE, EstimatedMetrics, estimate_performance
from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.exceptions import StateError, ValidationError

METRICS = ["accuracy", "precision", "recall", "f1_score", "specificity", "balanced_accuracy",
           "mcc", "roc_auc"]
N = 20_000


def true_probability(score: np.ndarray) -> np.ndarray:
    return score**2  # a monotone, mis-calibrated model


def window(rng: np.random.Generator, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    score = rng.beta(a, b, N)
    return rng.random(N) < true_probability(score), score


def test_isotonic_calibration_equals_sklearn():
    x, y = load_breast_cancer(return_X_y=True)
    score = GaussianNB().fit(x[::2], y[::2]).predict_proba(x)[:, 1]  # badly calibrated
    # sklearn merges scores closer than 1e-15 before pooling; we keep every distinct value.
    score = np.round(score, 12)
    cbpe = CBPE().fit(y, score)
    iso = IsotonicRegression(out_of_bounds="clip").fit(score, y)
    grid = np.concatenate([np.linspace(0, 1, 501), score])
    np.testing.assert_allclose(cbpe.calibrate(grid), iso.predict(grid), atol=1e-9)


def test_calibrated_scores_give_expected_counts_directly():
    rng = np.random.default_rng(0)
    score = rng.random(2_000)
    cbpe = CBPE().fit(rng.random(2_000) < score, score)
    new = rng.random(500)
    est = cbpe.estimate(new)
    p = cbpe.calibrate(new)
    pred = new >= 0.5
    assert est.expected_tp == pytest.approx(p[pred].sum())
    assert est.expected_tp + est.expected_fp == pytest.approx(pred.sum())
    assert est.expected_fn + est.expected_tn == pytest.approx((~pred).sum())
    assert est.accuracy == pytest.approx((p[pred].sum() + (1 - p[~pred]).sum()) / 500)
    assert est.precision == pytest.approx(p[pred].mean())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shift", [(2, 2), (4, 2), (2, 4)], ids=["stationary", "up", "down"])
def test_estimate_matches_realised_metrics_within_documented_error(seed, shift):
    rng = np.random.default_rng(seed)
    reference_actual, reference_score = window(rng, 2, 2)
    actual, score = window(rng, *shift)
    est = estimate_performance(reference_actual, reference_score, score, threshold=0.5,
                               seed=seed)
    realised = mm.binary_classification_metrics(actual, score >= 0.5, score)
    for name in METRICS:
        tolerance = 3 * est.standard_errors[name] + 0.01  # documented bound
        assert abs(est[name] - realised[name]) <= tolerance, name


def test_estimate_tracks_covariate_shift():
    rng = np.random.default_rng(42)
    reference_actual, reference_score = window(rng, 2, 2)
    cbpe = CBPE().fit(reference_actual, reference_score, threshold=0.5)
    before = mm.binary_classification_metrics(reference_actual, reference_score >= 0.5)
    actual, score = window(rng, 2, 5)  # scores move down, P(actual | score) unchanged
    after = mm.binary_classification_metrics(actual, score >= 0.5)
    est = cbpe.estimate(score)
    for name in ("precision", "recall", "accuracy", "f1_score"):
        assert abs(after[name] - before[name]) > 0.1, name  # the shift matters ...
    for name in ("precision", "recall", "accuracy", "f1_score"):
        assert abs(est[name] - after[name]) < 0.02, name  # ... and the estimate follows it


def test_standard_errors_match_label_noise_when_calibration_is_known():
    rng = np.random.default_rng(5)
    score = rng.random(5_000)
    cbpe = CBPE().fit(rng.random(200_000) < (s := rng.random(200_000)), s)  # near identity
    est = cbpe.estimate(score, n_simulations=300)
    p = cbpe.calibrate(score)
    draws = {name: [] for name in METRICS}
    for _ in range(300):
        y = rng.random(score.size) < p
        out = mm.binary_classification_metrics(y, score >= 0.5, score)
        for name in METRICS:
            draws[name].append(out[name])
    for name in METRICS:
        assert est.standard_errors[name] == pytest.approx(np.std(draws[name]), rel=0.2), name


def test_results_are_seeded_and_accept_polars():
    rng = np.random.default_rng(1)
    ref_y, ref_s = window(rng, 2, 2)
    _, score = window(rng, 2, 2)
    a = estimate_performance(pl.Series(ref_y), pl.Series(ref_s), pl.Series(score), seed=3)
    b = estimate_performance(ref_y.tolist(), ref_s, score, seed=3)
    assert a == b
    assert isinstance(a, EstimatedMetrics)
    assert a.to_dict()["standard_errors"]["roc_auc"] > 0
    assert a["accuracy"] == a.accuracy
    ci = a.interval("f1_score", confidence=0.9)
    assert ci.low < a.f1_score < ci.high
    assert "<table" in a._repr_html_()
    with pytest.raises(KeyError):
        a["nope"]
    with pytest.raises(AttributeError):
        a.accuracy = 0.0  # type: ignore[misc]


def test_large_window_subsamples_auc_simulation():
    rng = np.random.default_rng(9)
    ref_y, ref_s = window(rng, 2, 2)
    score = rng.beta(2, 2, 300_000)
    est = CBPE().fit(ref_y, ref_s).estimate(score, n_simulations=100)
    assert 0 < est.standard_errors["roc_auc"] < 0.005
    assert math.isnan(CBPE().fit(ref_y, ref_s).estimate(score[:10], n_simulations=0)
                      .standard_errors["roc_auc"])


def test_undefined_metrics_warn_and_are_nan():
    cbpe = CBPE().fit([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], threshold=0.5)
    with pytest.warns(UndefinedMetricWarning):
        est = cbpe.estimate([0.1, 0.2, 0.3])  # nothing predicted positive
    assert math.isnan(est.precision)
    assert est.accuracy == pytest.approx(1 - cbpe.calibrate([0.1, 0.2, 0.3]).mean())
    with pytest.warns(UndefinedMetricWarning):
        empty = cbpe.estimate([])
    assert math.isnan(empty.accuracy)
    assert empty.sample_count == 0


def test_defined_window_does_not_warn():
    rng = np.random.default_rng(2)
    ref_y, ref_s = window(rng, 2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate_performance(ref_y, ref_s, rng.random(1_000))


def test_unfitted_raises_state_error():
    with pytest.raises(StateError):
        CBPE().estimate([0.5])
    assert not CBPE().is_fitted


@pytest.mark.parametrize(("call", "name"), [
    (lambda: CBPE().fit([0, 1], [0.2]), "reference_score"),
    (lambda: CBPE().fit([0, 2], [0.2, 0.3]), "reference_actual"),
    (lambda: CBPE().fit([1, 1], [0.2, 0.3]), "reference_actual"),
    (lambda: CBPE().fit([0, 1], [0.2, 0.3], threshold=1.5), "threshold"),
    (lambda: CBPE().fit([0, 1], [0.2, 0.3]).estimate([0.5], n_simulations=-1), "n_simulations"),
    (lambda: estimate_performance([0, 1], [0.2, 0.3], [0.1, 0.5]).interval("no"), "metric"),
])
def test_bad_options_name_the_argument(call, name):
    with pytest.raises(ValidationError) as err:
        call()
    assert str(err.value).startswith(f"{name} must ")


bad_scores = hs.one_of(hs.floats().filter(lambda v: not 0 <= v <= 1), hs.just(float("nan")))


@settings(max_examples=40, deadline=None)
@given(hs.lists(hs.floats(0, 1), min_size=1, max_size=10), bad_scores)
def test_bad_scores_name_the_argument(good, bad):
    cbpe = CBPE().fit([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8])
    with pytest.raises(ValidationError) as err:
        cbpe.estimate([*good, bad])
    assert str(err.value).startswith("score must ")
    with pytest.raises(ValidationError) as err:
        CBPE().fit([0, 1] * len(good) + [0], [*good, *good, bad])
    assert str(err.value).startswith("reference_score must ")
