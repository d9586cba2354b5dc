"""The verdict per model agrees with the alert rules and the alert table, on seeded data."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.demo import DEPLOYMENTS, build_demo, check_alerts, summary_lines
from mlmkit.exceptions import NotFoundError, ValidationError
from mlmkit.services.alerts.rules import Degradation
from mlmkit.services.monitor import ModelVerdict, model_verdict, model_verdicts
from mlmkit.values import utcnow

_RANK = {"info": 0, "ok": 0, "warning": 1, "critical": 2}


def _log(ws: mlmkit.Workspace, model: str, accuracy: float, *, n: int = 600,
         labelled: float = 1.0, seed: int = 0) -> None:
    """``n`` predictions over the last 20 hours, ``accuracy`` of them right."""
    rng = np.random.default_rng(seed)
    now = utcnow()
    prediction = rng.random(n) < 0.5
    right = rng.random(n) < accuracy
    actual = np.where(right, prediction, ~prediction).tolist()
    keep = rng.random(n) < labelled
    ws.log.track_batch(pl.DataFrame({
        "model_name": model, "version": "1.0.0", "prediction": prediction,
        "actual": [a if k else None for a, k in zip(actual, keep, strict=True)],
        "timestamp": [now - timedelta(hours=20 * (i + 1) / n) for i in range(n)]}))


@pytest.fixture
def ws():
    with mlmkit.open() as workspace:
        for name in ("bad", "good", "thin"):
            workspace.registry.register(mlmkit.ModelMetadata(
                name, "supervised", "1.0.0", performance_metrics={"accuracy": 0.9}))
            workspace.registry.deploy(name, "1.0.0")
        _log(workspace, "bad", 0.6)
        _log(workspace, "good", 0.9, seed=1)
        _log(workspace, "thin", 0.9, labelled=0.05, seed=2)
        yield workspace


def _percent(text: str) -> float:
    return float(re.search(r"dropped (\d+\.\d)%", text).group(1))


def test_degraded_model_is_critical_with_the_alert_rules_percent(ws):
    verdict = model_verdict(ws, "bad")
    info = Degradation().info(ws, "bad", "1.0.0")
    assert info.severity == "critical"
    assert verdict.severity == "critical"
    assert _percent(verdict.sentence) == round(info.degradation_percent, 1)
    assert verdict.sentence.startswith("bad 1.0.0 (production): critical — accuracy dropped")
    assert "over the last 24 h" in verdict.sentence
    # the alert the rule fires carries the same percent and severity
    ws.alerts.add_rule("degradation", "bad")
    (alert_id,) = ws.alerts.check("bad")
    alert = ws.alerts.list("bad").row(0, named=True)
    assert alert["severity"] == verdict.severity
    assert _percent(alert["message"]) == _percent(verdict.sentence)
    after = model_verdict(ws, "bad")
    assert after.alerts["alert_id"].to_list() == [alert_id]
    assert after.sentence.endswith("1 open critical alert")
    assert after.to_dict()["alerts"][0]["message"] == alert["message"]  # in full


def test_healthy_model_is_ok_with_no_action(ws):
    verdict = model_verdict(ws, "good")
    assert isinstance(verdict, ModelVerdict)
    assert verdict.severity == "ok"
    assert verdict.action == "no action"
    assert verdict.drifted == ()
    assert "no open alerts" in verdict.sentence


def test_open_critical_alert_makes_the_verdict_critical(ws):
    ws.alerts.fire("degradation", "critical", "good", "1.0.0", "accuracy dropped 30%")
    verdict = model_verdict(ws, "good")
    assert verdict.severity == "critical"  # never "ok" next to an open critical alert
    assert "1 open critical alert" in verdict.sentence
    ws.alerts.resolve(int(verdict.alerts["alert_id"][0]))
    assert model_verdict(ws, "good").severity == "ok"


def test_too_few_labels_asks_for_labels(ws):
    verdict = model_verdict(ws, "thin")
    assert verdict.insufficient
    assert verdict.severity == "warning"
    assert "too few labels" in verdict.sentence
    assert verdict.action.startswith("collect labels")


def test_a_configured_rule_is_the_one_judging(ws):
    ws.alerts.add_rule("degradation", "bad", threshold=0.5)  # a 33 % drop is now fine
    assert model_verdict(ws, "bad").severity == "ok"


def test_all_production_models_and_bad_input(ws):
    assert [v.model_name for v in model_verdicts(ws)] == ["bad", "good", "thin"]
    with pytest.raises(NotFoundError, match="staging"):
        model_verdict(ws, "bad", environment="staging")
    with pytest.raises(ValidationError, match="model_name"):
        model_verdict(ws, "")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("verdict") / "demo.duckdb"
    with mlmkit.open(path) as workspace:
        build_demo(workspace, per_model=20_000)
    with mlmkit.open(path) as workspace:
        yield workspace


def test_demo_summary_and_alert_table_agree(demo):
    verdicts = {v.model_name: v for v in model_verdicts(demo)}
    alerts = demo.alerts.list(status="open")
    for v in verdicts.values():
        mine = alerts.filter((pl.col("model_name") == v.model_name)
                             & (pl.col("version") == v.version))
        worst = max([_RANK[s] for s in mine["severity"]], default=0)
        assert _RANK[v.severity] >= worst, v.sentence
    n1 = verdicts["n1-detector"]
    assert n1.severity == "critical" and n1.version == "1.1.0"
    (message,) = alerts.filter(pl.col("rule") == "degradation")["message"].to_list()
    assert _percent(message) == _percent(n1.sentence)
    assert "roll back to 1.0.0" in n1.action
    assert verdicts["waf-behavioral"].drifted == ("path_entropy", "request_rate")
    assert verdicts["queue-anomaly"].severity == "ok"
    assert check_alerts(demo) == []  # evaluating again fires nothing new
    lines = summary_lines(demo)
    assert lines[0].strip() == n1.sentence and "roll back" in lines[1]


def test_demo_never_serves_a_version_before_its_deploy(demo):
    history = demo.registry.history(None)
    for model, plan in DEPLOYMENTS.items():
        trend = demo.monitor.get_performance_trend(model, None, "31d", "1h")
        assert sorted(set(trend.filter(pl.col("n") > 0)["version"])) == sorted(
            d.version for d in plan)
        for dep in plan:
            deployed = history.filter((pl.col("model_name") == model)
                                      & (pl.col("version") == dep.version))["event_at"].min()
            early = trend.filter((pl.col("version") == dep.version)
                                 & (pl.col("bucket_end") <= deployed) & (pl.col("n") > 0))
            assert early.height == 0, (model, dep.version, early)
