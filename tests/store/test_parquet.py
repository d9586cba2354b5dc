"""Hive-partitioned Parquet export / read-back of the prediction log."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import mlmkit
from mlmkit.exceptions import ValidationError
from mlmkit.store.predictions.parquet import export_parquet, read_parquet
from mlmkit.values import utcnow


@pytest.fixture
def ws(tmp_path):
    rng = np.random.default_rng(5)
    now = (utcnow() - timedelta(days=1)).replace(hour=12)  # past: future rows are refused
    frames = []
    for model, n in (("a", 300), ("b", 200)):
        frames.append(pl.DataFrame({
            "model_name": model, "version": "1.0.0", "prediction": rng.random(n) < 0.5,
            "actual": rng.random(n) < 0.5, "score": rng.random(n),
            "timestamp": [now - timedelta(hours=float(h)) for h in rng.uniform(0, 70, n)],
            "amount": rng.normal(size=n), "country": rng.choice(["de", "fr"], n)}))
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.log.track_batch(pl.concat(frames))
        ws.now = now
        yield ws


def test_export_partitions_and_round_trip(ws, tmp_path):
    out = tmp_path / "log"
    assert export_parquet(ws, out) == 500
    models = sorted(p.name for p in out.iterdir())
    assert models == ["model_name=a", "model_name=b"]
    days = {p.name for p in (out / "model_name=a").iterdir()}
    assert len(days) in (3, 4) and all(d.startswith("date=") for d in days)
    back = read_parquet(out, model_name="a")
    orig = ws.log.predictions("a")
    cols = ["prediction_id", "version", "ts", "prediction", "actual", "score", "amount",
            "country"]
    assert_frame_equal(back.select(cols).sort("prediction_id"),
                       orig.select(cols).sort("prediction_id"), check_dtypes=False)
    assert set(back["model_name"]) == {"a"}


def test_time_filter_and_aggregates_match(ws, tmp_path):
    out = tmp_path / "log"
    export_parquet(ws, out, partition_by=("model_name", "version", "date"))
    start = ws.now - timedelta(hours=24)
    part = read_parquet(out, start=start, end=ws.now)
    orig = pl.concat([ws.log.predictions(m, start=start, end=ws.now) for m in ("a", "b")])
    assert part.height == orig.height
    acc = part.group_by("model_name").agg((pl.col("actual") == pl.col("prediction")).sum())
    ref = orig.group_by("model_name").agg((pl.col("actual") == pl.col("prediction")).sum())
    assert_frame_equal(acc.sort("model_name"), ref.sort("model_name"), check_dtypes=False)


def test_refusals_and_overwrite(ws, tmp_path):
    out = tmp_path / "log"
    export_parquet(ws, out, model_name="b")
    with pytest.raises(ValidationError, match="path must be an empty"):
        export_parquet(ws, out)
    assert export_parquet(ws, out, overwrite=True) == 500
    assert read_parquet(out).height == 500
    with pytest.raises(ValidationError, match="partition_by must be one of"):
        export_parquet(ws, tmp_path / "x", partition_by=("hour",))
    with pytest.raises(ValidationError, match="path must be a directory"):
        read_parquet(tmp_path / "missing")
