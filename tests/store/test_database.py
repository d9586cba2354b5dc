"""The store under real processes: concurrent writers, kill -9, schema versions, locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

import mlmkit
from mlmkit import LockedError, SchemaError
from mlmkit.store.database import Database
from mlmkit.store.migrations import latest_version

pytestmark = pytest.mark.slow

WRITER = textwrap.dedent("""
    import sys, mlmkit, polars as pl
    path, tag, mode, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    ws = mlmkit.open(path, lock_timeout=120)
    if mode == "single":
        for i in range(n):
            ws.log.track("m", "1.0.0", i % 2 == 0, score=0.5, prediction_id=f"{tag}-{i}")
    else:
        for start in range(0, n, 100):
            ids = [f"{tag}-{i}" for i in range(start, min(n, start + 100))]
            ws.log.track_batch(pl.DataFrame({"model_name": "m", "version": "1.0.0",
                                             "prediction": True, "prediction_id": ids}))
    ws.close()
""")


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_write_one_file_while_a_notebook_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    notebook = mlmkit.open(path)           # this process: an idle notebook kernel
    notebook.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0"))
    procs = [_spawn(WRITER, path, "single", "single", 5000),
             _spawn(WRITER, path, "batch", "batch", 5000)]
    deadline = time.monotonic() + 240
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        assert notebook.log.count() >= 0   # the notebook keeps reading meanwhile
        time.sleep(0.2)
    for p in procs:
        _out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    rows = notebook.log.predictions("m")
    assert rows.height == 10_000
    assert rows["prediction_id"].n_unique() == 10_000
    assert notebook.registry.exists("n1-detector", "1.0.0")
    notebook.close()


KILLED = textwrap.dedent("""
    import sys, mlmkit
    ws = mlmkit.open(sys.argv[1])
    i = 0
    while True:
        pid = ws.log.track("m", "1.0.0", True, score=0.9, prediction_id=f"k{i}")
        print(pid, flush=True)
        i += 1
""")


def test_acknowledged_tracks_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "crash.duckdb"
    proc = _spawn(KILLED, path)
    acknowledged = []
    assert proc.stdout is not None
    while len(acknowledged) < 300:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "writer died"
        acknowledged.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with mlmkit.open(path) as ws:
        stored = set(ws.log.predictions("m")["prediction_id"].to_list())
    assert set(acknowledged) <= stored


def test_lock_timeout_raises_locked_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    mlmkit.open(path).close()
    holder = _spawn("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                    "print('held', flush=True); time.sleep(60)", path)
    try:                                   # a foreign program holding the file
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match="locked"):
            Database(path, lock_timeout=0.3)
    finally:
        holder.kill()
        holder.wait()
    with mlmkit.open(path) as ws:         # released: usable again
        assert ws.log.count() == 0


def test_newer_schema_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    mlmkit.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (999, now(), 'm999_future')")
    con.close()
    with pytest.raises(SchemaError, match="schema version 999"):
        mlmkit.open(path)
    con = duckdb.connect(str(path))
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 999
    con.close()


def test_older_schema_is_upgraded(tmp_path: Path) -> None:
    from mlmkit.store.migrations import m001_core

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                "applied_at TIMESTAMPTZ NOT NULL, name VARCHAR NOT NULL)")
    con.execute(m001_core.SQL)
    con.execute("INSERT INTO schema_version VALUES (1, now(), 'm001_core')")
    con.execute("INSERT INTO models VALUES ('m', '1.0.0', 'supervised', '{}', '{}', '{}', "
                "now(), NULL, NULL)")
    con.close()
    with mlmkit.open(path) as ws:
        assert ws.registry.exists("m", "1.0.0")
        versions = ws.db.execute("SELECT version FROM schema_version ORDER BY version")
    assert [v[0] for v in versions] == list(range(1, latest_version() + 1))


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(SchemaError, match="not an mlmkit workspace"):
        mlmkit.open(path)


def test_reopened_file_answers_relation_queries_at_once(tmp_path: Path) -> None:
    """No statement leaves a pending result behind (DuckDB 2 refuses conn.sql() then)."""
    from mlmkit.store.predictions.aggregates import query

    path = tmp_path / "reopen.duckdb"
    with mlmkit.open(path) as ws:
        ws.log.track("m", "1.0.0", True)
    with mlmkit.open(path) as ws:
        assert query(ws.db, "SELECT count(*) AS n FROM predictions")["n"][0] == 1
        with ws.db.connection() as conn:
            conn.execute("SELECT * FROM predictions").fetchone()   # leaves a result pending
        assert query(ws.db, "SELECT count(*) AS n FROM predictions")["n"][0] == 1
