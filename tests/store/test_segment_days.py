"""m012: the stored per-day sums of segments answer exactly what the rows would, after any write.

A segmented regression window reads its whole days from ``regression_segment_days`` (stored by
the read that first computed them). A seeded sequence of every write the log takes (batches
with and without labels, single ``track``, delayed labels new and replaced, labels swapped
between two segments of one day, rebuilds, retention, a second version) checks after each step
that the segmented ``regression_sums`` of several windows and segment arguments equals the raw
statement over the rows, and that a day once stored is read without a scan; the metrics equal
scikit-learn's on the segment's rows filtered first. A second process writing labels and a
read-only reader see the same.
"""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

import mlmkit
from mlmkit.store.engines.tasks import TaskAggregates
from mlmkit.store.predictions import segment_days
from mlmkit.store.predictions.regression_daily import COLUMNS
from mlmkit.values import TimeRange

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 4
REGIONS = np.array(["north", "south", "east", "west"], dtype=object)
SEGMENTS: list[Any] = ["region", ["region", "tier"], {"region": ["north", "east", None]}]
_COUNTS = ("total", "n", "zero_actuals")


def _batch(rng: np.random.Generator, n: int, start: int, version: str = "1.0.0",
           labelled: bool = True) -> pl.DataFrame:
    y = rng.normal(40.0, 15.0, n)
    region = REGIONS[rng.integers(0, len(REGIONS), n)]
    region[rng.random(n) < 0.05] = None  # a missing feature: a segment of its own
    frame: dict[str, Any] = {
        "model_name": "rg", "version": version, "prediction": y + rng.normal(0, 4, n),
        "prediction_id": [f"id{start + i}" for i in range(n)], "region": list(region),
        "tier": rng.integers(1, 3, n).tolist(),
        "timestamp": [T0 + timedelta(seconds=float(s)) for s in rng.uniform(0, DAYS * 86400, n)]}
    if labelled:
        frame["actual"] = y
    return pl.DataFrame(frame, schema_overrides={"timestamp": pl.Datetime("us", "UTC")})


def _spans(rng: np.random.Generator) -> list[TimeRange]:
    spans = [TimeRange(T0, T0 + timedelta(days=DAYS)),  # whole days
             TimeRange(T0 + timedelta(days=1), T0 + timedelta(days=2)),  # one day
             TimeRange(T0 - timedelta(days=1), T0 + timedelta(days=DAYS + 1))]
    a, b = sorted(rng.uniform(0, DAYS, 2))
    spans.append(TimeRange(T0 + timedelta(days=float(a)), T0 + timedelta(days=float(b) + 1)))
    return spans


def _assert_equal_to_rows(ws: mlmkit.Workspace, rng: np.random.Generator) -> None:
    """The segmented sums of every window and segment equal the raw statement's."""
    engine = ws.monitor.engine
    for span in _spans(rng):
        for arg in SEGMENTS:
            seg = engine.resolve_segment("rg", arg)
            for versions in (None, ["1.0.0"]):
                got = engine.regression_sums("rg", versions=versions, time_range=span,
                                             segment=seg)
                want = TaskAggregates.regression_sums(engine, "rg", versions=versions,
                                                      time_range=span, segment=seg)
                keys = ["version", *seg.key_names()]
                assert got.columns == want.columns, (span, arg)
                assert got.select(keys).to_dicts() == want.select(keys).to_dicts(), (span, arg)
                for g, w in zip(got.iter_rows(named=True), want.iter_rows(named=True),
                                strict=True):
                    for name in COLUMNS:
                        ok = g[name] == w[name] if name in _COUNTS else math.isclose(
                            g[name], w[name], rel_tol=1e-9, abs_tol=1e-9)
                        assert ok, (span, arg, versions, name, g[name], w[name])


def _stored(ws: mlmkit.Workspace) -> int:
    return int(ws.db.execute("SELECT count(*) FROM regression_segment_days")[0][0])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_stored_days_equal_the_rows_through_every_write(tmp_path, seed):
    rng = np.random.default_rng(seed)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        for version in ("1.0.0", "2.0.0"):
            ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", version,
                                                      task="regression"))
        ws.log.track_batch(_batch(rng, 600, 0))
        next_id = 600
        _assert_equal_to_rows(ws, rng)
        assert _stored(ws) > 0  # the whole days were stored by the reads
        for step in range(12):
            op = step if step < 7 else int(rng.integers(0, 7))
            if op == 0:  # a batch without labels (totals rise)
                ws.log.track_batch(_batch(rng, 200, next_id, labelled=False))
                next_id += 200
            elif op == 1:  # delayed labels on unlabelled rows (n rises)
                ids = [f"id{i}" for i in rng.choice(next_id, 80, replace=False)]
                ws.log.record_actuals(ids, list(rng.normal(40, 15, 80)), model_name="rg",
                                      on_unknown="skip")
            elif op == 2:  # single predictions with a label
                for i in range(3):
                    ws.log.track("rg", "1.0.0", float(rng.normal(40, 10)),
                                 actual=float(rng.normal(40, 10)), prediction_id=f"one{next_id}",
                                 features={"region": str(rng.choice(REGIONS)), "tier": 1},
                                 timestamp=T0 + timedelta(hours=float(rng.uniform(0, 24 * DAYS))))
                    next_id += 1
            elif op == 3:  # a second version's labelled batch
                ws.log.track_batch(_batch(rng, 150, next_id, version="2.0.0"))
                next_id += 150
            elif op == 4:  # replaced labels: the days go stale, then the job rebuilds them
                ids = [f"id{i}" for i in rng.choice(600, 40, replace=False)]
                ws.log.record_actuals(ids, list(rng.normal(40, 15, 40)), model_name="rg",
                                      version="1.0.0")
                _assert_equal_to_rows(ws, rng)
                ws.monitor.rebuild_regression_days()
            elif op == 5:  # a full rebuild
                ws.monitor.rebuild_regression_days(stale_only=False)
            elif op == 6:  # read twice: the second read changes nothing stored
                before = ws.db.execute("SELECT * FROM regression_segment_days ORDER BY ALL")
                _assert_equal_to_rows(ws, rng)
                assert ws.db.execute("SELECT * FROM regression_segment_days ORDER BY ALL") \
                    == before
            _assert_equal_to_rows(ws, rng)
        ws.log.apply_retention(days=DAYS - 2, now=T0 + timedelta(days=DAYS))
        oldest = ws.db.execute("SELECT min(day) FROM regression_segment_days")[0][0]
        assert oldest >= (T0 + timedelta(days=2)).date()  # retired with their rows
        _assert_equal_to_rows(ws, rng)


def test_labels_swapped_between_segments_are_never_read_from_a_stored_day(tmp_path):
    """Two rows of one day in different segments swap their labels: the day's totals, count
    and sums stay the same, its segments' sums do not. Stale until rebuilt, then recomputed:
    the rebuild deletes the stored day (a fingerprint of the day alone would have kept it)."""
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", "1.0.0",
                                                  task="regression"))
        day = T0 + timedelta(hours=3)
        ws.log.track_batch(pl.DataFrame({
            "model_name": "rg", "version": "1.0.0", "prediction": [10.0, 20.0, 30.0, 40.0],
            "actual": [11.0, 25.0, 29.0, 41.0], "prediction_id": ["a", "b", "c", "d"],
            "region": ["north", "south", "north", "south"],
            "timestamp": [day] * 4}, schema_overrides={"timestamp": pl.Datetime("us", "UTC")}))
        span = TimeRange(T0, T0 + timedelta(days=1))

        def mae() -> dict[str, float]:
            frame = ws.monitor.get_current_metrics("rg", "1.0.0", start=span.start,
                                                   end=span.end, segment="region", min_labels=0)
            return dict(zip(frame["region"].to_list(), frame["mae"].to_list(), strict=True))

        assert mae() == pytest.approx({"north": 1.0, "south": 3.0})
        assert _stored(ws) == 1
        day_row = "SELECT total, n, sum_abs_error FROM regression_daily"
        before = ws.db.execute(day_row)
        ws.log.record_actuals(["a", "b"], [15.0, 21.0], model_name="rg")  # errors 5 and 1
        ws.log.record_actuals(["c", "d"], [29.0, 41.0], model_name="rg")
        assert mae() == pytest.approx({"north": 3.0, "south": 1.0})  # stale: the rows
        ws.monitor.rebuild_regression_days()
        assert ws.db.execute(day_row) == before  # the same day, its segments swapped
        assert _stored(ws) == 0  # the rebuild took the stored day with it
        assert mae() == pytest.approx({"north": 3.0, "south": 1.0})
        assert _stored(ws) == 1
        assert mae() == pytest.approx({"north": 3.0, "south": 1.0})  # from the stored day


def test_a_stored_day_is_read_without_a_scan_and_the_metrics_equal_scikit_learn(tmp_path):
    rng = np.random.default_rng(5)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", "1.0.0",
                                                  task="regression"))
        frame = _batch(rng, 4000, 0)
        ws.log.track_batch(frame)
        engine = ws.monitor.engine
        seg = engine.resolve_segment("rg", "region")
        span = TimeRange(T0 + timedelta(days=1), T0 + timedelta(days=3))
        scans: list[tuple[TimeRange, timedelta | None]] = []

        def raw(part: TimeRange, step: timedelta | None) -> pl.DataFrame:
            scans.append((part, step))
            return TaskAggregates.regression_sums(engine, "rg", time_range=part, interval=step,
                                                  segment=seg).drop("shift_actual")

        first = segment_days.window_sums(ws.db, "rg", None, span, "served", seg, raw)
        assert scans == [(span, timedelta(days=1))]  # both days in one statement, by day
        scans.clear()
        again = segment_days.window_sums(ws.db, "rg", None, span, "served", seg, raw)
        assert scans == [] and again.equals(first)
        edge = TimeRange(T0 + timedelta(days=1), T0 + timedelta(days=3, hours=5))
        segment_days.window_sums(ws.db, "rg", None, edge, "served", seg, raw)
        assert scans == [(TimeRange(T0 + timedelta(days=3), edge.end), None)]  # the edge only

        got = ws.monitor.get_current_metrics("rg", "1.0.0", start=span.start, end=span.end,
                                             segment="region", min_labels=0)
        part = frame.filter(pl.col("timestamp") >= span.start, pl.col("timestamp") < span.end)
        for row in got.iter_rows(named=True):
            rows = part.filter(pl.col("region").is_null() if row["region"] is None
                               else pl.col("region") == row["region"])
            y, p = rows["actual"].to_numpy(), rows["prediction"].to_numpy()
            assert row["sample_count"] == rows.height
            assert row["mae"] == pytest.approx(mean_absolute_error(y, p), rel=1e-9)
            assert row["rmse"] == pytest.approx(root_mean_squared_error(y, p), rel=1e-9)
            assert row["r2"] == pytest.approx(r2_score(y, p), rel=1e-9)


_LABELS = """
import sys
import mlmkit
with mlmkit.open(sys.argv[1]) as ws:
    ws.log.record_actuals([f"id{i}" for i in range(0, 600, 3)], [40.0] * 200, model_name="rg")
"""


@pytest.mark.slow
def test_a_second_process_and_a_read_only_reader_see_the_rows(tmp_path):
    """Days stored by one process; another labels rows of them; the first reads again (the
    changed ``n`` retires the stored days); a read-only workspace reads without storing."""
    rng = np.random.default_rng(9)
    path = tmp_path / "ws.duckdb"
    with mlmkit.open(path) as ws:
        ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", "1.0.0",
                                                  task="regression"))
        ws.log.track_batch(_batch(rng, 600, 0, labelled=False))
        ws.log.record_actuals([f"id{i}" for i in range(1, 600, 3)], [30.0] * 200,
                              model_name="rg")
        _assert_equal_to_rows(ws, rng)
        stored = _stored(ws)
        assert stored > 0
        ws.db.release()  # (let the other process in)
        proc = subprocess.run([sys.executable, "-c", _LABELS, str(path)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        _assert_equal_to_rows(ws, rng)
    with mlmkit.open(path, read_only=True) as reader:
        reader.db.execute("SELECT 1")
        before = reader.db.execute("SELECT * FROM regression_segment_days ORDER BY ALL")
        span = TimeRange(T0 + timedelta(days=1), T0 + timedelta(days=2))
        seg = reader.monitor.engine.resolve_segment("rg", ["region", "tier"])
        got = reader.monitor.engine.regression_sums("rg", time_range=span, segment=seg)
        want = TaskAggregates.regression_sums(reader.monitor.engine, "rg", time_range=span,
                                              segment=seg)
        assert got.select("total", "n").to_dicts() == want.select("total", "n").to_dicts()
        assert reader.db.execute("SELECT * FROM regression_segment_days ORDER BY ALL") == before


_KILLED = """
import contextlib, os, signal, sys
from datetime import UTC, datetime, timedelta
import mlmkit
T0 = datetime(2026, 3, 1, tzinfo=UTC)
with mlmkit.open(sys.argv[1]) as ws:
    begin = ws.db.transaction

    @contextlib.contextmanager
    def dying():  # the INSERT of the stored days done, the COMMIT never reached
        with begin() as conn:
            yield conn
            os.kill(os.getpid(), signal.SIGKILL)

    ws.db.transaction = dying
    ws.monitor.get_current_metrics("rg", "1.0.0", start=T0, end=T0 + timedelta(days=2),
                                   segment="region", min_labels=0)
"""


@pytest.mark.slow
def test_a_kill_while_storing_the_days_leaves_none_and_the_next_read_stores_them(tmp_path):
    """kill -9 of a reader between the INSERT of the days it computed and its COMMIT."""
    rng = np.random.default_rng(11)
    path = tmp_path / "ws.duckdb"
    with mlmkit.open(path) as ws:
        ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", "1.0.0",
                                                  task="regression"))
        ws.log.track_batch(_batch(rng, 800, 0))
    proc = subprocess.run([sys.executable, "-c", _KILLED, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr  # (killed, as planned)
    with mlmkit.open(path) as ws:
        assert _stored(ws) == 0  # nothing half-stored
        _assert_equal_to_rows(ws, rng)  # the next reads compute and store them
        assert _stored(ws) > 0
        _assert_equal_to_rows(ws, rng)
