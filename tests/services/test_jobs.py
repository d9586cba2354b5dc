"""Jobs on a small demo-like workspace: expected rows / alerts / versions, idempotent reruns."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

import mlmkit
from mlmkit.catalogue import Task, Use, select
from mlmkit.exceptions import ValidationError
from mlmkit.services.jobs import JOBS, job_history, job_summary, resolve_job, run_job, snapshots
from mlmkit.values import utcnow

NAME = "n1-detector"


def _frame(rng, now, n, *, hours, model=NAME, version="1.0.0", noise=0.0):
    actual = rng.random(n) < 0.4
    score = np.clip(np.where(actual, rng.beta(5, 3, n), rng.beta(2, 5, n)), 0, 1)
    flip = rng.random(n) < noise
    actual = np.where(flip, ~actual, actual)
    ts = [now - timedelta(seconds=float(s)) for s in rng.uniform(30, hours * 3600, n)]
    return pl.DataFrame({"model_name": model, "version": version, "prediction": score >= 0.7,
                         "score": score, "actual": actual, "timestamp": ts,
                         "amount": rng.normal(0, 1, n)})


@pytest.fixture
def ws(tmp_path):
    rng = np.random.default_rng(11)
    now = utcnow()
    if now.timestamp() % 300 > 297:  # a rerun at now + 1 s stays in the job's 5-minute period
        now -= timedelta(seconds=5)  # (it crossed it at 16:59:59.9 once: a new snapshot)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        meta = mlmkit.ModelMetadata.for_n1_detector("1.0.0", {"threshold": 0.7})
        ws.registry.register(meta.with_performance_metrics({"accuracy": 0.97}))
        ws.registry.deploy(NAME, "1.0.0", "production")
        ws.log.track_batch(_frame(rng, now, 1500, hours=72))
        ws.now = now
        yield ws


def test_job_table_and_names():
    assert list(JOBS) == ["performance-monitoring", "degradation-check", "auto-tuning",
                          "drift-detection", "retention", "rollout-advancement",
                          "alert-delivery"]
    assert resolve_job("ml-performance-monitoring").name == "performance-monitoring"
    with pytest.raises(ValidationError, match="name must be one of"):
        resolve_job("nope")


def test_bad_options_raise_before_a_run(ws):
    with pytest.raises(ValidationError, match="options must be keyword options"):
        run_job(ws, "retention", nope=1)
    assert job_history(ws).height == 0


def test_performance_monitoring_snapshot_matches_sklearn_and_rerun_is_noop(ws):
    run = run_job(ws, "performance-monitoring", now=ws.now, window="24h")
    assert run.status == "ok" and run.changed == 1
    snap = snapshots(ws, model_name=NAME)
    values = dict(zip(snap["metric"], snap["value"], strict=True))
    rows = ws.log.predictions(NAME, "1.0.0", start=ws.now - timedelta(hours=24), end=ws.now)
    y, p = rows["actual"].to_numpy(), rows["prediction"].to_numpy()
    assert values["sample_count"] == rows.height
    assert values["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert values["precision"] == pytest.approx(precision_score(y, p))
    assert values["recall"] == pytest.approx(recall_score(y, p))
    assert values["f1_score"] == pytest.approx(f1_score(y, p))
    assert values["label_coverage"] == 1.0
    assert set(snap["environment"]) == {"production"}
    again = run_job(ws, "performance-monitoring", now=ws.now + timedelta(seconds=1),
                    window="24h")
    assert again.status == "ok" and again.changed == 0
    assert again.items[0]["status"] == "skipped"
    assert snapshots(ws).height == snap.height
    runs = job_history(ws, "performance-monitoring")
    assert runs["status"].to_list() == ["ok", "ok"] and runs["finished_at"].null_count() == 0


def test_degradation_check_alerts_once(ws):
    run = run_job(ws, "degradation-check", now=ws.now)
    assert run.status == "ok" and run.changed == 1, run.items
    assert run.items[0]["severity"] == "critical"  # ~0.78 accuracy vs registered 0.97
    alerts = ws.db.execute("SELECT rule, severity, model_name FROM alerts")
    assert alerts == [("degradation", "critical", NAME)]
    again = run_job(ws, "degradation-check", now=ws.now)
    assert again.changed == 0 and again.items[0]["status"] == "unchanged"
    assert len(ws.db.execute("SELECT * FROM alerts")) == 1


def test_degradation_check_ignores_alerts_fired_by_others_meanwhile(ws, monkeypatch):
    assert run_job(ws, "degradation-check", now=ws.now).changed == 1
    fire = ws.alerts.fire

    def fire_and_another(*args, **kwargs):  # another writer stores an alert meanwhile
        fire("other-rule", "info", NAME, message="unrelated")
        return fire(*args, **kwargs)

    monkeypatch.setattr(ws.alerts, "fire", fire_and_another)
    again = run_job(ws, "degradation-check", now=ws.now)
    assert again.changed == 0 and again.items[0]["status"] == "unchanged"


def test_auto_tuning_registers_and_rolls_out_new_version_once(ws):
    run = run_job(ws, "auto-tuning", now=ws.now, window="7d")
    assert run.status == "ok" and run.changed == 1, run.items
    # tuned on the rows before the held-out split (issue 12.8)
    split = datetime.fromisoformat(run.items[0]["split"])
    rows = ws.log.predictions(NAME, "1.0.0", start=ws.now - timedelta(days=7), end=split)
    y, s = rows["actual"].to_numpy(), rows["score"].to_numpy()
    grid = np.round(np.arange(0.5, 0.9 + 1e-9, 0.05), 10)
    best = grid[int(np.argmax([f1_score(y, s >= t) for t in grid]))]
    new = ws.registry.get(NAME, "1.0.1")
    assert new is not None and new.configuration["threshold"] == pytest.approx(best)
    # never deployed directly (12.8): a canary rollout, production still serves 1.0.0
    assert str(ws.registry.deployed_version(NAME)) == "1.0.0"
    assert ws.ab.active_rollout(NAME).share_b == pytest.approx(0.1)
    assert run.items[0]["improvement_percent"] > 3.0
    again = run_job(ws, "auto-tuning", now=ws.now, window="7d")
    assert again.changed == 0 and again.items[0]["status"] == "skipped"
    assert ws.registry.get_version_count(NAME) == 2


def test_auto_tuning_respects_minimum_improvement(ws):
    run = run_job(ws, "auto-tuning", now=ws.now, minimum_improvement=1000.0)
    assert run.changed == 0 and run.items[0]["status"] == "unchanged"
    assert ws.registry.get_version_count(NAME) == 1


def test_drift_detection_snapshot_once_per_day(ws):
    run = run_job(ws, "drift-detection", now=ws.now, window="24h", reference="48h")
    assert run.status == "ok" and run.changed == 1, run.items
    snap = snapshots(ws, job="drift-detection")
    metrics = set(snap["metric"])
    assert {"concept_drift", "drift_share", "drifted_features", "features"} <= metrics
    again = run_job(ws, "drift-detection", now=ws.now, window="24h", reference="48h")
    assert again.changed == 0 and snapshots(ws, job="drift-detection").height == snap.height


def test_retention_deletes_old_rows_then_is_noop(ws):
    before = ws.log.count()
    run = run_job(ws, "retention", now=ws.now, days=1)
    removed = {i["table"]: i["removed"] for i in run.items}
    assert removed["predictions"] > 0 and ws.log.count() == before - removed["predictions"]
    # whole UTC days only (issue 12.6): the cut-off now - 1 day is floored to midnight
    floor = (ws.now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert ws.log.count() == len(ws.db.execute(
        "SELECT 1 FROM predictions WHERE ts >= ?", [floor]))
    again = run_job(ws, "retention", now=ws.now, days=1)
    assert again.changed == 0 and all(i["removed"] == 0 for i in again.items)


def test_one_model_failure_does_not_stop_others(ws, monkeypatch):
    rng = np.random.default_rng(3)
    ws.registry.register(mlmkit.ModelMetadata.for_waf_behavioral("2.0.0"))
    ws.registry.deploy("waf-behavioral", "2.0.0")
    ws.log.track_batch(_frame(rng, ws.now, 200, hours=2, model="waf-behavioral",
                              version="2.0.0"))
    real = ws.monitor.get_current_metrics

    def flaky(model_name, *args, **kwargs):
        if model_name == NAME:
            raise RuntimeError("boom")
        return real(model_name, *args, **kwargs)

    monkeypatch.setattr(ws.monitor, "get_current_metrics", flaky)
    run = run_job(ws, "performance-monitoring", now=ws.now)
    assert run.status == "partial" and run.failed == 1 and run.changed == 1
    assert "boom" in run.error
    assert set(snapshots(ws)["model_name"]) == {"waf-behavioral"}
    summary = job_summary(ws).row(0, named=True)
    assert summary["last_status"] == "partial" and summary["last_success_at"] is None


def test_missing_service_is_a_recorded_error(ws, monkeypatch):
    monkeypatch.setattr(type(ws), "tuning", property(lambda self: __import__("nope_mod")))
    run = run_job(ws, "auto-tuning", now=ws.now)
    assert run.status == "error" and "ws.tuning" in run.error
    row = job_history(ws).row(0, named=True)
    assert row["status"] == "error" and "nope_mod" in row["error"]


def test_job_logs_carry_model_context(ws, caplog):
    with caplog.at_level("INFO", logger="mlmkit.jobs"):
        run_job(ws, "performance-monitoring", now=ws.now)
    recs = [r for r in caplog.records if getattr(r, "model", None) == NAME]
    assert recs and all(r.version == "1.0.0" and r.job == "performance-monitoring"
                        for r in recs)


def test_rollout_advancement_steps_once(ws):
    rng = np.random.default_rng(8)
    ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.1.0", {"threshold": 0.7}))
    config = mlmkit.ABTestConfig.for_gradual_rollout(NAME, "1.0.0", "1.1.0")
    rollout = ws.ab.start_rollout(config, guardrails={"min_duration": "1h", "min_samples": 30},
                                  now=ws.now - timedelta(hours=2))
    ws.log.track_batch(pl.concat([
        _frame(rng, ws.now, 858, hours=1.5, version="1.0.0"),
        _frame(rng, ws.now, 100, hours=1.5, version="1.1.0")]))
    run = run_job(ws, "rollout-advancement", now=ws.now)
    assert run.status == "ok" and run.changed == 1, run.items
    assert run.items[0]["action"] == "advance" and run.items[0]["share_b"] == 0.25
    assert rollout.refresh().share_b == 0.25
    again = run_job(ws, "rollout-advancement", now=ws.now + timedelta(minutes=5))
    assert again.changed == 0 and again.items[0]["action"] == "hold"


def test_performance_monitoring_snapshots_a_model_without_labels(tmp_path):
    # every window metric of the catalogue is snapshotted; before the catalogue the job read
    # metrics["roc_auc"], which an unlabelled window has no key for, and the body failed
    now = utcnow()
    with mlmkit.open(tmp_path / "ws.duckdb") as w:
        w.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0", {}))
        w.registry.deploy(NAME, "1.0.0", "production")
        frame = _frame(np.random.default_rng(3), now, 50, hours=2)
        w.log.track_batch(frame.with_columns(actual=pl.lit(None, pl.Boolean)))
        run = run_job(w, "performance-monitoring", now=now, window="24h")
        assert run.status == "ok" and run.changed == 1 and run.failed == 0
        values = dict(zip(*snapshots(w, model_name=NAME)[["metric", "value"]], strict=True))
    assert values["sample_count"] == 50 and values["labelled_count"] == 0
    assert values["label_coverage"] == 0.0 and values["roc_auc"] is None
    assert set(values) == set(select(use=Use.WINDOW, task=Task.BINARY))
