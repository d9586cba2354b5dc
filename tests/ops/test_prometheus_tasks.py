"""The Prometheus exposition of multiclass, regression and score-only models.

A real workspace file with one model of each task (tests/viz/_task_workspace.py); the exported
``mlmkit_model_metric`` samples are compared with scikit-learn / numpy on the logged rows, the
binary families keep their names, and ``mlmkit serve``'s snapshot exports the same series.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    r2_score,
    root_mean_squared_error,
)

import mlmkit
from mlmkit.ops.prometheus import generate_metrics

sys.path.insert(0, str(Path(__file__).parents[1] / "viz"))
import _task_workspace as tw


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tw.build(tmp_path_factory.mktemp("prom") / "ws.duckdb")
    with mlmkit.open(path) as ws:  # a binary model beside them: its series are unchanged
        ws.registry.register(mlmkit.ModelMetadata("bin", "supervised", "1.0.0"))
        ws.log.track("bin", "1.0.0", True, score=0.8, prediction_id="b1")
        ws.log.track("bin", "1.0.0", False, score=0.3, prediction_id="b2")
        ws.log.record_actuals(["b1", "b2"], [True, True], model_name="bin")
    return path


def _samples(text: bytes) -> dict[str, dict[tuple, float]]:
    out: dict[str, dict[tuple, float]] = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def _metric(samples: dict, model: str, version: str, metric: str) -> float:
    env = "production" if version == "1.0.0" else "none"
    key = (("environment", env), ("metric", metric), ("model", model), ("version", version))
    return samples["mlmkit_model_metric"][key]


def test_task_metrics_are_exported_and_match_sklearn(db):
    samples = _samples(generate_metrics(db, window="7d"))
    with mlmkit.open(db) as ws:
        mc = ws.log.predictions(tw.MULTICLASS, "1.1.0", labelled_only=True)
        reg = ws.log.predictions(tw.REGRESSION, "1.0.0", labelled_only=True)
        score = ws.log.predictions(tw.SCORE, "1.0.0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f1 = f1_score(mc["actual_label"], mc["label"], average="macro")
    assert _metric(samples, tw.MULTICLASS, "1.1.0", "f1_macro") == pytest.approx(f1, rel=1e-9)
    assert _metric(samples, tw.MULTICLASS, "1.1.0", "accuracy") == pytest.approx(
        accuracy_score(mc["actual_label"], mc["label"]), rel=1e-12)
    assert 0.5 < _metric(samples, tw.MULTICLASS, "1.1.0", "roc_auc_ovr") <= 1.0
    y, p = reg["actual_value"].to_numpy(), reg["value"].to_numpy()
    for name, oracle in (("mae", mean_absolute_error(y, p)),
                         ("rmse", root_mean_squared_error(y, p)), ("r2", r2_score(y, p))):
        assert _metric(samples, tw.REGRESSION, "1.0.0", name) == pytest.approx(oracle, rel=1e-9)
    scores = score["score"].to_numpy()
    assert _metric(samples, tw.SCORE, "1.0.0", "flag_rate") == pytest.approx(
        np.mean(scores > tw.FLAG_THRESHOLD), rel=1e-12)
    assert _metric(samples, tw.SCORE, "1.0.0", "mean_score") == pytest.approx(scores.mean(),
                                                                             rel=1e-9)
    names = {dict(k)["metric"] for k in samples["mlmkit_model_metric"]}
    assert names == {"accuracy", "log_loss", "f1_macro", "precision_macro", "recall_macro",
                     "f1_weighted", "roc_auc_ovr", "mae", "rmse", "mape", "r2", "mean_score",
                     "flag_rate"}


def test_label_counts_follow_the_task_and_binary_series_are_unchanged(db):
    samples = _samples(generate_metrics(db, window="7d"))
    labelled = {dict(k)["model"] + " " + dict(k)["version"]: v
                for k, v in samples["mlmkit_model_labelled_predictions"].items()}
    assert labelled[f"{tw.MULTICLASS} 1.0.0"] == 1500  # class labels (actual_label)
    assert labelled[f"{tw.REGRESSION} 1.1.0"] == 1500  # numeric actuals (actual_value)
    assert labelled[f"{tw.SCORE} 1.0.0"] == 0  # nothing confirmed
    assert labelled["bin 1.0.0"] == 2
    accuracy = samples["mlmkit_model_accuracy_ratio"]
    assert {dict(k)["model"] for k in accuracy} == {"bin"}  # binary ratios: binary models only
    assert next(iter(accuracy.values())) == 0.5
    assert not any(dict(k)["model"] == "bin" for k in samples["mlmkit_model_metric"])


def test_the_server_snapshot_exports_the_task_series(db):
    from mlmkit.server.snapshot import Snapshot

    snap = Snapshot(db, window="7d")
    assert snap.refresh()
    samples = _samples(snap.metrics_text())
    assert _metric(samples, tw.REGRESSION, "1.1.0", "mae") == pytest.approx(
        _metric(_samples(generate_metrics(db, window="7d")), tw.REGRESSION, "1.1.0", "mae"))
