"""The performance-monitoring job snapshots the metrics of every task's production models."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, root_mean_squared_error

import mlmkit
from mlmkit.services.jobs import run_job, snapshots
from mlmkit.values import ModelMetadata, utcnow


def _log(ws, model, frame, actuals, now):
    n = len(actuals)
    ids = [f"{model}-{i}" for i in range(n)]
    stamps = [now - timedelta(minutes=30) + timedelta(seconds=i) for i in range(n)]
    ws.log.track_batch(pl.DataFrame({"model_name": model, "version": "1.0.0", **frame,
                                     "prediction_id": ids, "timestamp": stamps}))
    assert ws.log.record_actuals(ids, list(actuals), model_name=model) == n


def test_snapshot_holds_each_task_metrics(tmp_path):
    rng = np.random.default_rng(3)
    now = utcnow()
    y_reg = rng.normal(10, 3, 400)
    p_reg = y_reg + rng.normal(0.5, 2, 400)
    y_cls = rng.choice(["a", "b", "c"], 400)
    p_cls = np.where(rng.random(400) < 0.7, y_cls, rng.choice(["a", "b", "c"], 400))
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        for name, task in (("rg", "regression"), ("mc", "multiclass")):
            ws.registry.register(ModelMetadata(name, "supervised", "1.0.0", task=task))
            ws.registry.deploy(name, "1.0.0")
        _log(ws, "rg", {"prediction": p_reg.tolist()}, y_reg.tolist(), now)
        _log(ws, "mc", {"prediction": p_cls.tolist()}, y_cls.tolist(), now)
        run = run_job(ws, "performance-monitoring", now=now, window="1h")
        assert run.status == "ok" and run.changed == 2
        snap = snapshots(ws)
    values = {(r["model_name"], r["metric"]): r["value"] for r in snap.iter_rows(named=True)}
    assert values[("rg", "mae")] == pytest.approx(mean_absolute_error(y_reg, p_reg))
    assert values[("rg", "rmse")] == pytest.approx(root_mean_squared_error(y_reg, p_reg))
    assert values[("mc", "accuracy")] == pytest.approx(accuracy_score(y_cls, p_cls))
    assert values[("mc", "f1_macro")] == pytest.approx(f1_score(y_cls, p_cls, average="macro"))
    assert values[("rg", "sample_count")] == values[("mc", "sample_count")] == 400


def test_degradation_and_tuning_jobs_judge_each_task_by_its_own_metric(tmp_path):
    # the jobs' binary defaults (accuracy, a [0, 1] threshold grid) made every run of a
    # regression or score-only production model fail; they use the task's metric or skip
    rng = np.random.default_rng(4)
    now = utcnow()
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        for name, task in (("rg", "regression"), ("an", "score-only")):
            ws.registry.register(ModelMetadata(name, "supervised", "1.0.0", task=task,
                                               performance_metrics={"mae": 1.0,
                                                                    "flag_rate": 0.05}))
            ws.registry.deploy(name, "1.0.0")
        y = rng.normal(10, 3, 400)
        _log(ws, "rg", {"prediction": (y + rng.normal(0, 2.5, 400)).tolist()}, y.tolist(), now)
        scores = rng.normal(0, 1, 400)
        _log(ws, "an", {"score": scores.tolist(), "prediction": (scores > 1.2).tolist()},
             (scores > 1.5).tolist(), now)
        check = run_job(ws, "degradation-check", now=now, window="1h")
        tune = run_job(ws, "auto-tuning", now=now, window="1h")
        alerts = ws.alerts.list()
    assert check.status == "ok" and check.changed == 2, check.items
    assert {json.loads(a["details"])["metric"] for a in alerts.iter_rows(named=True)
            if a["rule"] == "degradation"} == {"mae", "flag_rate"}
    assert tune.status == "ok" and all(i["status"] == "skipped" for i in tune.items)


def test_drift_job_skips_concept_drift_of_a_score_only_model(tmp_path):
    # concept drift watches the error stream: a score-only model made every run partial
    rng = np.random.default_rng(5)
    now = utcnow()
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(ModelMetadata("an", "unsupervised", "1.0.0", task="score-only"))
        ws.registry.deploy("an", "1.0.0")
        scores = rng.normal(0, 1, 400)
        _log(ws, "an", {"score": scores.tolist(), "prediction": (scores > 1.2).tolist()},
             (scores > 1.5).tolist(), now)
        run = run_job(ws, "drift-detection", now=now, window="1h", reference="2h")
    assert run.status == "ok", run.items
    assert run.items[0]["concept_drift"] is False
