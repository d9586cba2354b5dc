"""Multiclass, regression and score-only models survive export -> import into a fresh workspace.

The imported workspace registers each missing model with the manifest's task, holds the same
rows (task columns, probabilities, labels and their label times) and answers
``get_current_metrics`` exactly as the source did.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.ops.dataset_commands import import_dataset
from mlmkit.store.engines.dataset import export_dataset

START = datetime(2026, 3, 2, tzinfo=UTC)
CLASSES = ["cat", "dog", "eel"]


def _fill(ws: mlmkit.Workspace, task: str, rng: np.random.Generator) -> None:
    """Two days of ``task`` rows of model ``m`` 1.0.0, two thirds labelled later."""
    ws.registry.register(ModelMetadata("m", "supervised", "1.0.0", task=task))
    n = 400
    ids = [f"r{i}" for i in range(n)]
    stamps = [START + timedelta(minutes=7 * i) for i in range(n)]
    frame: dict[str, object] = {"model_name": ["m"] * n, "version": ["1.0.0"] * n,
                                "prediction_id": ids, "timestamp": stamps,
                                "x1": rng.normal(size=n), "seg": rng.choice(["a", "b"], n)}
    if task == "multiclass":
        p = rng.dirichlet(np.ones(3), n)
        frame["prediction"] = [CLASSES[k] for k in p.argmax(axis=1)]
        frame["probabilities"] = [[{"label": c, "p": float(q)} for c, q in zip(CLASSES, row,
                                                                              strict=True)]
                                  for row in p]
        frame["confidence"] = p.max(axis=1)
        truth: list[object] = [CLASSES[k] for k in rng.integers(0, 3, n)]
    elif task == "regression":
        y = rng.normal(10, 3, n)
        frame["prediction"] = y + rng.normal(0, 1, n)
        truth = y.tolist()
    else:
        score = rng.normal(size=n)
        frame["score"] = score
        frame["prediction"] = score > 1.5
        truth = (rng.random(n) < 0.1).tolist()
    ws.log.track_batch(pl.DataFrame(frame, schema_overrides={
        "timestamp": pl.Datetime("us", "UTC")} | ({"probabilities": pl.List(pl.Struct(
            {"label": pl.String, "p": pl.Float64}))} if task == "multiclass" else {})))
    keep = rng.random(n) < 0.67
    ws.log.record_actuals([i for i, k in zip(ids, keep, strict=True) if k],
                          [t for t, k in zip(truth, keep, strict=True) if k], model_name="m",
                          at=START + timedelta(days=2))


def _metrics(ws: mlmkit.Workspace) -> dict[str, object]:
    out = ws.monitor.get_current_metrics("m", "1.0.0", start=START,
                                         end=START + timedelta(days=3)).to_dict()
    return {k: v for k, v in out.items() if not isinstance(v, float) or not np.isnan(v)}


@pytest.mark.parametrize("task", ["multiclass", "regression", "score-only"])
def test_export_import_round_trip_per_task(tmp_path: Path, task: str) -> None:
    rng = np.random.default_rng(15)
    with mlmkit.open(tmp_path / "src.duckdb") as ws:
        _fill(ws, task, rng)
        export_dataset(ws.db, tmp_path / "ds")
        rows = ws.log.predictions("m").sort("prediction_id")
        metrics = _metrics(ws)
    with mlmkit.open(tmp_path / "dst.duckdb") as ws:
        done = import_dataset(ws, tmp_path / "ds")
        assert ws.registry.task("m").value == task
        assert done["registered"] == 1 and done["rows"] == 400
        assert done["labels"] == rows.filter(pl.col("labelled_at").is_not_null()).height > 200
        again = ws.log.predictions("m").sort("prediction_id")
        assert _metrics(ws) == metrics
    assert_frame_equal(again, rows)
