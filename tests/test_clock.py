"""The injectable clock: every ``utcnow()`` in mlmkit reads it, threads included."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

import mlmkit
from mlmkit.clock import SimulatedClock, use_clock
from mlmkit.values import resolve_range, utcnow

START = datetime(2026, 1, 5, tzinfo=UTC)


def test_simulated_clock_drives_utcnow_and_windows() -> None:
    sim = SimulatedClock(START)
    with use_clock(sim):
        assert utcnow() == START
        sim.advance(timedelta(hours=3))
        seen: list[datetime] = []
        worker = threading.Thread(target=lambda: seen.append(utcnow()))
        worker.start()
        worker.join()
        assert seen == [START + timedelta(hours=3)]
        span = resolve_range("1h")
        assert span.end == START + timedelta(hours=3)
    assert utcnow() > START + timedelta(days=300)


def test_tracked_rows_default_to_the_simulated_time(tmp_path: object) -> None:
    sim = SimulatedClock(START)
    with use_clock(sim), mlmkit.open() as ws:
        ws.registry.register(mlmkit.ModelMetadata("m", "supervised", "1.0.0"))
        ws.log.track("m", "1.0.0", True, score=0.9, prediction_id="p1")
        ws.log.track_batch({"model_name": ["m"], "version": ["1.0.0"], "prediction": [False],
                            "actual": [True], "prediction_id": ["p2"]})
        sim.advance(timedelta(seconds=1))  # windows are [start, end): now itself is outside
        rows = ws.log.predictions("m", window="1h")
        assert rows["prediction_id"].to_list() == ["p1", "p2"]
        assert set(rows["ts"].to_list()) == {START}
        assert rows["labelled_at"].to_list() == [None, START]


def test_clock_rejects_bad_input() -> None:
    with pytest.raises(mlmkit.ValidationError, match="start"):
        SimulatedClock(datetime(2026, 1, 1))
    sim = SimulatedClock(START)
    with pytest.raises(mlmkit.ValidationError, match="delta"):
        sim.advance(timedelta(seconds=-1))
    with pytest.raises(mlmkit.ValidationError, match="moment"):
        sim.set(START - timedelta(seconds=1))
    with pytest.raises(mlmkit.ValidationError, match="source"), use_clock(42):  # type: ignore[arg-type]
        pass
