"""The monitoring job opens its engine's scope once per model (Spark then caches by itself)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

import mlmkit
from mlmkit.services.jobs import run_job, snapshots
from mlmkit.store.engines import export_dataset
from mlmkit.store.engines.parquet import ParquetEngine
from mlmkit.values import TimeRange, utcnow


class _Recording(ParquetEngine):
    """The Parquet engine, noting each scope and the window reads made inside one."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.scopes: list[tuple[str, TimeRange | None]] = []
        self.inside: list[str] = []
        self._open: str | None = None

    @contextmanager
    def _block(self, model_name: str, time_range: TimeRange | None) -> Iterator[None]:
        self.scopes.append((model_name, time_range))
        self._open = model_name
        try:
            yield
        finally:
            self._open = None

    def scope(self, model_name: str, time_range: TimeRange | None = None):  # type: ignore[override]
        return self._block(model_name, time_range)

    def _partials(self, stmt, params, model, span=(None, None), *, split=True, groups=0):  # type: ignore[no-untyped-def]
        if self._open is not None:
            assert model == self._open
            self.inside.append(model)
        return super()._partials(stmt, params, model, span, split=split, groups=groups)


def test_performance_monitoring_reads_each_model_inside_one_scope(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    now = utcnow()
    db, root = tmp_path / "ws.duckdb", tmp_path / "dataset"
    with mlmkit.open(db) as ws:
        for model in ("a", "b"):
            ws.registry.register(mlmkit.ModelMetadata(model, "supervised", "1.0.0"))
            ws.registry.deploy(model, "1.0.0", "production")
            n = 400
            ws.log.track_batch(pl.DataFrame({
                "model_name": model, "version": "1.0.0", "prediction": rng.random(n) < 0.5,
                "score": rng.random(n), "actual": rng.random(n) < 0.5,
                "timestamp": [now - timedelta(hours=float(h)) for h in rng.uniform(0, 20, n)]}))
        export_dataset(ws.db, root)
        plain = run_job(ws, "performance-monitoring", now=now, window="24h")
        want = snapshots(ws).select("model_name", "metric", "value").sort("model_name", "metric")
        ws.db.execute("DELETE FROM metric_snapshots")
    engine = _Recording(root)
    with engine, mlmkit.open(db, engine=engine) as ws:
        run = run_job(ws, "performance-monitoring", now=now, window="24h")
        got = snapshots(ws).select("model_name", "metric", "value").sort("model_name", "metric")
    assert plain.changed == run.changed == 2
    span = TimeRange(now - timedelta(hours=24), now)
    assert engine.scopes == [("a", span), ("b", span)]
    assert sorted(set(engine.inside)) == ["a", "b"]
    assert_frame_equal(got, want, abs_tol=1e-12)  # the same metrics (sums to rounding)
