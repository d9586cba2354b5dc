"""The auto-tuning job (issue 12.8): tuned on the earlier rows, confirmed on held-out later rows,
then a guarded rollout (canary 10 %) or a proposal; never a direct deployment. Simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import f1_score

import mlmkit
from mlmkit.clock import SimulatedClock, use_clock
from mlmkit.services.jobs import run_job
from mlmkit.values import ABTestConfig

NAME = "n1-detector"
NOW = datetime(2026, 1, 12, tzinfo=UTC)
DAYS = 7
GRID = np.round(np.arange(0.5, 0.9 + 1e-9, 0.05), 10)


def _log(ws, times, actual, score):
    ws.log.track_batch(pl.DataFrame({
        "model_name": NAME, "version": "1.0.0", "prediction": score >= 0.7, "score": score,
        "actual": actual, "timestamp": times}))


def _times(rng, n, lo, hi):
    """``n`` times between ``lo`` and ``hi`` days after the window's start."""
    start = NOW - timedelta(days=DAYS)
    return [start + timedelta(days=float(d)) for d in np.sort(rng.uniform(lo, hi, n))]


@pytest.fixture
def sim(tmp_path):
    clock = SimulatedClock(NOW)
    with use_clock(clock), mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0", {"threshold": 0.7}))
        ws.registry.deploy(NAME, "1.0.0", "production")
        ws.clock = clock
        yield ws


def _stationary(ws, n=3000, seed=0):
    """A week where 0.7 is too high a threshold all along (the optimum is near 0.5)."""
    rng = np.random.default_rng(seed)
    actual = rng.random(n) < 0.4
    score = np.where(actual, rng.beta(5, 3, n), rng.beta(2, 5, n))
    _log(ws, _times(rng, n, 0.01, DAYS - 0.01), actual, score)


def _improvement_only_early(ws, seed=1):
    """A lower threshold wins on the first 70 % of the week only; later it loses."""
    rng = np.random.default_rng(seed)
    n = 2100
    actual = rng.random(n) < 0.4
    score = np.where(actual, np.where(rng.random(n) < 0.5, rng.uniform(0.52, 0.68, n),
                                      rng.uniform(0.75, 0.95, n)), rng.uniform(0.05, 0.45, n))
    _log(ws, _times(rng, n, 0.01, 0.7 * DAYS - 0.05), actual, score)
    n = 900
    actual = rng.random(n) < 0.4
    score = np.where(actual, rng.uniform(0.75, 0.95, n),
                     np.where(rng.random(n) < 0.4, rng.uniform(0.52, 0.68, n),
                              rng.uniform(0.05, 0.45, n)))
    _log(ws, _times(rng, n, 0.7 * DAYS + 0.05, DAYS - 0.01), actual, score)


def test_better_threshold_starts_a_canary_rollout_and_production_keeps_serving(sim):
    ws = sim
    _stationary(ws)
    run = run_job(ws, "auto-tuning", window="7d")
    item = run.items[0]
    assert run.status == "ok" and item["status"] == "changed", run.items
    # tuned on the rows before the split only
    split = datetime.fromisoformat(item["split"])
    early = ws.log.predictions(NAME, "1.0.0", start=NOW - timedelta(days=DAYS), end=split)
    assert early.height == pytest.approx(0.7 * 3000, abs=30)
    y, s = early["actual"].to_numpy(), early["score"].to_numpy()
    best = GRID[int(np.argmax([f1_score(y, s >= t) for t in GRID]))]
    new = ws.registry.get(NAME, "1.0.1")
    assert new is not None and new.configuration["threshold"] == pytest.approx(best)
    assert item["improvement_percent"] > 3 and item["holdout_improvement_percent"] > 3
    assert item["holdout_interval"][0] > 0 and item["holdout_labelled"] > 800
    # never deployed directly: production still serves 1.0.0, a canary sends 10 % to 1.0.1
    assert str(ws.registry.deployed_version(NAME)) == "1.0.0"
    rollout = ws.ab.active_rollout(NAME)
    assert rollout is not None and rollout.rollout_id == item["rollout_id"]
    assert (str(rollout.version_a), str(rollout.version_b)) == ("1.0.0", "1.0.1")
    assert rollout.share_b == pytest.approx(0.1) and item["share_b"] == pytest.approx(0.1)
    # a day later: one rollout per model, nothing new
    ws.clock.advance(timedelta(days=1))
    again = run_job(ws, "auto-tuning", window="7d")
    assert again.items[0]["status"] == "skipped" and "is running" in again.items[0]["reason"]
    assert ws.registry.get_version_count(NAME) == 2 and len(ws.ab.rollouts(NAME)) == 1


def test_improvement_only_in_the_tuning_part_is_refused_by_the_held_out_check(sim):
    ws = sim
    _improvement_only_early(ws)
    run = run_job(ws, "auto-tuning", window="7d")
    item = run.items[0]
    assert item["status"] == "unchanged", item
    assert item["improvement_percent"] > 3          # the tuning part alone would have changed
    assert item["reason"].startswith("held-out check refused")
    assert item["holdout_improvement_percent"] < 0
    assert ws.registry.get_version_count(NAME) == 1 and ws.ab.rollouts(NAME) == []
    assert str(ws.registry.deployed_version(NAME)) == "1.0.0"


def test_propose_registers_and_alerts_without_deploying(sim):
    ws = sim
    _stationary(ws)
    run = run_job(ws, "auto-tuning", window="7d", action="propose")
    item = run.items[0]
    assert item["status"] == "changed" and item["action"] == "propose"
    assert ws.registry.exists(NAME, "1.0.1") and ws.ab.rollouts(NAME) == []
    assert str(ws.registry.deployed_version(NAME)) == "1.0.0"
    alerts = ws.alerts.list(NAME)
    assert alerts.height == 1 and alerts["rule"][0] == "auto_tuning"
    assert alerts["severity"][0] == "info" and "not deployed" in alerts["message"][0]
    again = run_job(ws, "auto-tuning", window="7d", action="propose")
    assert again.items[0]["status"] == "skipped" and "already registered" in \
        again.items[0]["reason"]


@pytest.mark.parametrize(("deploy", "rolled_out"), [(True, True), (False, False)])
def test_deprecated_deploy_maps_to_an_action(sim, deploy, rolled_out):
    ws = sim
    _stationary(ws)
    with pytest.warns(DeprecationWarning, match="deploy"):
        run = run_job(ws, "auto-tuning", window="7d", deploy=deploy)
    assert run.items[0]["status"] == "changed"
    assert run.items[0]["action"] == ("rollout" if rolled_out else "propose")
    assert (ws.ab.active_rollout(NAME) is not None) is rolled_out
    assert str(ws.registry.deployed_version(NAME)) == "1.0.0"


def test_no_second_rollout_while_one_runs(sim):
    ws = sim
    _stationary(ws)
    ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.1.0", {"threshold": 0.6}))
    ws.ab.start_rollout(ABTestConfig.for_gradual_rollout(NAME, "1.0.0", "1.1.0"))
    run = run_job(ws, "auto-tuning", window="7d")
    assert run.items[0]["status"] == "skipped" and "is running" in run.items[0]["reason"]
    assert not ws.registry.exists(NAME, "1.0.1") and len(ws.ab.rollouts(NAME)) == 1


def test_bad_action_is_refused(sim):
    run = run_job(sim, "auto-tuning", action="deploy")
    assert run.status == "error" and "action" in run.error
