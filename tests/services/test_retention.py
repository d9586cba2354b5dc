"""Retention (issue 12.6): whole UTC days, summaries written with the delete, nothing lost."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.clock import SimulatedClock, use_clock
from mlmkit.services.jobs.runner import run_job
from mlmkit.values import ModelMetadata

START = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
M = "n1-detector"
Key = tuple[str, str]


def _serve(ws: mlmkit.Workspace, sim: SimulatedClock, hours: int, rng: np.random.Generator,
           logged: Counter[Key]) -> None:
    """Serve ``hours`` hours on the simulated clock; count each row by (version, UTC day)."""
    for _ in range(hours):
        n = int(rng.integers(0, 6))
        if n:
            stamps = [sim() - timedelta(seconds=int(s)) for s in rng.integers(0, 3600, n)]
            versions = rng.choice(["1.0.0", "1.1.0"], n).tolist()
            ws.log.track_batch(pl.DataFrame({
                "model_name": M, "version": versions, "prediction": rng.random(n) < 0.5,
                "actual": rng.random(n) < 0.5, "score": rng.random(n), "timestamp": stamps}))
            logged.update((v, t.date().isoformat()) for v, t in zip(versions, stamps,
                                                                     strict=True))
        sim.advance(timedelta(hours=1))


def _open(path: object) -> mlmkit.Workspace:
    ws = mlmkit.open(path)  # type: ignore[arg-type]
    for version in ("1.0.0", "1.1.0"):
        ws.registry.register(ModelMetadata.for_n1_detector(version))
    return ws


def _kept(ws: mlmkit.Workspace) -> tuple[dict[Key, int], dict[Key, int]]:
    summary = {(v, str(d)): int(n) for v, d, n in ws.db.execute(
        "SELECT version, day, n FROM daily_summary WHERE model_name = ?", [M])}
    raw = {(v, str(d)): int(n) for v, d, n in ws.db.execute(
        "SELECT version, (ts AT TIME ZONE 'UTC')::DATE, count(*) FROM predictions "
        "GROUP BY ALL")}
    return summary, raw


@pytest.mark.parametrize("via", ["log", "job"])
def test_retention_conserves_every_day_over_ten_days(tmp_path, via):
    sim, rng, logged = SimulatedClock(START), np.random.default_rng(5), Counter[Key]()
    with use_clock(sim), _open(tmp_path / "ws.duckdb") as ws:
        for _ in range(10):  # ten days, retention once a day at 07:30 (not at midnight)
            _serve(ws, sim, 24, rng, logged)
            if via == "log":
                ws.log.apply_retention(2)
            else:
                assert run_job(ws, "retention", days=2, now=sim()).status == "ok"
        summary, raw = _kept(ws)
        floor = (sim() - timedelta(days=2)).date().isoformat()
        for key, n in logged.items():
            if key[1] < floor:  # a deleted day: its summary holds every row it had
                assert key not in raw and summary[key] == n, key
            else:  # a kept day: every raw row is still there
                assert raw[key] == n, key
        assert sum(raw.values()) + sum(summary[k] for k in summary if k not in raw) \
            == sum(logged.values())


def test_summary_never_shrinks_and_late_rows_are_added(tmp_path):
    day = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with _open(tmp_path / "ws.duckdb") as ws:
        def log(n: int) -> None:
            ws.log.track_batch(pl.DataFrame({"model_name": M, "version": "1.0.0",
                                             "prediction": [True] * n, "timestamp": [day] * n}))
        log(10)
        ws.monitor.summarize_daily(M)  # a summary of rows still present: replaced, not added
        log(5)
        assert ws.log.apply_retention(3, now=day + timedelta(days=5)) == 15
        log(4)  # late rows for a day retention already removed
        assert ws.log.apply_retention(3, now=day + timedelta(days=6)) == 4
        assert _kept(ws)[0] == {("1.0.0", "2026-03-01"): 19}


def test_long_trend_keeps_every_day(tmp_path):
    sim, rng, logged = SimulatedClock(START), np.random.default_rng(9), Counter[Key]()
    with use_clock(sim), _open(tmp_path / "ws.duckdb") as ws:
        for _ in range(60):
            _serve(ws, sim, 24, rng, logged)
            run_job(ws, "retention", days=7, now=sim())
        end = sim().replace(hour=0, minute=0)
        trend = ws.monitor.get_performance_trend(M, None, None, start=end - timedelta(days=60),
                                                 end=end, interval="1d")
        per_day = trend.group_by("bucket").agg(pl.col("n").sum())
        expected = Counter[str]()
        for (_, d), n in logged.items():
            if d < end.date().isoformat() and d >= (end - timedelta(days=60)).date().isoformat():
                expected[d] += n
        got = {b.date().isoformat(): int(n) for b, n in per_day.iter_rows()}
        assert {d: got.get(d, 0) for d in expected} == dict(expected)
        assert len([n for n in got.values() if n]) >= 59
