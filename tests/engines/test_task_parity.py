"""The per-task aggregates on the workspace, the Parquet engine and 2 Parquet workers.

Counts exactly equal, sums to 1e-12 (relative), on one exported seeded dataset (a multiclass,
a regression and a score-only model, 2 versions each, 4 days, delayed labels); and a
per-version result equals filtering to that version first (the segment rule).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.store.engines.dataset import export_dataset
from mlmkit.values import TimeRange

START = datetime(2026, 3, 1, tzinfo=UTC)
SPAN = TimeRange(START + timedelta(hours=20), START + timedelta(days=3, hours=7))
N = 1200


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tasks")
    rng = np.random.default_rng(3)
    ts = [START + timedelta(seconds=int(s)) for s in rng.integers(0, 4 * 86_400, N)]
    ids = [f"r{i}" for i in range(N)]
    classes = ["a", "b", "c", "d"]
    with mlmkit.open(root / "ws.duckdb") as ws:
        for version in ("1.0.0", "2.0.0"):
            for model, task in (("mc", "multiclass"), ("rg", "regression"),
                                ("an", "score-only")):
                ws.registry.register(ModelMetadata(model, "supervised", version, task=task))
        version = rng.choice(["1.0.0", "2.0.0"], N).tolist()
        proba = rng.dirichlet(np.ones(4), N)
        proba[:50, 3] = 0.0  # some lists leave a class out
        proba[:50] /= proba[:50].sum(axis=1, keepdims=True)
        lists = [[{"label": c, "p": float(p)} for c, p in zip(classes, row, strict=True)
                  if p > 0] for row in proba]
        pred = [classes[int(i)] for i in proba.argmax(axis=1)]
        ws.log.track_batch(pl.DataFrame({"model_name": "mc", "version": version,
                                         "prediction": pred, "probabilities": lists,
                                         "prediction_id": ids, "timestamp": ts}))
        labelled = ids[: N - 100]
        ws.log.record_actuals(labelled, rng.choice(classes, len(labelled)).tolist(),
                              model_name="mc")
        y = rng.normal(10.0, 5.0, N).round(1)  # some exact zeros
        ws.log.track_batch(pl.DataFrame({"model_name": "rg", "version": version,
                                         "prediction": (y + rng.normal(0, 2, N)).tolist(),
                                         "prediction_id": ids, "timestamp": ts}))
        ws.log.record_actuals(labelled, y[: N - 100].tolist(), model_name="rg")
        s = rng.normal(0.0, 3.0, N)
        ws.log.track_batch(pl.DataFrame({"model_name": "an", "version": version, "score": s,
                                         "prediction": s > 4.0, "timestamp": ts}))
        export_dataset(ws.db, root / "ds")
    return root / "ws.duckdb", root / "ds"


CALLS: dict[str, Callable[[Any], pl.DataFrame]] = {
    "class_confusion": lambda e: e.class_confusion("mc", time_range=SPAN),
    "class_confusion_buckets": lambda e: e.class_confusion(
        "mc", versions=["1.0.0"], time_range=SPAN, interval=timedelta(hours=12)),
    "class_log_loss": lambda e: e.class_log_loss("mc", time_range=SPAN),
    "class_score_histogram": lambda e: e.class_score_histogram("mc", time_range=SPAN,
                                                               bins=200),
    "regression_sums": lambda e: e.regression_sums("rg", time_range=SPAN),
    "regression_sums_buckets": lambda e: e.regression_sums("rg", interval=timedelta(days=1)),
    "residual_histogram": lambda e: e.residual_histogram("rg", time_range=SPAN, bins=300),
    "score_totals": lambda e: e.score_totals("an", time_range=SPAN),
    "score_distribution": lambda e: e.score_distribution("an", bins=300),
}


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def _same(expected: pl.DataFrame, got: pl.DataFrame) -> None:
    assert got.columns == expected.columns
    expected, got = _sorted(expected), _sorted(got)
    floats = [c for c, t in expected.schema.items() if t.is_float()]
    assert_frame_equal(got.with_columns(pl.col(floats).cast(pl.Float64)),
                       expected.with_columns(pl.col(floats).cast(pl.Float64)),
                       check_dtypes=False, rel_tol=1e-12, abs_tol=1e-12, check_exact=False)
    ints = [c for c, t in expected.schema.items() if t.is_integer()]
    assert got.select(ints).rows() == expected.select(ints).rows()  # counts: exactly


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("engine", ["parquet", "parquet-2"])
def test_parquet_equals_workspace(engines: dict[str, Any], call: str, engine: str) -> None:
    expected = CALLS[call](engines["workspace"])
    assert expected.height > 0
    _same(expected, CALLS[call](engines[engine]))


@pytest.mark.parametrize("call", ["class_confusion", "class_log_loss",
                                  "class_score_histogram", "regression_sums", "score_totals"])
def test_per_version_equals_filtering_first(engines: dict[str, Any], call: str) -> None:
    engine = engines["workspace"]
    model = {"class": "mc", "regre": "rg", "score": "an"}[call[:5]]
    method = getattr(engine, call)
    grouped = method(model, time_range=SPAN)
    for version in ("1.0.0", "2.0.0"):
        alone = method(model, versions=[version], time_range=SPAN)
        _same(alone, grouped.filter(pl.col("version") == version))


def test_every_class_histogram_covers_every_row(engines: dict[str, Any]) -> None:
    hist = engines["workspace"].class_score_histogram("mc", time_range=SPAN, bins=50)
    loss = engines["workspace"].class_log_loss("mc", time_range=SPAN)
    per = hist.group_by("version", "class").agg(
        (pl.col("positives").sum() + pl.col("negatives").sum()).alias("rows"))
    totals = dict(loss.select("version", "n").rows())
    assert per.height == 8
    assert all(rows == totals[v] for v, _, rows in per.rows())


def test_residual_sample_reads_through_the_engine(dataset: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    # the residual scatter read the workspace file directly: on a dataset engine it was empty
    from mlmkit.store.engines.parquet import ParquetEngine
    from mlmkit.viz.data import residual_sample

    db, root = dataset
    with mlmkit.open(db) as ws:
        expected = residual_sample(ws, "rg", "1.0.0", window=None, size=50, seed=1)
    with ParquetEngine(root) as engine, mlmkit.open(tmp_path / "empty.duckdb",
                                                    engine=engine) as ws:
        got = residual_sample(ws, "rg", "1.0.0", window=None, size=50, seed=1)
    assert expected["sampled_from"][0] > 50 and got.height == 50
    _same(expected, got)
