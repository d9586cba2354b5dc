"""The dataset on disk: round trip through import, incremental export, file sizes, refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import mlmkit
from mlmkit.exceptions import NotFoundError, ValidationError
from mlmkit.ops.dataset_commands import import_dataset
from mlmkit.store.engines.dataset import MANIFEST, ROW_GROUP_SIZE, export_dataset

from .conftest import END, MODELS, START, _rows
from .test_services import RUNS, _same


def _day_files(root: Path) -> dict[str, tuple[float, int]]:
    """``{relative path: (mtime, size)}`` of every data file."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in root.rglob("*.parquet")}


def test_round_trip_gives_the_same_rows_and_metrics(dataset: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    db, root = dataset
    target = tmp_path / "copy.duckdb"
    with mlmkit.open(target) as ws:
        done = import_dataset(ws, root)
        assert done["skipped"] == 0 and done["registered"] == 6  # 3 models x 2 versions
        assert ws.registry.get("fraud", "1.1.0").model_type.value == "supervised"
    with mlmkit.open(db) as src, mlmkit.open(target) as dst:
        assert done["rows"] == src.log.count() == dst.log.count()
        for model in MODELS:  # every column, labels and label times included
            a, b = (w.log.predictions(model).sort("version", "role", "prediction_id")
                    for w in (src, dst))
            assert_frame_equal(a, b)
        for name, run in RUNS.items():
            _same(run(src), run(dst))


def test_import_twice_skips_the_days_it_holds(dataset: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    _, root = dataset
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        first = import_dataset(ws, root, model_name="spam")
        again = import_dataset(ws, root, model_name=["spam"])
        assert (first["days"], first["skipped"]) == (8, 0)
        assert (again["days"], again["rows"], again["skipped"]) == (0, 0, 8)
        assert ws.log.count("spam") == first["rows"] and ws.log.count("fraud") == 0
        with pytest.raises(NotFoundError, match="'nope'"):
            import_dataset(ws, root, model_name="nope")


def test_a_day_that_fails_validation_is_not_imported_at_all(tmp_path: Path) -> None:
    src, root = tmp_path / "a.duckdb", tmp_path / "ds"
    with mlmkit.open(src) as ws:
        ws.log.track_batch(_rows(np.random.default_rng(3), "m", "1.0.0", 500, 0.0))
        export_dataset(ws.db, root)
    last = sorted(root.rglob("*.parquet"))[-1]
    frame = pl.read_parquet(last, hive_partitioning=False)
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("nope"))
                               .otherwise(pl.col("role")).alias("role"))
    frame.write_parquet(last)
    with mlmkit.open(tmp_path / "b.duckdb") as ws:
        with pytest.raises(ValidationError, match="role"):
            import_dataset(ws, root)
        assert ws.log.count("m") == 500 - frame.height  # the 7 days before, nothing of it


def test_incremental_export_rewrites_only_the_changed_days(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    root = tmp_path / "ds"
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("m", "supervised", "1.0.0"))
        ws.log.track_batch(_rows(rng, "m", "1.0.0", 4000, 0.0).with_columns(
            actual=pl.lit(None, pl.Boolean)))
        first = export_dataset(ws.db, root)
        assert (first["days"], first["skipped"], first["files"]) == (8, 0, 8)
        before = _day_files(root)
        manifest = json.loads((root / MANIFEST).read_text())
        # late labels on one old day, and a new day
        old_day = (START + timedelta(days=2)).date()
        ids = ws.log.predictions("m", start=datetime.combine(old_day, datetime.min.time(), UTC),
                                 end=datetime.combine(old_day, datetime.min.time(), UTC)
                                 + timedelta(days=1))["prediction_id"]
        ws.log.record_actuals(ids[:50], [True] * 50, model_name="m")
        new = _rows(rng, "m", "1.0.0", 300, 0.0).with_columns(
            timestamp=pl.lit(END) + pl.duration(seconds=pl.int_range(pl.len()) * 60),
            prediction_id=pl.format("new-{}", pl.int_range(pl.len())))
        ws.log.track_batch(new)
        again = export_dataset(ws.db, root)
    assert (again["days"], again["skipped"], again["rows"]) == (2, 7, len(ids) + 300)
    after = _day_files(root)
    changed = {f for f in after if after[f] != before.get(f)}
    assert len(changed) == 2 and f"date={old_day}" in " ".join(changed)
    assert {f for f in after if f not in before} <= changed
    updated = json.loads((root / MANIFEST).read_text())
    days = updated["models"]["m"]["days"]
    assert len(days) == 9 and days[str(old_day)]["fingerprint"][1] == 50
    assert days[str(old_day)]["fingerprint"] != manifest["models"]["m"]["days"][
        str(old_day)]["fingerprint"]


def test_a_large_day_is_one_file_of_full_row_groups(tmp_path: Path) -> None:
    n, day = 300_000, datetime(2026, 1, 5, tzinfo=UTC)
    rng = np.random.default_rng(5)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.log.track_batch(pl.DataFrame({
            "model_name": "big", "version": "1.0.0", "prediction": rng.random(n) < 0.5,
            "score": rng.random(n), "x": rng.random(n),
            "timestamp": [day + timedelta(milliseconds=250 * i) for i in range(n)]}))
        done = export_dataset(ws.db, tmp_path / "ds", compression="snappy")
    assert (done["rows"], done["files"]) == (n, 1)
    (path,) = (tmp_path / "ds").rglob("*.parquet")
    meta = pq.ParquetFile(path).metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert meta.num_rows == n and groups[:-1] == [ROW_GROUP_SIZE] * (len(groups) - 1)
    assert done["bytes"] == path.stat().st_size


def test_export_refusals(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = dataset
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("not a dataset")
    with mlmkit.open(db) as ws:
        with pytest.raises(NotFoundError, match="'nope'"):
            export_dataset(ws.db, tmp_path / "a", model_name=["fraud", "nope"])
        with pytest.raises(ValidationError, match="path"):
            export_dataset(ws.db, tmp_path / "other")
        with pytest.raises(ValidationError, match="compression"):
            export_dataset(ws.db, tmp_path / "b", compression="lz5")
        done = export_dataset(ws.db, tmp_path / "two", model_name=["fraud", "spam"])
    assert sorted(json.loads((tmp_path / "two" / MANIFEST).read_text())["models"]) == [
        "fraud", "spam"] and done["days"] == 16
