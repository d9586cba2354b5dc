"""Label requests find their rows by the prediction_id index: their cost does not grow with the
log (before: two hash joins over the whole table, 260-444 ms for 8 labels at 1e6 rows)."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

import pyarrow as pa
import pytest

import mlmkit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _labels(ids: list[str]) -> pa.Table:
    n = len(ids)
    return pa.table({"request": pa.array([0] * n, pa.int64()),
                     "ordinal": pa.array(range(n), pa.int64()), "prediction_id": ids,
                     "model_name": ["m"] * n, "version": pa.array([None] * n, pa.string()),
                     "actual": [True] * n, "actual_label": pa.array([None] * n, pa.string()),
                     "actual_value": pa.array([None] * n, pa.float64())})


def _median_label_time(ws: mlmkit.Workspace, rows: int) -> float:
    ws.db.execute("INSERT INTO predictions (prediction_id, model_name, version, ts, prediction, "
                  "score, role) SELECT md5(i::VARCHAR), 'm', '1.0.0', ?, true, 0.5, 'served' "
                  "FROM range(?) t(i)", [T0, rows])
    ids = [r[0] for r in ws.db.execute("SELECT md5((i * 97)::VARCHAR) FROM range(8) t(i)")]
    found = ws.log.store.record_label_requests(_labels(ids), T0)
    assert found == {0: (8, 0, None)}
    times = []
    for _ in range(5):
        began = time.perf_counter()
        ws.log.store.record_label_requests(_labels(ids), T0)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


@pytest.mark.slow
def test_eight_labels_cost_about_the_same_at_1e3_and_1e6_rows(tmp_path):
    with mlmkit.open(tmp_path / "small.duckdb") as ws:
        small = _median_label_time(ws, 1_000)
    with mlmkit.open(tmp_path / "big.duckdb") as ws:
        big = _median_label_time(ws, 1_000_000)
        assert ws.db.execute("SELECT count(*) FROM actuals")[0][0] == 6 * 8
    assert big < 4 * small + 0.010, (small, big)
