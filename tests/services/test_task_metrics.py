"""get_current_metrics per task against scikit-learn / numpy, through a real DuckDB workspace.

Predictions are logged with ``track_batch`` and labelled later with ``record_actuals`` (delayed
labels); every metric then comes from the engine's SQL aggregates and is compared with
scikit-learn on the same rows (1e-9), the histogram-based ones within their stated bound.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from sklearn import datasets
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (
    classification_report,
    confusion_matrix,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.services.monitor.task_results import (
    MulticlassWindowMetrics,
    RegressionWindowMetrics,
    ScoreWindowMetrics,
)
from mlmkit.values import utcnow

TOL = 1e-9


def _stamps(n: int) -> list:
    now = utcnow()
    return [now - timedelta(seconds=1 + i) for i in range(n)]


def _log(ws, model: str, version: str, frame: dict, actuals) -> None:
    n = len(actuals)
    ids = [f"{version}-{i}" for i in range(n)]
    ws.log.track_batch(pl.DataFrame({"model_name": model, "version": version, **frame,
                                     "prediction_id": ids, "timestamp": _stamps(n)}))
    labelled = ws.log.record_actuals(ids, list(actuals), model_name=model, version=version)
    assert labelled == n


def _fit_classifiers(loader):
    x, y = loader(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.5, random_state=0, stratify=y)
    out = []
    for est in (LogisticRegression(max_iter=5000), DecisionTreeClassifier(random_state=0)):
        est.fit(x_tr, y_tr)
        out.append((est.predict(x_te), est.predict_proba(x_te), est.classes_))
    return y_te, out


@pytest.mark.parametrize("loader", [datasets.load_iris, datasets.load_wine,
                                    datasets.load_digits])
def test_multiclass_matches_sklearn(tmp_path, loader):
    y, fitted = _fit_classifiers(loader)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        for i, (pred, proba, classes) in enumerate(fitted):
            version = f"{i + 1}.0.0"
            ws.registry.register(ModelMetadata("mc", "supervised", version, task="multiclass"))
            probs = [{str(c): float(p) for c, p in zip(classes, row, strict=True)}
                     for row in proba]
            _log(ws, "mc", version, {"prediction": pred.tolist(), "probabilities": probs},
                 y.tolist())
        for i, (pred, proba, classes) in enumerate(fitted):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                m = ws.monitor.get_current_metrics("mc", f"{i + 1}.0.0", "1h")
            assert isinstance(m, MulticlassWindowMetrics)
            labels = classes.tolist()
            assert list(m.labels) == labels and m.sample_count == m.labelled_count == y.size
            np.testing.assert_array_equal(m.confusion_matrix,
                                          confusion_matrix(y, pred, labels=labels))
            report = classification_report(y, pred, labels=labels, output_dict=True,
                                           zero_division=0)
            assert m["accuracy"] == pytest.approx(report["accuracy"], abs=TOL)
            for avg in ("macro", "weighted"):
                row = report[f"{avg} avg"]
                for stat, key in (("precision", "precision"), ("recall", "recall"),
                                  ("f1", "f1-score")):
                    assert m[f"{stat}_{avg}"] == pytest.approx(row[key], abs=TOL)
            p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels,
                                                         zero_division=0)
            per = m.per_class
            np.testing.assert_allclose(per["precision"].to_numpy(), p, atol=TOL)
            np.testing.assert_allclose(per["recall"].to_numpy(), r, atol=TOL)
            np.testing.assert_allclose(per["f1"].to_numpy(), f, atol=TOL)
            assert per["support"].to_list() == s.tolist()
            assert m["f1_micro"] == pytest.approx(report["accuracy"], abs=TOL)
            assert m.log_loss == pytest.approx(log_loss(y, proba, labels=labels), abs=TOL)
            auc = m.roc_auc
            assert auc is not None
            exact = roc_auc_score(y, proba, multi_class="ovr", labels=labels)
            bound = float(auc.per_class["error_bound"].max())
            assert abs(auc.macro - exact) <= bound + 1e-12
            weighted = roc_auc_score(y, proba, multi_class="ovr", labels=labels,
                                     average="weighted")
            assert abs(auc.weighted - weighted) <= bound + 1e-12
            assert m.confidence_intervals["accuracy"].low < m.accuracy


def test_multiclass_text_labels_missing_classes_and_unlabelled_rows(tmp_path):
    """A probability list without the actual class counts p = 0 (clipped), as scikit-learn."""
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(ModelMetadata("mc", "supervised", "1.0.0", task="multiclass"))
        preds = ["cat", "dog", "cat", "bird"]
        probs = [{"cat": 0.7, "dog": 0.3}, {"dog": 1.0}, {"cat": 0.6, "bird": 0.4},
                 {"bird": 0.5, "dog": 0.5}]
        ws.log.track_batch(pl.DataFrame({
            "model_name": "mc", "version": "1.0.0", "prediction": preds,
            "probabilities": [[{"label": k, "p": v} for k, v in p.items()] for p in probs],
            "prediction_id": list("abcd"), "timestamp": _stamps(4)}))
        ws.log.record_actuals(list("abc"), ["cat", "cat", "bird"], model_name="mc")
        m = ws.monitor.get_current_metrics("mc", "1.0.0", "1h", min_labels=1)
    assert m.sample_count == 4 and m.labelled_count == 3 and m.probability_count == 3
    y = ["cat", "cat", "bird"]
    full = np.array([[0.0, 0.7, 0.3], [0.0, 0.0, 1.0], [0.4, 0.6, 0.0]])  # bird, cat, dog
    assert m.labels == ("bird", "cat", "dog")
    assert m.log_loss == pytest.approx(log_loss(y, full, labels=["bird", "cat", "dog"]),
                                       abs=TOL)
    np.testing.assert_array_equal(m.confusion_matrix, confusion_matrix(
        y, preds[:3], labels=["bird", "cat", "dog"]))


def _fit_regressors():
    x, y = datasets.load_diabetes(return_X_y=True)
    xs, ys = datasets.make_regression(n_samples=1500, n_features=8, noise=15.0,
                                      random_state=0)
    out = []
    for (a, b), est in (((x, y), LinearRegression()),
                        ((x, y), DecisionTreeRegressor(random_state=0)),
                        ((xs, ys), LinearRegression())):
        x_tr, x_te, y_tr, y_te = train_test_split(a, b, test_size=0.5, random_state=0)
        out.append((y_te, est.fit(x_tr, y_tr).predict(x_te)))
    return out


def test_regression_matches_sklearn(tmp_path):
    fitted = _fit_regressors()
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        for i, (y, pred) in enumerate(fitted):
            version = f"{i + 1}.0.0"
            ws.registry.register(ModelMetadata("rg", "supervised", version, task="regression"))
            _log(ws, "rg", version, {"prediction": pred.tolist()}, y.tolist())
        for i, (y, pred) in enumerate(fitted):
            m = ws.monitor.get_current_metrics("rg", f"{i + 1}.0.0", "1h", bins=2000)
            assert isinstance(m, RegressionWindowMetrics)
            assert m.labelled_count == y.size and m.mape_excluded == 0
            assert m["mae"] == pytest.approx(mean_absolute_error(y, pred), rel=TOL)
            assert m["rmse"] == pytest.approx(root_mean_squared_error(y, pred), rel=TOL)
            assert m["mape"] == pytest.approx(mean_absolute_percentage_error(y, pred), rel=TOL)
            assert m["r2"] == pytest.approx(r2_score(y, pred), rel=TOL, abs=TOL)
            assert m["bias"] == pytest.approx(float(np.mean(pred - y)), rel=TOL, abs=TOL)
            e = pred - y
            for q, value, low, high in m.residual_quantiles.iter_rows():
                exact = np.quantile(e, q)
                assert low - 1e-9 <= exact <= high + 1e-9
                assert abs(value - exact) <= high - low + 1e-9  # the stated bound
            assert m.confidence_intervals["mae"].low < m.mae < m.confidence_intervals["mae"].high


def test_regression_zero_actuals_are_left_out_of_mape_and_said_so(tmp_path):
    y = np.array([0.0, 2.0, 4.0, 0.0, 5.0])
    pred = np.array([1.0, 2.5, 3.0, -1.0, 5.5])
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(ModelMetadata("rg", "supervised", "1.0.0", task="regression"))
        _log(ws, "rg", "1.0.0", {"prediction": pred.tolist()}, y.tolist())
        with pytest.warns(UndefinedMetricWarning, match="zero actual"):
            m = ws.monitor.get_current_metrics("rg", "1.0.0", "1h", min_labels=1)
    keep = y != 0
    assert m.mape_excluded == 2 and "2 row(s) left out" in str(m["mape_note"])
    assert m.mape == pytest.approx(mean_absolute_percentage_error(y[keep], pred[keep]),
                                   rel=TOL)
    assert m.mae == pytest.approx(mean_absolute_error(y, pred), rel=TOL)


def test_score_only_summary_and_flag_rate(tmp_path):
    rng = np.random.default_rng(7)
    scores = rng.gamma(2.0, 3.0, 3000) - 4.0
    flags = scores > 10.0
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(ModelMetadata("an", "unsupervised", "1.0.0", task="score"))
        ws.log.track_batch(pl.DataFrame({"model_name": "an", "version": "1.0.0",
                                         "score": scores, "prediction": flags,
                                         "timestamp": _stamps(scores.size)}))
        m = ws.monitor.get_current_metrics("an", "1.0.0", "1h", bins=1000)
    assert isinstance(m, ScoreWindowMetrics)
    assert m.scored_count == m.sample_count == scores.size and not m.insufficient
    assert m.flag_rate == flags.mean() and m["flagged"] == int(flags.sum())
    summary = m.summary
    assert summary is not None and summary.exact_moments
    assert summary.mean == pytest.approx(scores.mean(), rel=TOL)
    assert summary.std == pytest.approx(scores.std(ddof=1), rel=TOL)
    width = (scores.max() - scores.min()) / 1000
    for q, value, low, high in summary.quantiles.iter_rows():
        exact = np.quantile(scores, q)
        assert low - 1e-12 <= exact <= high + 1e-12
        assert abs(value - exact) <= high - low + 1e-12  # the stated bound
    assert m["score_q50"] == pytest.approx(np.quantile(scores, 0.5), abs=2 * width)


def test_binary_models_are_unchanged(tmp_path):
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(ModelMetadata("b", "supervised", "1.0.0"))
        ws.log.track_batch(pl.DataFrame({"model_name": "b", "version": "1.0.0",
                                         "prediction": [True, False, True],
                                         "actual": [True, False, False],
                                         "timestamp": _stamps(3)}))
        m = ws.monitor.get_current_metrics("b", "1.0.0", "1h", ci=False)
    assert type(m).__name__ == "WindowMetrics" and m["accuracy"] == pytest.approx(2 / 3)
