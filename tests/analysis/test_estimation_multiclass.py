"""Multiclass CBPE against realised performance on seeded data (labels withheld, then compared).

Stated errors, 4 classes, 5,000 rows per analysis chunk, covariate shift up to 1.5 standard
deviations of the inputs (three seeded worlds, `python -m pytest tests/analysis/
test_estimation_multiclass.py`):

- calibrated model (multinomial logistic regression): |estimate - realised| <= 0.02 for
  accuracy and macro F1 (measured max 0.012);
- overconfident model (logits x 3): uncalibrated estimates are off by > 0.08; with per-class
  isotonic calibration on a labelled reference, <= 0.035 (measured max 0.031), and < 1/4 of
  the uncalibrated error in every chunk.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from mlmkit.analysis.estimation import (
    EstimatedMulticlassMetrics,
    MulticlassCBPE,
    estimate_multiclass_from_sums,
    estimate_multiclass_performance,
    expected_calibration_error,
    expected_confusion_sums,
)
from mlmkit.exceptions import StateError, ValidationError

K, D, CHUNK = 4, 3, 5000
SHIFTS = (0.0, 0.5, 1.0, 1.5)


def _draw(rng: np.random.Generator, w: np.ndarray, b: np.ndarray, n: int,
          shift: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, D)) + np.array([shift, -shift, shift / 2])
    logits = x @ w.T + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = np.minimum((rng.random((n, 1)) > p.cumsum(axis=1)).sum(axis=1), K - 1)
    return x, y


def _world(seed: int, temperature: float):
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(K, D)) * 1.5, rng.normal(size=K) * 0.3
    model = LogisticRegression(max_iter=1000).fit(*_draw(rng, w, b, 20_000, 0.0))

    def proba(x: np.ndarray) -> np.ndarray:
        lp = model.predict_log_proba(x) * temperature
        p = np.exp(lp - lp.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    x_ref, y_ref = _draw(rng, w, b, 20_000, 0.0)
    chunks = [_draw(rng, w, b, CHUNK, s) for s in SHIFTS]
    return proba, (proba(x_ref), y_ref), [(proba(x), y) for x, y in chunks]


def _errors(cbpe: MulticlassCBPE, chunks) -> tuple[np.ndarray, list[float]]:
    errors, realised = [], []
    for p, y in chunks:
        est = cbpe.estimate(p, n_simulations=200)
        pred = p.argmax(axis=1)
        acc, f1 = accuracy_score(y, pred), f1_score(y, pred, average="macro")
        errors.append((est.accuracy - acc, est["f1_macro"] - f1))
        realised.append(acc)
    return np.abs(np.array(errors)), realised


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibrated_model_estimates_within_002_under_covariate_shift(seed: int) -> None:
    _, (p_ref, y_ref), chunks = _world(seed, 1.0)
    cbpe = MulticlassCBPE().fit(y_ref, p_ref)
    errors, realised = _errors(cbpe, chunks)
    assert errors.max() <= 0.02, errors
    estimates = [cbpe.estimate(p, n_simulations=0).accuracy for p, _ in chunks]
    if max(realised) - min(realised) > 0.1:  # the shift moves accuracy: the estimate follows
        assert np.corrcoef(estimates, realised)[0, 1] > 0.95


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_miscalibrated_model_needs_the_calibration(seed: int) -> None:
    _, (p_ref, y_ref), chunks = _world(seed, 3.0)
    raw, _ = _errors(MulticlassCBPE(calibration="none").fit(y_ref, p_ref), chunks)
    auto = MulticlassCBPE().fit(y_ref, p_ref)
    calibrated, _ = _errors(auto, chunks)
    assert raw.min() > 0.08, raw
    assert calibrated.max() <= 0.035, calibrated
    assert (calibrated < raw / 4).all()
    reliability = auto.reliability
    assert reliability["calibrated"].all()
    assert (reliability["ece_calibrated"] < reliability["ece_uncalibrated"] / 5).all()


def test_expected_matrix_is_the_mean_realised_confusion_matrix() -> None:
    """Oracle: labels drawn from the probabilities, sklearn's confusion matrix averaged."""
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(K) * 0.7, size=400)
    pred = p.argmax(axis=1)
    est = estimate_multiclass_performance(
        rng.integers(0, K, 200).tolist() + list(range(K)), rng.dirichlet(np.ones(K), 204),
        p, calibration="none", n_simulations=500)
    draws = 3000
    ys = (rng.random((draws, p.shape[0], 1)) > p.cumsum(axis=1)).sum(axis=2).clip(max=K - 1)
    mean = np.bincount((ys * K + pred).ravel(), minlength=K * K).reshape(K, K) / draws
    np.testing.assert_array_equal(  # the vectorised count is sklearn's matrix
        np.bincount(ys[0] * K + pred, minlength=K * K).reshape(K, K),
        confusion_matrix(ys[0], pred, labels=range(K)))
    accs = [accuracy_score(y, pred) for y in ys[:400]]
    f1s = [f1_score(y, pred, average="macro", zero_division=0) for y in ys[:400]]
    assert np.abs(mean - est.expected_matrix).max() < 0.6  # cell SE <= sqrt(100 / 3000)
    assert est.accuracy == pytest.approx(np.trace(mean) / p.shape[0], abs=0.002)
    # standard errors: the spread of the realised metric over label draws
    assert est.standard_errors["accuracy"] == pytest.approx(np.std(accs), rel=0.1)
    assert est.standard_errors["f1_macro"] == pytest.approx(np.std(f1s), rel=0.25)
    assert est["f1_macro"] == pytest.approx(np.mean(f1s), abs=0.01)  # ratio of expectations


def test_sums_from_a_grouped_scan_equal_the_row_path() -> None:
    """The long frame a ``GROUP BY predicted, class`` returns gives the same estimate."""
    rng = np.random.default_rng(4)
    labels = ["cat", "dog", "eel"]
    p = rng.dirichlet(np.ones(3), size=500)
    predicted = [labels[i] for i in p.argmax(axis=1)]
    long = pl.DataFrame({"predicted": np.repeat(predicted, 3),
                         "actual": labels * 500, "p": p.ravel()})
    grouped = long.group_by("predicted", "actual").agg(
        pl.col("p").sum().alias("p_sum"), (pl.col("p") ** 2).sum().alias("p_sq_sum"))
    via_sql_shape = estimate_multiclass_from_sums(grouped.sample(fraction=1.0, shuffle=True,
                                                                 seed=1))
    via_rows = estimate_multiclass_from_sums(expected_confusion_sums(predicted, p,
                                                                     labels=labels))
    assert via_sql_shape.labels == tuple(labels)
    np.testing.assert_allclose(via_sql_shape.expected_matrix, via_rows.expected_matrix,
                               rtol=1e-12)
    assert via_sql_shape.to_dict() == pytest.approx(via_rows.to_dict(), rel=1e-12)
    assert via_sql_shape.n == 500


def test_label_permutation_leaves_the_averages_unchanged() -> None:
    rng = np.random.default_rng(5)
    e = rng.random((4, 4)) * 50
    s = e * rng.random((4, 4)) * 0.9
    order = [2, 0, 3, 1]
    base = estimate_multiclass_from_sums(e, s, labels=list("abcd"), n_simulations=0)
    permuted = estimate_multiclass_from_sums(e[np.ix_(order, order)], s[np.ix_(order, order)],
                                             labels=[list("abcd")[i] for i in order],
                                             n_simulations=0)
    assert permuted.to_dict() == pytest.approx(base.to_dict(), rel=1e-12)
    f1 = dict(zip(base.per_class["label"], base.per_class["f1"], strict=True))
    assert dict(zip(permuted.per_class["label"], permuted.per_class["f1"],
                    strict=True)) == pytest.approx(f1)


def test_result_reads_like_the_labelled_metrics() -> None:
    est = estimate_multiclass_from_sums([[40.0, 5.0], [10.0, 45.0]],
                                        [[33.0, 3.0], [3.0, 41.0]], labels=["a", "b"])
    assert isinstance(est, EstimatedMulticlassMetrics)
    assert est.standard_errors["accuracy"] == pytest.approx(np.sqrt(11) / 100, rel=0.08)
    assert est.confusion_frame().height == 4
    assert "Estimated multiclass" in est._repr_html_()
    with pytest.raises(ValidationError, match="name must be one of"):
        est["n"]
    with pytest.raises(ValidationError, match="metric must be one of"):
        est.interval("auc")


def test_expected_calibration_error_matches_its_definition() -> None:
    rng = np.random.default_rng(6)
    p = rng.random(1000)
    y = rng.random(1000) < p
    order = np.argsort(p)
    manual = sum(abs(p[order[i:i + 100]].mean() - y[order[i:i + 100]].mean()) * 0.1
                 for i in range(0, 1000, 100))
    assert expected_calibration_error(y, p) == pytest.approx(manual, abs=1e-12)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: MulticlassCBPE().fit([0, 1, 1], [[0.5, 0.6], [0.5, 0.5], [0.2, 0.8]]),
     r"reference_probabilities \(row 0\) must be a row summing to 1"),
    (lambda: MulticlassCBPE().fit([0, 2, 1], [[0.5, 0.5]] * 3),
     r"reference_actual \(row 1\) must be one of the labels \[0, 1\]"),
    (lambda: MulticlassCBPE().fit([0, 0, 0], [[0.5, 0.5]] * 3),
     "reference_actual must be rows of every class"),
    (lambda: MulticlassCBPE(calibration="platt"), "calibration must be one of"),
    (lambda: expected_confusion_sums(["a"], [[1.5, -0.5]], labels=["a", "b"]),
     r"probabilities \(row 0\) must be probabilities in \[0, 1\]"),
    (lambda: estimate_multiclass_from_sums([[1.0, 2.0], [3.0, 4.0]], [[2.0, 0], [0, 0]]),
     "sums must be finite sums"),
    (lambda: estimate_multiclass_from_sums(pl.DataFrame({"predicted": ["a"]})),
     "sums must be a frame with columns"),
])
def test_bad_input_names_the_argument(call, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        call()


def test_unfitted_estimator_says_so() -> None:
    with pytest.raises(StateError, match="not fitted"):
        MulticlassCBPE().estimate([[0.5, 0.5]])
