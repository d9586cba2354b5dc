"""Guarded rollouts of multiclass, regression and score-only models over simulated time."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.clock import SimulatedClock
from mlmkit.services.experiments.guardrails import AccuracyDrop, StepCounts
from mlmkit.services.experiments.rollout import Guardrails
from mlmkit.values import ABTestConfig

from ._ab_data import T0

RAILS = Guardrails(min_duration="1h", min_samples=100)
CLASSES = np.array(["ant", "bee", "cat"])


def _register(ws: mlmkit.Workspace, model: str, task: str) -> None:
    kind = "unsupervised" if task == "score" else "supervised"
    for v in ("1.0.0", "1.1.0"):
        ws.registry.register(ModelMetadata(model, kind, v, task=task))


def _hour(ws, rollout, clock: SimulatedClock, make, *, seed: int, n: int = 3000) -> None:
    """One hour of traffic routed by the rollout; ``make(version, rng, k)`` gives its columns."""
    rng = np.random.default_rng(seed)
    ids = [f"s{seed}-u{i}" for i in range(n)]
    versions = ws.ab.assign(rollout.config, ids)["version"].cast(pl.String).to_numpy()
    start = clock()
    stamps = [start + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 3600, n))]
    parts = []
    for version in np.unique(versions):
        mask = versions == version
        cols = make(str(version), rng, int(mask.sum()))
        parts.append(pl.DataFrame({"model_name": rollout.model_name, "version": str(version),
                                   "unit_id": np.asarray(ids)[mask].tolist(), **cols,
                                   "timestamp": [t for t, m in zip(stamps, mask, strict=True)
                                                 if m]}))
    ws.log.track_batch(pl.concat(parts, how="diagonal"))
    clock.advance(timedelta(hours=1))


def _run(ws, rollout, clock, make_for_step, steps):
    actions = []
    for step in range(1, steps + 1):
        _hour(ws, rollout, clock, make_for_step(step), seed=step)
        actions.append(rollout.advance(now=clock()).action)
        if rollout.status != "running":
            break
    return actions


def test_regression_rollout_whose_mae_rises_rolls_back_by_itself(ws_file) -> None:
    _register(ws_file, "rg", "regression")
    cfg = ABTestConfig.for_gradual_rollout("rg", "1.0.0", "1.1.0")
    cfg = ABTestConfig("rg", cfg.version_a, cfg.version_b, cfg.traffic_split_a,
                       primary_metric="mae")
    clock = SimulatedClock(T0)
    rollout = ws_file.ab.start_rollout(cfg, guardrails=RAILS, now=clock())

    def make_for_step(step):
        def make(version, rng, k):
            y = rng.normal(100.0, 20.0, k)
            noise = 6.0 if version == "1.1.0" and step >= 3 else 4.0  # B degrades at step 3
            return {"prediction": (y + rng.normal(0, noise, k)).tolist(), "actual": y.tolist()}
        return make

    actions = _run(ws_file, rollout, clock, make_for_step, 5)
    assert actions == ["advance", "advance", "rollback"]
    assert rollout.status == "rolled_back" and rollout.share_b == 0.0
    event = rollout.history().row(-1, named=True)
    assert "mae of 1.1.0" in event["reason"] and "significantly above" in event["reason"]
    details = json.loads(event["details"])
    assert details["mae_b"] > details["mae_a"] and details["accuracy_a"] is None
    assert ws_file.db.execute("SELECT rule, severity FROM alerts") == [
        ("rollout_rollback", "critical")]
    assert ws_file.registry.deployed_version("rg") == "1.0.0"


def test_regression_rollout_of_an_equal_model_completes(ws_file) -> None:
    _register(ws_file, "rg", "regression")
    cfg = ABTestConfig("rg", "1.0.0", "1.1.0", 0.9, primary_metric="rmse")
    clock = SimulatedClock(T0)
    rollout = ws_file.ab.start_rollout(cfg, plan=[0.5, 1.0], guardrails=RAILS,
                                       now=clock())

    def make(version, rng, k):
        y = rng.normal(100.0, 20.0, k)
        return {"prediction": (y + rng.normal(0, 4.0, k)).tolist(), "actual": y.tolist()}

    actions = _run(ws_file, rollout, clock, lambda step: make, 3)
    assert actions == ["complete"]
    assert ws_file.registry.deployed_version("rg") == "1.1.0"
    assert "mse_p_value" in json.loads(rollout.history().row(-1, named=True)["details"])


def test_multiclass_rollout_guards_accuracy(ws_file) -> None:
    _register(ws_file, "mc", "multiclass")
    cfg = ABTestConfig("mc", "1.0.0", "1.1.0", 0.9, primary_metric="f1_macro")
    clock = SimulatedClock(T0)
    rollout = ws_file.ab.start_rollout(cfg, guardrails=RAILS, now=clock())

    def make_for_step(step):
        def make(version, rng, k):
            acc = 0.70 if version == "1.1.0" and step >= 2 else 0.9
            y = CLASSES[rng.integers(0, 3, k)]
            wrong = CLASSES[(np.searchsorted(CLASSES, y) + rng.integers(1, 3, k)) % 3]
            return {"prediction": np.where(rng.random(k) < acc, y, wrong).tolist(),
                    "actual": y.tolist()}
        return make

    actions = _run(ws_file, rollout, clock, make_for_step, 5)
    assert actions == ["advance", "rollback"]
    assert "accuracy of 1.1.0" in rollout.history().row(-1, named=True)["reason"]


def test_score_only_rollout_advances_on_scored_rows(ws_file) -> None:
    _register(ws_file, "an", "score")
    cfg = ABTestConfig("an", "1.0.0", "1.1.0", 0.5, primary_metric="flag_rate")
    clock = SimulatedClock(T0)
    rollout = ws_file.ab.start_rollout(cfg, plan=[0.5, 1.0], guardrails=RAILS,
                                       now=clock())

    def make(version, rng, k):
        s = rng.normal(size=k)
        return {"score": s.tolist(), "prediction": (s > 1.5).tolist()}

    assert _run(ws_file, rollout, clock, lambda step: make, 3) == ["complete"]


def test_loss_guardrail_reads_direction_and_tolerance() -> None:
    """Lower loss is better: a significantly lower MAE of B passes; a rise within max_drop too."""
    base = dict(model_name="rg", version_a="1", version_b="2", share_b=0.5, metric="mae")
    worse = StepCounts(**base, moments_a=(2000, 2000.0, 2600.0),
                       moments_b=(2000, 2400.0, 3600.0))
    better = StepCounts(**base, moments_a=worse.moments_b, moments_b=worse.moments_a)
    for sequential in (True, False):
        assert not AccuracyDrop(sequential=sequential).check(worse).passed
        assert AccuracyDrop(sequential=sequential).check(better).passed
        assert AccuracyDrop(sequential=sequential, max_drop=0.25).check(worse).passed


@pytest.mark.parametrize("sequential", [True, False])
def test_loss_guardrail_false_rollbacks_stay_below_alpha(sequential) -> None:
    """A/A: equal MAE in both arms, checked at 10 growing looks; rollbacks <= alpha + 3 se."""
    rng = np.random.default_rng(5)
    trials, rolled = 300, 0
    rail = AccuracyDrop(sequential=sequential)
    for _ in range(trials):
        e = np.abs(rng.normal(0, 1.0, (2, 2000)))
        looks = range(200, 2001, 200) if sequential else (2000,)
        for n in looks:
            moments = [(n, float(x[:n].sum()), float((x[:n] ** 2).sum())) for x in e]
            counts = StepCounts("rg", "1", "2", 0.5, metric="mae", moments_a=moments[0],
                                moments_b=moments[1])
            if not rail.check(counts).passed:
                rolled += 1
                break
    assert rolled / trials <= 0.05 + 3 * (0.05 * 0.95 / trials) ** 0.5
