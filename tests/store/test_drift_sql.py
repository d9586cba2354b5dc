"""drift_sql: one-scan side statistics and histograms against numpy on the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.store.predictions import drift as drift_sql
from mlmkit.values import TimeRange

END = datetime(2026, 3, 8, tzinfo=UTC)
REF = drift_sql.Side(("1.0.0",), TimeRange(END - timedelta(days=2), END - timedelta(days=1)))
CUR = drift_sql.Side(("1.0.0",), TimeRange(END - timedelta(days=1), END))


@pytest.fixture(scope="module")
def logged():
    rng = np.random.default_rng(5)
    n = 4000
    side = rng.random(n) < 0.5
    x = rng.normal(size=n) + side
    x[rng.random(n) < 0.05] = np.nan
    c = rng.choice(["u", "v", "w"], n)
    ts = [END - timedelta(days=1.5 if s == 0 else 0.5, seconds=float(i)) for i, s in
          enumerate(side.astype(int))]
    ws = mlmkit.open()
    frame = pl.DataFrame({"model_name": "m", "version": "1.0.0", "prediction": True,
                          "x": pl.Series(x).fill_nan(None), "c": c, "timestamp": ts})
    ws.log.track_batch(frame)
    cols = ws.predictions_store.feature_map("m", refresh=True)
    yield ws, frame.with_columns(side=pl.Series(side.astype(int))), cols
    ws.close()


def test_side_stats_equal_numpy(logged):
    ws, frame, cols = logged
    stats, counts = drift_sql.side_stats(ws.db, "m", [cols["x"][0]], [cols["c"][0]], REF, CUR)
    x0 = frame.filter(pl.col("side") == 0)["x"].drop_nulls().to_numpy()
    x1 = frame.filter(pl.col("side") == 1)["x"].drop_nulls().to_numpy()
    st = stats.row(0, named=True)
    assert (st["n_ref"], st["n_cur"]) == (x0.size, x1.size)
    assert st["lo"] == min(x0.min(), x1.min()) and st["hi"] == max(x0.max(), x1.max())
    assert st["ref_std"] == pytest.approx(x0.std(), rel=1e-12)
    want = frame.group_by("side", "c").len().sort("side", "c")
    got = counts.sort("side", "value")
    assert got["n"].to_list() == want["len"].to_list()
    assert got["value"].to_list() == want["c"].to_list()


def test_histograms_equal_numpy(logged):
    ws, frame, cols = logged
    col = cols["x"][0]
    lo, hi = -5.0, 6.0
    got = drift_sql.numeric_histograms(ws.db, "m", {col: (lo, hi)}, REF, CUR, bins=50)[col]
    for side in (0, 1):
        x = frame.filter(pl.col("side") == side)["x"].drop_nulls().to_numpy()
        want, _ = np.histogram(np.clip(x, lo, hi), bins=50, range=(lo, hi))
        assert got[side].tolist() == want.tolist()
