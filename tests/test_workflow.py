"""The seed's complete workflow, end to end: register → A/B test → gradual rollout → full
deployment → monitoring → auto-tuning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

import mlmkit
from mlmkit import ABTestConfig, ModelMetadata

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ACCURACY = {"1.0.0": 0.90, "1.1.0": 0.96}


def _serve(ws: mlmkit.Workspace, config: ABTestConfig, start: datetime, hours: float, n: int,
           seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"w{seed}-{i}" for i in range(n)]
    versions = ws.ab.assign(config, ids)["version"].cast(pl.String)
    truth = rng.random(n) < 0.3
    ok = rng.random(n) < np.array([ACCURACY[v] for v in versions.to_list()])
    pred = np.where(ok, truth, ~truth)
    score = np.clip(np.where(pred, 0.8, 0.2) + rng.normal(0, 0.1, n), 0, 1)
    seconds = np.sort(rng.integers(0, int(hours * 3600), n))
    ws.log.track_batch(pl.DataFrame({
        "model_name": "n1-detector", "version": versions, "prediction": pred, "actual": truth,
        "score": score, "unit_id": ids,
        "timestamp": [start + timedelta(seconds=int(s)) for s in seconds]}))


def test_complete_workflow(ws_file: mlmkit.Workspace) -> None:
    ws = ws_file
    # Step 1: register model versions
    v1 = ModelMetadata.for_n1_detector("1.0.0", {"threshold": 0.7}).with_performance_metrics(
        {"accuracy": 0.92, "f1_score": 0.885})
    v2 = ModelMetadata.for_n1_detector("1.1.0", {"threshold": 0.75}).with_performance_metrics(
        {"accuracy": 0.95, "f1_score": 0.92})
    ws.registry.register(v1)
    ws.registry.register(v2)
    ws.registry.deploy("n1-detector", "1.0.0")

    # Step 2: A/B test the new version on live (simulated) traffic
    config = ABTestConfig.create("n1-detector", "1.0.0", "1.1.0", traffic_split=0.5)
    offline = ws.ab.compare_models(config)
    assert offline.p_value is None  # point metrics cannot be judged
    _serve(ws, config, T0, 24, 6000, seed=1)
    ab_result = ws.ab.run_test(config, start=T0, end=T0 + timedelta(days=1))
    assert ab_result.should_deploy_version_b(), ab_result.recommendation
    assert ab_result.get_primary_metric_improvement_percent() > 5.0

    # Step 3: guarded gradual rollout, one hour per step
    plan = ws.ab.generate_rollout_plan(steps=5)
    now = T0 + timedelta(days=1)
    rollout = ws.ab.start_rollout(config, plan=plan,
                                  guardrails={"min_duration": "1h", "min_samples": 100,
                                              "min_accuracy": 0.90}, now=now)
    decisions = []
    while rollout.status == "running":
        _serve(ws, rollout.config, now, 1, 2000, seed=10 + rollout.step)
        now += timedelta(hours=1)
        decisions.append(rollout.advance(now=now).action)
    assert decisions == ["advance", "advance", "advance", "complete"]

    # Step 4: full deployment happened through the registry
    assert ws.registry.deployed_version("n1-detector") == "1.1.0"
    assert [m.version for m in ws.registry.get_production_models()] == [v2.version]
    actions = ws.registry.history("n1-detector")["action"].to_list()
    assert actions[-1] == "deploy" and actions.count("rollout_step") == 4

    # Step 5: continuous monitoring of the new version
    _serve(ws, ABTestConfig.create("n1-detector", "1.0.0", "1.1.0", 0.0), now, 1, 2000, seed=99)
    metrics = ws.monitor.get_current_metrics("n1-detector", "1.1.0", start=now,
                                             end=now + timedelta(hours=1))
    assert metrics.metrics is not None and metrics.metrics.accuracy > 0.93
    degradation = ws.monitor.get_performance_degradation_info(
        "n1-detector", "1.1.0", start=now, end=now + timedelta(hours=1))
    assert degradation.current_n > 0

    # Step 6: auto-tuning of the deployed version's threshold
    tuned = ws.tuning.optimize_threshold("n1-detector", "1.1.0", start=now,
                                         end=now + timedelta(hours=1))
    assert 0.5 <= tuned.optimal_threshold <= 0.9
