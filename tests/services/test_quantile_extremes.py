"""Residual and score quantiles when one extreme value stretches the window's range.

Before: every quantile was interpolated across one stretched bin (a residual median of 46
for residuals of sd 1 beside one of 1e6). Now, through the services: close to numpy's
exact quantiles and bracketed by a fine ``[low, high]``; the same figures per segment as
for the segment's rows logged alone (the segment rule), and on the Parquet engine.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.analysis.metrics.summaries import DEFAULT_QUANTILES
from mlmkit.store.engines.dataset import export_dataset
from mlmkit.store.engines.parquet import ParquetEngine

END = datetime(2026, 5, 2, tzinfo=UTC)
W = {"start": END - timedelta(days=1), "end": END}
NAMES = [f"q{100 * q:g}" for q in DEFAULT_QUANTILES]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A regression and a score-only model (regions a / b; region a holds the extremes), and
    region a's rows again as models of their own."""
    rng = np.random.default_rng(21)
    db = tmp_path_factory.mktemp("extremes") / "ws.duckdb"
    n = 6000
    ts = pl.Series([END - timedelta(seconds=float(s)) for s in rng.uniform(1, 86_000, n)])
    region = np.where(rng.random(n) < 0.5, "a", "b")
    y = rng.normal(20, 3, n)
    pred = y + rng.normal(0, 1, n)
    pred[0], region[0] = 1e6, "a"  # one runaway prediction
    score = rng.gamma(2.0, 1.0, n)
    score[1], region[1] = 5e9, "a"  # one runaway anomaly score
    with mlmkit.open(db) as ws:
        for model, task in (("rg", "regression"), ("an", "score-only"),
                            ("rg_a", "regression"), ("an_a", "score-only")):
            ws.registry.register(mlmkit.ModelMetadata(model, "supervised", "1.0.0", task=task))
        a = region == "a"
        for suffix, keep in (("", np.ones(n, bool)), ("_a", a)):
            ws.log.track_batch(pl.DataFrame({
                "model_name": f"rg{suffix}", "version": "1.0.0", "prediction": pred[keep],
                "actual": y[keep], "timestamp": ts.filter(pl.Series(keep)),
                "region": region[keep]}))
            ws.log.track_batch(pl.DataFrame({
                "model_name": f"an{suffix}", "version": "1.0.0", "score": score[keep],
                "prediction": score[keep] > 6, "timestamp": ts.filter(pl.Series(keep)),
                "region": region[keep]}))
        export_dataset(ws.db, db.parent / "ds")
    return db, {"residual": pred - y, "score": score, "residual_a": (pred - y)[a],
                "score_a": score[a]}


def _quantiles(row: dict[str, object], prefix: str) -> np.ndarray:
    return np.array([[row[f"{prefix}_{q}{s}"] for s in ("", "_low", "_high")] for q in NAMES],
                    dtype=np.float64)


def _unsegmented(ws: mlmkit.Workspace, model: str, prefix: str) -> np.ndarray:
    m = ws.monitor.get_current_metrics(model, "1.0.0", **W)
    table = m.summary.quantiles if prefix == "score" else m.residual_quantiles  # type: ignore
    return table.select("value", "low", "high").to_numpy()


@pytest.mark.parametrize(("model", "prefix"), [("rg", "residual"), ("an", "score")])
def test_quantiles_ignore_the_stretch_of_one_extreme_value(logged, model, prefix) -> None:
    db, values = logged
    with mlmkit.open(db) as ws:
        got = _unsegmented(ws, model, prefix)
    exact = np.quantile(values[prefix], DEFAULT_QUANTILES)
    assert ((got[:, 1] <= exact) & (exact <= got[:, 2])).all()
    assert (got[:, 2] - got[:, 1]).max() < 0.01  # fine brackets, not (max - min) / 10 000
    assert np.abs(got[:, 0] - exact).max() < 0.01


@pytest.mark.parametrize(("model", "prefix"), [("rg", "residual"), ("an", "score")])
def test_a_segment_refines_as_its_rows_alone_and_parquet_as_the_workspace(logged, model,
                                                                          prefix) -> None:
    db, _ = logged
    with mlmkit.open(db) as ws:
        alone = _unsegmented(ws, f"{model}_a", prefix)
        whole = _unsegmented(ws, model, prefix)
        seg = ws.monitor.get_current_metrics(model, "1.0.0", **W, segment="region")
    row_a = seg.filter(pl.col("region") == "a").row(0, named=True)
    np.testing.assert_array_equal(_quantiles(row_a, prefix), alone)  # bit for bit
    with ParquetEngine(db.parent / "ds") as engine, mlmkit.open(db, engine=engine) as ws:
        np.testing.assert_allclose(_unsegmented(ws, model, prefix), whole, rtol=1e-12)
