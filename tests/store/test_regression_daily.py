"""m011: per-day regression statistics stay equal to the rows through every kind of write.

A seeded sequence of every write the log takes (batches with and without labels, single
``track``, delayed labels new and replaced, scoped by model and version, ids shared by two
versions, the server's label groups, refused writes, retention) checks after each step that
the table equals a fresh aggregate of the rows (stale days excepted: they are read raw) and
that ``regression_sums`` of random windows equals the raw statement; the metrics equal
scikit-learn's on the window's rows.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

import mlmkit
from mlmkit.exceptions import DuplicateError, NotFoundError
from mlmkit.store.engines.tasks import TaskAggregates
from mlmkit.store.predictions import regression_daily
from mlmkit.store.predictions.regression_daily import COLUMNS, aggregate
from mlmkit.values import TimeRange

sys.path.insert(0, str(Path(__file__).parent))
from _old_schema import schema_file  # a helper module beside the tests, not a package

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 6
_COUNTS = ("total", "n", "zero_actuals")


def _close(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)  # type: ignore[arg-type]


def _table_matches_rows(ws: mlmkit.Workspace) -> None:
    cols = ", ".join(COLUMNS)
    keys = "model_name, version, role, day"
    got = {r[:4]: r for r in ws.db.execute(
        f"SELECT {keys}, stale, first_ts, last_ts, {cols} FROM regression_daily")}
    want = {r[:4]: r for r in ws.db.execute(
        f"SELECT {keys}, stale, first_ts, last_ts, {cols} FROM ({aggregate('predictions')})")}
    assert set(got) == set(want)
    for key, row in got.items():
        assert row[5:7] == want[key][5:7], key  # first / last ts
        if row[4]:  # stale: read raw until rebuilt
            continue
        for name, a, b in zip(COLUMNS, row[7:], want[key][7:], strict=True):
            assert (a == b) if name in _COUNTS else _close(a, b), (key, name, a, b)


def _windows_match_raw(ws: mlmkit.Workspace, rng: np.random.Generator) -> None:
    engine = ws.monitor.engine
    spans = [TimeRange(T0, T0 + timedelta(days=DAYS)),
             TimeRange(T0 - timedelta(days=2), T0 + timedelta(days=DAYS + 2))]
    for _ in range(4):
        a, b = sorted(rng.uniform(-0.5, DAYS + 0.5, 2))
        spans.append(TimeRange(T0 + timedelta(days=float(a)), T0 + timedelta(days=float(b))))
    spans.append(TimeRange(T0 + timedelta(days=1), T0 + timedelta(days=3)))  # whole days
    for span in spans:
        for versions, role in ((None, "served"), (["1.0.0"], "served"), (["2.0.0"], None)):
            got = engine.regression_sums("rg", versions=versions, time_range=span, role=role)
            want = TaskAggregates.regression_sums(engine, "rg", versions=versions,
                                                  time_range=span, role=role)
            assert got.columns == want.columns and got["version"].to_list() == \
                want["version"].to_list(), (span, versions)
            for g, w in zip(got.iter_rows(named=True), want.iter_rows(named=True),
                            strict=True):
                for name in COLUMNS:
                    ok = g[name] == w[name] if name in _COUNTS else _close(g[name], w[name])
                    assert ok, (span, versions, role, name, g[name], w[name])


def _batch(rng: np.random.Generator, n: int, start: int, version: str, labelled: bool,
           role: str = "served") -> pl.DataFrame:
    y = rng.normal(40.0, 15.0, n)
    y[rng.random(n) < 0.05] = 0.0  # zero actuals: MAPE skips them
    frame = {"model_name": "rg", "version": version, "prediction": y + rng.normal(0, 4, n),
             "prediction_id": [f"id{start + i}" for i in range(n)], "role": role,
             "timestamp": [T0 + timedelta(seconds=float(s))
                           for s in rng.uniform(0, DAYS * 86400, n)]}
    if labelled:
        frame["actual"] = y
    return pl.DataFrame(frame, schema_overrides={"timestamp": pl.Datetime("us", "UTC")})


def _label_groups(ws: mlmkit.Workspace, ids: list[str], values: list[float | None],
                  version: str | None) -> None:
    n = len(ids)
    ws.log.store.record_label_requests(pa.table({
        "request": pa.array([0] * n, pa.int64()), "ordinal": pa.array(range(n), pa.int64()),
        "prediction_id": ids, "model_name": ["rg"] * n,
        "version": pa.array([version] * n, pa.string()),
        "actual": pa.array([None] * n, pa.bool_()),
        "actual_label": pa.array([None] * n, pa.string()),
        "actual_value": pa.array(values, pa.float64())}), T0 + timedelta(days=DAYS))


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "small"), [(1, 2000), (2, 2000), (3, 0), (4, 0)])
def test_every_write_keeps_the_days_equal_to_the_rows(tmp_path, monkeypatch, seed, small):
    """``small``: `regression_daily.SMALL` (0: every write through DuckDB's aggregate)."""
    monkeypatch.setattr(regression_daily, "SMALL", small)
    rng = np.random.default_rng(seed)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        for version in ("1.0.0", "2.0.0"):
            ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", version,
                                                      task="regression"))
        ws.registry.register(mlmkit.ModelMetadata("bin", "supervised", "1.0.0"))
        next_id = 0
        for step in range(14):
            op = step if step < 9 else int(rng.choice([0, 1, 3, 4, 5, 6, 7, 8]))
            if op in (0, 1):  # a batch, labelled or not, either version
                ws.log.track_batch(_batch(rng, 400, next_id, ("1.0.0", "2.0.0")[op], op == 0))
                next_id += 400
            elif op == 2:  # the same ids under the other version, shadow rows: ids shared
                ws.log.track_batch(_batch(rng, 50, 0, "2.0.0", False, role="shadow"))
            elif op == 3:  # single predictions, with and without a label
                for i in range(5):
                    ws.log.track("rg", "1.0.0", float(rng.normal(40, 10)),
                                 actual=float(rng.normal(40, 10)) if i % 2 else None,
                                 prediction_id=f"one{next_id + i}",
                                 timestamp=T0 + timedelta(hours=float(rng.uniform(0, 24 * DAYS))))
                next_id += 5
            elif op == 4:  # delayed labels: new ones, and replacements of logged ones
                ids = [f"id{i}" for i in rng.choice(next_id, 60, replace=False)]
                ws.log.record_actuals(ids, list(rng.normal(40, 15, 60)), model_name="rg",
                                      on_unknown="skip")
            elif op == 5:  # scoped to a version
                ids = [f"id{i}" for i in rng.choice(min(next_id, 400), 30, replace=False)]
                ws.log.record_actuals(ids, list(rng.normal(40, 15, 30)), model_name="rg",
                                      version="2.0.0", on_unknown="skip")
            elif op == 6:  # the server's label groups (both versions when unscoped)
                ids = sorted({f"id{i}" for i in rng.choice(50, 12, replace=False)})
                _label_groups(ws, ids, list(rng.normal(40, 15, len(ids))), None)
            elif op == 7:  # refused writes change nothing
                before = ws.db.execute("SELECT * FROM regression_daily ORDER BY ALL")
                with pytest.raises(DuplicateError):
                    ws.log.track_batch(_batch(rng, 10, 0, "1.0.0", True))
                with pytest.raises(NotFoundError):
                    ws.log.record_actuals(["id0", "nope"], [1.0, 2.0], model_name="rg")
                assert ws.db.execute("SELECT * FROM regression_daily ORDER BY ALL") == before
            elif op == 8:  # binary rows never reach the table
                ws.log.track_batch(pl.DataFrame({"model_name": "bin", "version": "1.0.0",
                                                 "prediction": [True, False],
                                                 "actual": [True, True]}))
            _table_matches_rows(ws)
            _windows_match_raw(ws, rng)
        assert ws.db.execute("SELECT count(*) FROM regression_daily WHERE stale")[0][0] > 0
        assert ws.monitor.rebuild_regression_days() > 0
        assert ws.db.execute("SELECT count(*) FROM regression_daily WHERE stale")[0][0] == 0
        _table_matches_rows(ws)
        _windows_match_raw(ws, rng)
        # retention removes the days with their rows
        ws.log.apply_retention(days=DAYS - 3, now=T0 + timedelta(days=DAYS))
        _table_matches_rows(ws)
        _windows_match_raw(ws, rng)


def test_window_metrics_from_the_days_equal_scikit_learn(tmp_path):
    rng = np.random.default_rng(7)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", "1.0.0",
                                                  task="regression"))
        frame = _batch(rng, 3000, 0, "1.0.0", True)
        ws.log.track_batch(frame)
        start, end = T0 + timedelta(days=1), T0 + timedelta(days=4)
        assert ws.db.execute("SELECT count(*) FROM regression_daily")[0][0] == DAYS
        m = ws.monitor.get_current_metrics("rg", "1.0.0", start=start, end=end, min_labels=0)
        part = frame.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))
        y, p = part["actual"].to_numpy(), part["prediction"].to_numpy()
        assert m["mae"] == pytest.approx(mean_absolute_error(y, p), rel=1e-9)
        assert m["rmse"] == pytest.approx(root_mean_squared_error(y, p), rel=1e-9)
        assert m["r2"] == pytest.approx(r2_score(y, p), rel=1e-9)


def test_an_m010_file_is_backfilled(tmp_path):
    path = tmp_path / "old.duckdb"
    conn = schema_file(path, 10, T0)
    conn.execute("INSERT INTO predictions (prediction_id, model_name, version, ts, value, "
                 "actual_value, role) SELECT 'p' || i, 'rg', '1.0.0', ? + i * INTERVAL 1 HOUR, "
                 "i * 0.5, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 0.4 END, 'served' "
                 "FROM range(100) t(i)", [T0])
    conn.close()
    with mlmkit.open(path) as ws:
        assert ws.db.execute("SELECT max(version) FROM schema_version")[0][0] >= 11
        assert ws.db.execute("SELECT sum(total), sum(n) FROM regression_daily") == [(100, 66)]
        _table_matches_rows(ws)


def test_whole_days_are_read_without_a_scan(tmp_path):
    """A window of whole days (ending at a midnight with rows after it) scans nothing."""
    from mlmkit.store.predictions.regression_daily import window_sums

    rng = np.random.default_rng(3)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", "1.0.0",
                                                  task="regression"))
        ws.log.track_batch(_batch(rng, 2000, 0, "1.0.0", True))
        scans: list[TimeRange] = []

        def raw(part: TimeRange) -> pl.DataFrame:
            scans.append(part)
            return TaskAggregates.regression_sums(ws.monitor.engine, "rg", time_range=part)

        span = TimeRange(T0 + timedelta(days=1), T0 + timedelta(days=4))
        got = window_sums(ws.db, "rg", None, span, "served", raw)
        assert scans == [] and got["total"].to_list() == raw(span)["total"].to_list()
        edge = TimeRange(T0 + timedelta(days=1, hours=6), T0 + timedelta(days=4))
        scans.clear()
        window_sums(ws.db, "rg", None, edge, "served", raw)
        assert scans == [TimeRange(edge.start, T0 + timedelta(days=2))]  # the edge day only


_WRITER = """
import sys
from datetime import UTC, datetime, timedelta
import numpy as np, polars as pl, mlmkit
path, k = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(k)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
with mlmkit.open(path) as ws:
    for b in range(6):
        y = rng.normal(40, 15, 300)
        ids = [f"p{k}-{b}-{i}" for i in range(300)]
        ws.log.track_batch(pl.DataFrame(
            {"model_name": "rg", "version": "1.0.0", "prediction": y + rng.normal(0, 4, 300),
             "prediction_id": ids, "timestamp": [T0 + timedelta(seconds=float(s))
                                                 for s in rng.uniform(0, 3 * 86400, 300)]},
            schema_overrides={"timestamp": pl.Datetime("us", "UTC")}))
        ws.log.track("rg", "1.0.0", float(y[0]), actual=float(y[1]),
                     timestamp=T0 + timedelta(hours=b))
        ws.log.record_actuals(ids[:200], list(y[:200]), model_name="rg")  # late labels
"""


@pytest.mark.slow
def test_two_processes_writing_at_once_keep_the_days_equal_to_the_rows(tmp_path):
    """Two processes log batches, single rows and late labels into one file at the same time
    (the lease hands the file back and forth between their transactions)."""
    import subprocess

    path = tmp_path / "ws.duckdb"
    with mlmkit.open(path) as ws:
        ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", "1.0.0",
                                                  task="regression"))
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(k)],
                              stderr=subprocess.PIPE, text=True) for k in (1, 2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    with mlmkit.open(path) as ws:
        assert ws.db.execute("SELECT sum(total), sum(n) FROM regression_daily") == \
            [(2 * 6 * 301, 2 * 6 * 201)]
        _table_matches_rows(ws)
        _windows_match_raw(ws, np.random.default_rng(0))
