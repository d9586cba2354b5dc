"""Crash every multi-step operation at each of its failure points; the next job run repairs.

For every named point of :mod:`mlmkit._faults` the operation runs in a real subprocess with
``MLMKIT_FAULT`` set, which must end it with exit code 86 (a point never reached fails). The
parent then opens the file, runs the relevant job once and checks the invariants: acknowledged
data present, the registry serving what the rollout's outcome says, rollout status agreeing
with its events, no job run left ``running``, every alert delivered or pending in its outbox,
retention conserving every logged row (summary + raw == logged, per day).

``python tests/test_fault_injection.py matrix [trials]`` prints the whole matrix
(operations x points x trials, inconsistent states found).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit._faults import EXIT_CODE
from mlmkit.services.jobs.runner import run_job
from mlmkit.values import ABTestConfig, ModelMetadata

T0 = datetime(2026, 1, 5, tzinfo=UTC)
M = "n1-detector"
A, B = "1.0.0", "1.1.0"
CFG = ABTestConfig.for_gradual_rollout(M, A, B)
RAILS = {"min_duration": "1m", "min_samples": 5}
DAYS = 10

POINTS: dict[str, tuple[str, ...]] = {
    "rollout_start": ("rollout.start.after_baseline", "rollout.start.after_insert"),
    "rollout_advance": ("rollout.advance.after_transition", "rollout.advance.before_commit",
                        "rollout.advance.after_commit"),
    "rollout_complete": ("rollout.complete.after_transition", "rollout.complete.after_history",
                         "rollout.complete.before_commit", "rollout.complete.after_commit"),
    "rollout_rollback": ("rollout.rollback.after_transition", "rollout.rollback.before_commit",
                         "rollout.rollback.before_alert", "alert.fire.after_store"),
    "rollback_completed": ("rollout.rollback.after_transition",
                           "rollout.rollback.before_commit", "rollout.rollback.before_alert"),
    "tuning_apply": ("tuning.apply.after_register", "tuning.apply.before_commit"),
    "retention": ("retention.after_summaries", "retention.after_delete",
                  "retention.before_commit"),
    "retention_job": ("job.run.after_start", "retention.after_summaries",
                      "retention.before_commit", "job.run.before_finish"),
    "registry_update": ("registry.update.after_put",),
    "alert_fire": ("alert.fire.after_store",),
    "buffered_flush": ("log.flush.before_insert", "log.flush.after_insert"),
    "regression_writes": ("log.insert.before_regression_days", "labels.after_regression_days"),
}
RANDOM = {"rollout_advance", "rollout_complete", "rollout_rollback", "buffered_flush"}
JOB = {"rollout_start": "rollout-advancement", "rollout_advance": "rollout-advancement",
       "rollout_complete": "rollout-advancement", "rollout_rollback": "rollout-advancement",
       "rollback_completed": "rollout-advancement", "tuning_apply": "performance-monitoring",
       "retention": "retention", "retention_job": "retention",
       "registry_update": "performance-monitoring", "alert_fire": "alert-delivery",
       "buffered_flush": "performance-monitoring",
       "regression_writes": "performance-monitoring"}


# ----------------------------------------------------------------------------- scenarios
def _serve(ws: mlmkit.Workspace, rollout: mlmkit.Rollout, start: datetime, seed: int,
           n: int = 400) -> None:
    """Labelled traffic routed by the rollout (both versions equally accurate) after ``start``."""
    rng = np.random.default_rng(seed)
    ids = [f"u{seed}-{i}" for i in range(n)]
    truth = rng.random(n) < 0.4
    pred = np.where(rng.random(n) < 0.9, truth, ~truth)
    ws.log.track_batch(pl.DataFrame({
        "model_name": M, "version": ws.ab.assign(rollout.config, ids)["version"]
        .cast(pl.String), "prediction": pred, "actual": truth, "unit_id": ids,
        "timestamp": [start + timedelta(seconds=int(s)) for s in np.sort(
            rng.integers(0, 3000, n))]}))


def _daily(ws: mlmkit.Workspace, seed: int) -> dict[str, int]:
    """``DAYS`` days of rows ending at T0 (a varying count per day); the count per day."""
    rng = np.random.default_rng(seed)
    counts = {}
    for d in range(DAYS):
        day = T0 - timedelta(days=DAYS - d)
        n = int(rng.integers(5, 40))
        ws.log.track_batch(pl.DataFrame({
            "model_name": M, "version": A, "prediction": rng.random(n) < 0.5,
            "actual": rng.random(n) < 0.5, "score": rng.random(n),
            "timestamp": [day + timedelta(seconds=int(s))
                          for s in rng.integers(0, 86400, n)]}))
        counts[day.date().isoformat()] = n
    return counts


def _regression_rows(seed: int, start: int, *, labelled: bool) -> pl.DataFrame:
    """300 rows of a regression model over the 3 days before T0."""
    rng = np.random.default_rng(seed)
    y = rng.normal(40.0, 10.0, 300)
    frame = {"model_name": "rg", "version": A, "prediction": y + rng.normal(0, 3, 300),
             "prediction_id": [f"r{start + i}" for i in range(300)],
             "timestamp": [T0 - timedelta(seconds=int(s)) for s in
                           rng.integers(1, 3 * 86400, 300)]}
    return pl.DataFrame({**frame, "actual": y} if labelled else frame)


def setup(path: Path, op: str, seed: int) -> dict[str, object]:
    """Build the workspace the operation starts from; what the checks need to know."""
    info: dict[str, object] = {}
    with mlmkit.open(path) as ws:
        for v in (A, B):
            ws.registry.register(ModelMetadata.for_n1_detector(v))
        if op.startswith("roll"):
            if op != "rollout_start":
                plan = [0.25, 0.5, 1.0] if op == "rollout_advance" else [0.5, 1.0]
                rollout = ws.ab.start_rollout(CFG, plan=plan, guardrails=RAILS, now=T0)
                _serve(ws, rollout, T0, seed)
                if op == "rollback_completed":
                    assert rollout.advance(now=T0 + timedelta(hours=1)).action == "complete"
        elif op in ("retention", "retention_job"):
            info["days"] = _daily(ws, seed)
        elif op == "regression_writes":
            ws.registry.register(ModelMetadata("rg", "supervised", A, task="regression"))
            ws.log.track_batch(_regression_rows(seed, 0, labelled=True))
        elif op == "tuning_apply":
            ws.registry.deploy(M, A)
            rng = np.random.default_rng(seed)
            truth = rng.random(600) < 0.3
            score = np.clip(np.where(truth, 0.8, 0.55) + rng.normal(0, 0.08, 600), 0, 1)
            ws.log.track_batch(pl.DataFrame({
                "model_name": M, "version": A, "prediction": score >= 0.5, "actual": truth,
                "score": score, "timestamp": [T0 - timedelta(minutes=i) for i in range(600)]}))
    return info


def _buffered_flush(ws: mlmkit.Workspace) -> None:
    with ws.log.buffered(max_rows=10_000, max_seconds=3600) as buf:
        for i in range(50):
            buf.track(M, A, i % 2 == 0, score=0.5, timestamp=T0)
        buf.flush()
        print(json.dumps({"acknowledged": 50}), flush=True)
        for i in range(30):
            buf.track(M, A, i % 2 == 0, score=0.5, timestamp=T0)
        buf.flush()


def _regression_writes(ws: mlmkit.Workspace) -> None:
    ws.log.track_batch(_regression_rows(1, 300, labelled=False))
    ws.log.record_actuals([f"r{i}" for i in range(300, 400)],  # new labels: no stale day
                          [float(i) for i in range(100)], model_name="rg")


_ACTS = {"buffered_flush": _buffered_flush, "regression_writes": _regression_writes}


def act(path: Path, op: str) -> None:
    """The operation, run in the subprocess (the armed point ends it)."""
    with mlmkit.open(path) as ws:
        later = T0 + timedelta(hours=1)
        if op == "rollout_start":
            ws.ab.start_rollout(CFG, plan=[0.5, 1.0], guardrails=RAILS, now=T0)
        elif op in ("rollout_advance", "rollout_complete"):
            ws.ab.active_rollout(M).advance(now=later)  # type: ignore[union-attr]
        elif op in ("rollout_rollback", "rollback_completed"):
            ws.ab.rollouts(M)[-1].rollback(reason="manual rollback", now=later)
        elif op == "tuning_apply":
            result = ws.tuning.optimize_threshold(M, A, "accuracy", start=T0 - timedelta(
                days=1), end=T0 + timedelta(seconds=1), min_improvement_percent=-100.0)
            ws.tuning.apply(result, min_improvement_percent=-100.0)
        elif op == "retention":
            ws.log.apply_retention(3, now=T0)
        elif op == "retention_job":
            run_job(ws, "retention", now=T0, days=3)
        elif op == "registry_update":
            meta = ws.registry.require(M, A)
            ws.registry.update(meta.with_configuration({**meta.configuration, "threshold": 0.7})
                               .with_deployment("production"))
        elif op == "alert_fire":
            ws.alerts.fire("manual", "warning", M, A, "checked by hand")
        elif op in _ACTS:
            _ACTS[op](ws)
        print(json.dumps({"finished": True}), flush=True)


# ----------------------------------------------------------------------------- invariants
def check(path: Path, op: str, info: dict[str, object], stdout: str) -> list[str]:
    """Run the op's job once, then every invariant; the inconsistencies found."""
    bad: list[str] = []
    with mlmkit.open(path) as ws:
        run = run_job(ws, JOB[op], now=T0 + timedelta(hours=2), **(
            {"days": 3} if JOB[op] == "retention" else {}))
        if run.status == "error":
            bad.append(f"recovery job {JOB[op]} failed: {run.error}")
        bad += (_rollouts(ws) if op.startswith("roll") else []) + _jobs(ws) + _alerts(ws)
        if op == "tuning_apply":
            versions = {str(m.version) for m in ws.registry.get_all(M)}
            applied = ws.db.execute("SELECT count(*) FROM tuning_runs WHERE kind = 'apply'")
            if ("1.0.1" in versions) != (applied[0][0] == 1):
                bad.append(f"tuning: versions {sorted(versions)} but {applied[0][0]} runs")
        if op.startswith("retention"):
            bad += _conservation(ws, info["days"])  # type: ignore[arg-type]
        if op == "registry_update":
            meta = ws.registry.require(M, A)
            tuned = meta.configuration.get("threshold") == 0.7
            if tuned != (ws.registry.deployed_version(M) == A):
                bad.append(f"registry update half-applied: threshold 0.7={tuned}, "
                           f"deployed={ws.registry.deployed_version(M)}")
        if op == "regression_writes":
            bad += _regression_days(ws)
        if op == "buffered_flush":
            acked = 50 if '"acknowledged"' in stdout else 0
            count = ws.log.count(M)
            ids = ws.db.execute("SELECT count(DISTINCT prediction_id) FROM predictions")[0][0]
            if count < acked or count not in (0, 50, 80) or ids != count:
                bad.append(f"flush: {count} rows ({ids} ids) after {acked} acknowledged")
    return bad


def _regression_days(ws: mlmkit.Workspace) -> list[str]:
    """The per-day regression statistics equal the rows (the job rebuilt the stale days)."""
    from mlmkit.store.predictions.regression_daily import aggregate

    cols = "model_name, version, role, day, total, n, round(sum_abs_error, 6), stale"
    got = sorted(ws.db.execute(f"SELECT {cols} FROM regression_daily"))
    want = sorted(ws.db.execute(f"SELECT {cols} FROM ({aggregate('predictions')})"))
    return [] if got == want else [f"regression days {got} != rows {want}"]


def _rollouts(ws: mlmkit.Workspace) -> list[str]:
    bad = []
    rollouts = ws.ab.rollouts(M)
    starts = ws.registry.history(M).filter(pl.col("action") == "rollout_start").height
    if starts != len(rollouts):
        bad.append(f"{starts} rollout_start events for {len(rollouts)} rollouts")
    if not rollouts:
        if ws.registry.deployed_version(M) is not None:
            bad.append("a baseline deployed without its rollout")
        return bad
    rollout = rollouts[-1]
    events = rollout.history()
    last = events["action"][-1]
    expected = {"complete": "completed", "rollback": "rolled_back"}.get(last, "running")
    if rollout.status != expected or int(events["step"][-1]) != rollout.step:
        bad.append(f"rollout {rollout.status} at step {rollout.step}, last event {last}")
    serving = str(ws.registry.deployed_version(M))
    wanted = B if rollout.status == "completed" else A
    if serving != wanted:
        bad.append(f"rollout {rollout.status} but {serving} serves (expected {wanted})")
    if rollout.status == "rolled_back" and not ws.db.execute(
            "SELECT 1 FROM alerts WHERE rule = 'rollout_rollback'"):
        bad.append("rolled back without its alert")
    return bad


def _jobs(ws: mlmkit.Workspace) -> list[str]:
    left = ws.db.execute("SELECT run_id, job FROM job_runs WHERE status = 'running'")
    return [f"job run {r} left running" for r in left]


def _alerts(ws: mlmkit.Workspace) -> list[str]:
    rows = ws.db.execute(
        "SELECT a.alert_id, o.status FROM alerts a LEFT JOIN alert_outbox o USING (alert_id)")
    return [f"alert {a} outbox {s}" for a, s in rows
            if s is not None and s not in ("sent", "pending")]


def _conservation(ws: mlmkit.Workspace, days: dict[str, int]) -> list[str]:
    summary = {str(d): int(n) for d, n in ws.db.execute(
        "SELECT day, n FROM daily_summary WHERE model_name = ?", [M])}
    raw = {str(d): int(n) for d, n in ws.db.execute(
        "SELECT (ts AT TIME ZONE 'UTC')::DATE, count(*) FROM predictions GROUP BY 1")}
    bad = []
    for day, n in days.items():
        have = summary.get(day, 0) if raw.get(day) is None else raw[day]
        if day in summary and day in raw and summary[day] != raw[day]:
            bad.append(f"{day}: summary {summary[day]} and raw {raw[day]} disagree")
        if have != n:
            bad.append(f"{day}: {n} logged, {have} kept (summary {summary.get(day)}, "
                       f"raw {raw.get(day)})")
    return bad


# ----------------------------------------------------------------------------- driver
def trial(tmp: Path, op: str, point: str, seed: int) -> list[str]:
    """Set up, crash the operation at ``point`` in a subprocess, recover, check."""
    path = tmp / f"{op}-{point}-{seed}.duckdb"
    info = setup(path, op, seed)
    env = {**os.environ, "MLMKIT_FAULT": point}
    proc = subprocess.run([sys.executable, __file__, "act", op, str(path)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != EXIT_CODE:
        return [f"exit {proc.returncode} (point never reached?): {proc.stderr[-800:]}"]
    return check(path, op, info, proc.stdout)


CASES = [(op, point) for op, points in POINTS.items() for point in points]


@pytest.mark.parametrize(("op", "point"), CASES, ids=[f"{o}:{p}" for o, p in CASES])
def test_crash_at_point_is_repaired(tmp_path: Path, op: str, point: str) -> None:
    trials = 2 if op in RANDOM else 1
    found = {seed: trial(tmp_path, op, point, seed) for seed in range(trials)}
    assert not any(found.values()), found


def matrix(tmp: Path, trials: int) -> list[dict[str, object]]:
    """Every (operation, point) with ``trials`` trials: the inconsistent states found."""
    rows = []
    for op, point in CASES:
        found = [trial(tmp, op, point, seed) for seed in range(trials)]
        rows.append({"operation": op, "point": point, "trials": trials,
                     "inconsistent": sum(bool(f) for f in found),
                     "examples": [x for f in found for x in f][:2]})
    return rows


if __name__ == "__main__":
    if sys.argv[1] == "act":
        act(Path(sys.argv[3]), sys.argv[2])
    elif sys.argv[1] == "matrix":
        import tempfile

        with tempfile.TemporaryDirectory() as tmpdir:
            table = matrix(Path(tmpdir), int(sys.argv[2]) if len(sys.argv) > 2 else 3)
        for row in table:
            print(f"{row['operation']:<20} {row['point']:<36} trials={row['trials']} "
                  f"inconsistent={row['inconsistent']} {row['examples'] or ''}")
        total = sum(int(r["trials"]) for r in table)  # type: ignore[call-overload]
        print(f"{len(POINTS)} operations, {len(table)} points, {total} trials, "
              f"{sum(int(r['inconsistent']) for r in table)} inconsistent")  # type: ignore[call-overload]
