"""One seeded, exported dataset shared by the engine parity tests (built once per session)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.store.database import Database
from mlmkit.store.engines import ParquetEngine, WorkspaceEngine
from mlmkit.store.engines.dataset import export_dataset
from mlmkit.store.engines.segment_limit import ENV

END = datetime(2026, 3, 9, tzinfo=UTC)
START = END - timedelta(days=8)
MODELS = ("fraud", "churn", "spam")


def _rows(rng: np.random.Generator, model: str, version: str, n: int, shift: float,
          role: str = "served", ids: np.ndarray | None = None) -> pl.DataFrame:
    y = rng.random(n) < 0.3
    score = np.clip(0.3 + 0.35 * y + rng.normal(shift, 0.15, n), 0, 1)
    ts = [START + timedelta(microseconds=int(s)) for s in rng.random(n) * 8 * 86400e6]
    actual = pl.Series(y).set(pl.Series(rng.random(n) < 0.2), None)  # 20 % unlabelled
    x = rng.normal(shift, 1, n)
    x[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame({
        "model_name": model, "version": version, "prediction": score >= 0.5, "score": score,
        "actual": actual, "timestamp": ts, "role": role,
        "prediction_id": ids if ids is not None else [f"{model}-{version}-{role}-{i}"
                                                      for i in range(n)],
        "amount": x, "age": rng.integers(18, 90, n).astype(float),
        "country": rng.choice(["fr", "de", "us", "br"], n, p=[0.4, 0.3, 0.2, 0.1])})


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(workspace file, dataset dir)``: 3 models x 2 versions over 8 days, one shadow pair."""
    root = tmp_path_factory.mktemp("engines")
    db, out = root / "ws.duckdb", root / "dataset"
    rng = np.random.default_rng(7)
    with mlmkit.open(db) as ws:
        for model in MODELS:
            for version in ("1.0.0", "1.1.0"):
                ws.registry.register(mlmkit.ModelMetadata(model, "supervised", version))
            ws.log.track_batch(_rows(rng, model, "1.0.0", 6000, 0.0))
            ws.log.track_batch(_rows(rng, model, "1.1.0", 3000, 0.05))
        ids = np.array([f"pair-{i}" for i in range(2000)])
        ws.log.track_batch(_rows(rng, "fraud", "1.1.0", 2000, 0.1, role="shadow", ids=ids))
        ws.log.track_batch(_rows(rng, "fraud", "1.0.0", 2000, 0.0, ids=ids))
        export_dataset(ws.db, out)
    return db, out


@pytest.fixture(scope="module")
def engines(dataset: tuple[Path, Path]) -> Iterator[dict[str, Any]]:
    """The workspace engine and the Parquet engine (1 and 2 workers) over `dataset`."""
    db_path, root = dataset
    db = Database(db_path, read_only=True)
    with ParquetEngine(root) as local, ParquetEngine(root, workers=2) as pool:
        yield {"workspace": WorkspaceEngine(db), "parquet": local, "parquet-2": pool}
    db.close()


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local SparkSession per test run (2 cores, 2 shuffle partitions, UTC)."""
    pytest.importorskip("pyspark", reason="pyspark is not installed: pip install 'mlmkit[spark]'")
    from mlmkit.store.engines.spark import local_session

    session = local_session(master="local[2]", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _every_segment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine parity cases group by a continuous feature too (thousands of segments): parity
    is the question here, not the per-call segment limit (tests/services/test_segment_limit)."""
    monkeypatch.setenv(ENV, "1000000")
