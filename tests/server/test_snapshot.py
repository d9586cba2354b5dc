"""The snapshot behind /metrics and /health/ready answers without touching the file.

A second process holds the workspace exclusively (a raw DuckDB connection plus mlmkit's lock
file); scrapes and probes still answer in milliseconds with the last values and a growing
age, while background refreshes fail and are counted.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.server.snapshot import Snapshot


def _frame(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    return pl.DataFrame({"model_name": "n1", "version": "1.0.0", "prediction": score >= 0.5,
                         "score": score, "actual": rng.random(n) < score,
                         "prediction_id": [f"p{seed}-{i}" for i in range(n)]})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ws.duckdb"
    with mlmkit.open(path) as ws:
        ws.log.track_batch(_frame(500))
    return path


def _value(text: bytes, name: str) -> float:
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text.decode(), re.MULTILINE)
    assert match, f"{name} not in exposition"
    return float(match.group(1))


@pytest.fixture
def holder(db: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the file: DuckDB's own lock and mlmkit's lock file."""
    code = textwrap.dedent(f"""
        import fcntl, sys, time, duckdb
        lock = open({str(db) + '.lock'!r}, "a+b")
        fcntl.flock(lock, fcntl.LOCK_EX)
        con = duckdb.connect({str(db)!r})
        print("held", flush=True)
        sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    proc.communicate("\n", timeout=30)


def test_refresh_then_scrape_from_memory(db: Path) -> None:
    snap = Snapshot(db, interval=60)
    assert snap.readiness().status_code == 503  # nothing read yet
    assert b"mlmkit_workspace_up 0.0" in snap.metrics_text()
    assert _value(snap.metrics_text(), "mlmkit_snapshot_age_seconds") == float("inf")
    assert snap.refresh() is True
    text = snap.metrics_text()
    assert _value(text, "mlmkit_workspace_up") == 1.0
    assert _value(text, "mlmkit_model_predictions") == 500.0
    assert _value(text, "mlmkit_snapshot_refresh_errors_total") == 0.0
    assert "# TYPE mlmkit_snapshot_refresh_errors_total counter" in text.decode()
    ready = snap.readiness()
    assert ready.status_code == 200 and ready.body["schema_version"] >= 1


def test_no_snapshot_yet_because_the_file_is_held_is_not_ready(
        db: Path, holder: subprocess.Popen[str]) -> None:
    snap = Snapshot(db, interval=60, lock_timeout=0.3, max_age=3600)
    assert snap.refresh() is False
    assert snap.readiness().status_code == 503
    assert "LockedError" in snap.readiness().body["error"]


def test_last_values_and_a_growing_age_under_an_exclusive_lock(db: Path, tmp_path: Path) -> None:
    snap = Snapshot(db, interval=0.2, lock_timeout=0.3, max_age=3600)
    assert snap.refresh()
    code = textwrap.dedent(f"""
        import fcntl, sys, duckdb
        lock = open({str(db) + '.lock'!r}, "a+b")
        fcntl.flock(lock, fcntl.LOCK_EX)
        con = duckdb.connect({str(db)!r})
        print("held", flush=True)
        sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        snap.start()
        ages, worst = [], 0.0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            began = time.perf_counter()
            text = snap.metrics_text()
            ready = snap.readiness()
            worst = max(worst, time.perf_counter() - began)
            assert _value(text, "mlmkit_model_predictions") == 500.0  # the last good values
            assert ready.status_code == 200  # a held lock is not a broken file
            ages.append(_value(text, "mlmkit_snapshot_age_seconds"))
            time.sleep(0.05)
        assert worst < 0.05, f"a scrape took {worst * 1000:.1f} ms"
        assert ages == sorted(ages) and ages[-1] - ages[0] > 1.5
        errors = _value(snap.metrics_text(), "mlmkit_snapshot_refresh_errors_total")
        assert errors >= 1 and snap.refresh_errors == errors
        assert _value(snap.metrics_text(), "mlmkit_snapshot_last_refresh_ok") == 0.0
        assert "LockedError" in snap.readiness().body["last_error"]
    finally:
        proc.communicate("\n", timeout=30)
    # the holder is gone: new rows show up at the next background refresh
    with mlmkit.open(db) as ws:
        ws.log.track_batch(_frame(100, seed=2))
    deadline = time.monotonic() + 20
    while _value(snap.metrics_text(), "mlmkit_model_predictions") != 600.0:
        assert time.monotonic() < deadline, snap.readiness().body
        time.sleep(0.1)
    assert snap.readiness().status_code == 200
    assert _value(snap.metrics_text(), "mlmkit_snapshot_last_refresh_ok") == 1.0
    assert _value(snap.metrics_text(), "mlmkit_snapshot_age_seconds") < 5
    snap.stop()


def test_a_lock_held_longer_than_max_age_fails_readiness(db: Path,
                                                        holder: subprocess.Popen[str]) -> None:
    snap = Snapshot(db, interval=60, lock_timeout=0.1, max_age=0.5)
    snap._state = type(snap._state)(b"x 1.0\n", time.monotonic(), time.time())  # a good past
    assert snap.readiness().status_code == 200
    assert snap.refresh() is False
    time.sleep(0.6)
    ready = snap.readiness()
    assert ready.status_code == 503 and "old" in ready.body["error"]
    assert "LockedError" in ready.body["last_error"]


def test_a_truncated_file_fails_readiness_with_the_reason(db: Path) -> None:
    with mlmkit.open(db) as ws:
        ws.log.track_batch(_frame(50_000, seed=3))
    snap = Snapshot(db, interval=60)
    assert snap.refresh()
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    assert snap.refresh() is False
    ready = snap.readiness()
    assert ready.status_code == 503
    assert "StoreError" in ready.body["error"]
    assert _value(snap.metrics_text(), "mlmkit_model_predictions") == 50_500.0  # last good


def test_a_missing_file_is_not_ready(tmp_path: Path) -> None:
    snap = Snapshot(tmp_path / "none.duckdb", interval=60)
    assert snap.refresh() is False
    ready = snap.readiness()
    assert ready.status_code == 503 and "does not exist" in ready.body["error"]
    assert not (tmp_path / "none.duckdb").exists()


@pytest.mark.parametrize(("arg", "value"), [("interval", 0), ("interval", "x"),
                                            ("max_age", -1), ("lock_timeout", -1)])
def test_bad_arguments_name_themselves(tmp_path: Path, arg: str, value: object) -> None:
    with pytest.raises(mlmkit.ValidationError, match=arg):
        Snapshot(tmp_path / "ws.duckdb", **{arg: value})  # type: ignore[arg-type]


def test_reading_through_the_writer_never_opens_the_file(db: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """In ``mlmkit serve`` the writer thread owns the file; refreshes run on it."""
    from mlmkit.ops import prometheus
    from mlmkit.server.writer import GroupCommitWriter

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the snapshot opened the file itself")

    writer = GroupCommitWriter(db).start()
    try:
        monkeypatch.setattr(prometheus, "short_db", no_open)
        snap = Snapshot(db, interval=60)
        snap.read_through(lambda read: writer.call(lambda ws: read(ws.db)).result(timeout=30))
        assert snap.refresh() is True
        assert _value(snap.metrics_text(), "mlmkit_model_predictions") == 500.0
        assert snap.readiness().status_code == 200
        writer.call(lambda ws: ws.log.track_batch(_frame(10, seed=9))).result(timeout=30)
        assert snap.refresh() is True
        assert _value(snap.metrics_text(), "mlmkit_model_predictions") == 510.0
    finally:
        writer.close()
    assert snap.refresh() is False  # the writer is closed: not ready, with the reason
    assert snap.readiness().status_code == 503
    assert "shutting down" in snap.readiness().body["error"]


def test_the_server_app_reads_its_snapshot_through_its_writer(db: Path) -> None:
    from mlmkit.server.app import create_app

    snap = Snapshot(db, interval=60)
    create_app(db, snapshot=snap)
    assert snap._via is not None
