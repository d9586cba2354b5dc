"""Guarded gradual rollouts: advance, hold, automatic rollback, persistence, history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.exceptions import StateError, ValidationError
from mlmkit.services.experiments.rollout import Guardrails
from mlmkit.values import ABTestConfig, ModelMetadata

from ._ab_data import T0

CFG = ABTestConfig.for_gradual_rollout("n1-detector", "1.0.0", "1.1.0")
RAILS = Guardrails(min_duration="1h", min_samples=100)


def _register(ws: mlmkit.Workspace) -> None:
    for v in ("1.0.0", "1.1.0"):
        ws.registry.register(ModelMetadata.for_n1_detector(v))


def _serve_hour(ws: mlmkit.Workspace, rollout: mlmkit.Rollout, start: object,
                acc: dict[str, float], *, seed: int, n: int = 3000) -> None:
    """One hour of traffic routed by the rollout, labelled, with per-version accuracy."""
    rng = np.random.default_rng(seed)
    ids = [f"s{seed}-u{i}" for i in range(n)]
    versions = ws.ab.assign(rollout.config, ids)["version"].cast(pl.String)
    truth = rng.random(n) < 0.4
    p_ok = np.array([acc[v] for v in versions.to_list()])
    pred = np.where(rng.random(n) < p_ok, truth, ~truth)
    ws.log.track_batch(pl.DataFrame({
        "model_name": "n1-detector", "version": versions, "prediction": pred, "actual": truth,
        "unit_id": ids,
        "timestamp": [start + timedelta(seconds=int(s))  # type: ignore[operator]
                      for s in np.sort(rng.integers(0, 3600, n))]}))


def test_degrading_b_rolls_back_by_itself(ws_file: mlmkit.Workspace) -> None:
    _register(ws_file)
    rollout = ws_file.ab.start_rollout(CFG, plan=[0.1, 0.25, 0.5, 0.75, 1.0], guardrails=RAILS,
                                       now=T0)
    assert rollout.status == "running" and rollout.share_b == 0.1
    assert ws_file.registry.deployed_version("n1-detector") == "1.0.0"
    now = T0
    actions = []
    for step in range(1, 4):
        acc_b = 0.93 if step < 3 else 0.70  # B degrades at step 3
        _serve_hour(ws_file, rollout, now, {"1.0.0": 0.93, "1.1.0": acc_b}, seed=step)
        now += timedelta(hours=1)
        actions.append(rollout.advance(now=now).action)
    assert actions == ["advance", "advance", "rollback"]
    assert rollout.status == "rolled_back" and rollout.share_b == 0.0
    assert ws_file.registry.deployed_version("n1-detector") == "1.0.0"
    events = rollout.history()
    assert events["action"].to_list() == ["start", "advance", "advance", "rollback"]
    assert events["share_b"].to_list() == [0.1, 0.25, 0.5, 0.0]
    history = ws_file.registry.history("n1-detector")["action"].to_list()
    assert history == ["deploy", "rollout_start", "rollout_step", "rollout_step",
                       "rollout_rollback"]
    alerts = ws_file.db.execute("SELECT rule, severity FROM alerts")
    assert alerts == [("rollout_rollback", "critical")]
    with pytest.raises(StateError):
        rollout.advance(now=now)


def test_full_rollout_deploys_b_and_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with mlmkit.open(path) as ws:
        _register(ws)
        rollout = ws.ab.start_rollout(CFG, plan=ws.ab.generate_rollout_plan(3),
                                      guardrails={"min_duration": "1h", "min_samples": 50},
                                      now=T0)
        rollout_id = rollout.rollout_id
        _serve_hour(ws, rollout, T0, {"1.0.0": 0.9, "1.1.0": 0.92}, seed=7, n=1000)
        # too early: hold
        assert rollout.advance(now=T0 + timedelta(minutes=30)).action == "hold"
        assert rollout.advance(now=T0 + timedelta(hours=1)).action == "advance"
    with mlmkit.open(path) as ws:  # a new process would see the same state
        rollout = ws.ab.get_rollout(rollout_id)
        assert rollout.step == 2 and rollout.share_b == pytest.approx(2 / 3)
        assert ws.ab.active_rollout("n1-detector") is not None
        _serve_hour(ws, rollout, T0 + timedelta(hours=1), {"1.0.0": 0.9, "1.1.0": 0.92},
                    seed=8, n=1000)
        decision = rollout.advance(now=T0 + timedelta(hours=2))
        assert decision.action == "complete" and rollout.status == "completed"
        assert ws.registry.deployed_version("n1-detector") == "1.1.0"
        assert ws.ab.active_rollout("n1-detector") is None
        assert "<table" in rollout._repr_html_() and "completed" in repr(rollout)
        # a completed rollout can still be rolled back by hand: the registry returns to A
        rollout.rollback(reason="post-deploy issue")
        assert ws.registry.deployed_version("n1-detector") == "1.0.0"


def test_critical_alert_and_srm_roll_back(ws_mem: mlmkit.Workspace) -> None:
    _register(ws_mem)
    rollout = ws_mem.ab.start_rollout(CFG, guardrails=RAILS, now=T0)
    ws_mem.alerts.fire("accuracy_drop", "critical", "n1-detector", "1.1.0", "accuracy fell")
    decision = rollout.advance(now=T0 + timedelta(minutes=5))
    assert decision.action == "rollback" and "critical alert" in decision.reason
    # SRM: a second rollout whose logged arms contradict its 10 % share
    ws_mem.db.execute("UPDATE alerts SET status = 'resolved'")
    second = ws_mem.ab.start_rollout(CFG, guardrails=RAILS, now=T0 + timedelta(hours=1))
    rng = np.random.default_rng(3)
    n = 2000
    ws_mem.log.track_batch(pl.DataFrame({
        "model_name": "n1-detector", "version": ["1.1.0"] * (n // 2) + ["1.0.0"] * (n // 2),
        "prediction": rng.random(n) < 0.5, "actual": rng.random(n) < 0.5,
        "timestamp": [T0 + timedelta(hours=1, seconds=i) for i in range(n)]}))
    decision = second.advance(now=T0 + timedelta(hours=2))
    assert decision.action == "rollback" and "sample ratio mismatch" in decision.reason


def test_one_running_rollout_and_validation(ws_mem: mlmkit.Workspace) -> None:
    _register(ws_mem)
    ws_mem.ab.start_rollout(CFG, now=T0)
    with pytest.raises(StateError, match="already has a running rollout"):
        ws_mem.ab.start_rollout(CFG, now=T0)
    with pytest.raises(ValidationError, match="plan"):
        ws_mem.ab.start_rollout(CFG, plan=[0.5, 0.2, 1.0])
    with pytest.raises(ValidationError, match="plan"):
        ws_mem.ab.start_rollout(CFG, plan=[0.1, 0.5])
    with pytest.raises(ValidationError, match="min_samples"):
        Guardrails(min_samples=0)
    with pytest.raises(ValidationError, match="guardrails"):
        ws_mem.ab.start_rollout(CFG, guardrails={"nope": 1})
