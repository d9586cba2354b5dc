"""Segments of multiclass, regression and score-only models: metrics and trends per segment.

Oracles: scikit-learn / numpy on the filtered rows (counts exactly, metrics to 1e-12), the
unsegmented trend of a copy of one segment's rows logged as a model of its own (frames
equal), and the same calls on the Parquet engine (1 and 2 workers) over the exported dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sklearn import metrics as skm

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.exceptions import ValidationError
from mlmkit.store.engines import ParquetEngine
from mlmkit.store.engines.dataset import export_dataset

T0 = datetime(2026, 3, 1, tzinfo=UTC)
END = T0 + timedelta(hours=6)
REGIONS = ["E", "N", "S"]
N = 3000
TASKS = {"mc": "multiclass", "rg": "regression", "an": "score-only"}


def _rows(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    region = pl.Series(rng.choice(REGIONS, N)).set(pl.Series(rng.random(N) < 0.05), None)
    ts = [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 6 * 3600, N)]
    common = {"version": "1.0.0", "timestamp": ts, "region": region,
              "tier": rng.integers(1, 3, N).astype(float)}
    y = rng.choice(["a", "b", "c"], N)
    pred = np.where(rng.random(N) < 0.7, y, rng.choice(["a", "b", "c"], N))
    actual = pl.Series(y.tolist()).set(pl.Series(rng.random(N) < 0.1), None)
    yv = rng.normal(10, 2, N)
    s = rng.random(N)
    return {
        "mc": pl.DataFrame({"model_name": "mc", "prediction": pred.tolist(), "actual": actual,
                            **common}),
        "rg": pl.DataFrame({"model_name": "rg", "prediction": yv + rng.normal(0, 1, N),
                            "actual": pl.Series(yv).set(pl.Series(rng.random(N) < 0.1), None),
                            **common}),
        "an": pl.DataFrame({"model_name": "an", "score": s, "prediction": s > 0.9, **common}),
    }


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[mlmkit.Workspace, dict[str, pl.DataFrame], Path]]:
    root = tmp_path_factory.mktemp("segtasks")
    rows = _rows(np.random.default_rng(21))
    with mlmkit.open(root / "ws.duckdb") as ws:
        for model, task in TASKS.items():
            kind = "unsupervised" if task == "score-only" else "supervised"
            ws.registry.register(ModelMetadata(model, kind, "1.0.0", task=task))
            ws.log.track_batch(rows[model])
            for i, region in enumerate([*REGIONS, None]):  # one copy model per segment
                name = f"{model}_seg{i}"
                ws.registry.register(ModelMetadata(name, kind, "1.0.0", task=task))
                ws.log.track_batch(rows[model].filter(pl.col("region").eq_missing(region))
                                   .with_columns(pl.lit(name).alias("model_name")))
        export_dataset(ws.db, root / "ds")
        yield ws, rows, root / "ds"


def _part(rows: pl.DataFrame, region: object) -> pl.DataFrame:
    return rows.filter(pl.col("region").eq_missing(region))


def test_multiclass_segment_metrics_equal_sklearn_on_filtered_rows(logged) -> None:
    ws, rows, _ = logged
    frame = ws.monitor.segment_metrics("mc", "1.0.0", start=T0, end=END, segment="region",
                                       min_labels=10)
    assert frame["region"].to_list() == [*REGIONS, None]  # missing: its own segment
    for row in frame.iter_rows(named=True):
        part = _part(rows["mc"], row["region"])
        lab = part.filter(pl.col("actual").is_not_null())
        y, p = lab["actual"].to_numpy(), lab["prediction"].to_numpy()
        assert (row["sample_count"], row["labelled_count"]) == (part.height, lab.height)
        assert row["task"] == "multiclass" and not row["insufficient"]
        assert row["accuracy"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
        for avg in ("macro", "weighted"):
            assert row[f"f1_{avg}"] == pytest.approx(
                skm.f1_score(y, p, average=avg, zero_division=0), abs=1e-12)
        assert row["precision_macro"] == pytest.approx(
            skm.precision_score(y, p, average="macro", zero_division=0), abs=1e-12)
        assert row["recall_macro"] == pytest.approx(
            skm.recall_score(y, p, average="macro", zero_division=0), abs=1e-12)
        assert row["accuracy_low"] < row["accuracy"] < row["accuracy_high"]


def test_regression_segment_metrics_equal_sklearn_on_filtered_rows(logged) -> None:
    ws, rows, _ = logged
    frame = ws.monitor.segment_metrics("rg", "1.0.0", start=T0, end=END,
                                       segment=["region", "tier"], min_labels=10)
    assert frame.height == 8 and frame.columns[:3] == ["region", "tier", "version"]
    for row in frame.iter_rows(named=True):
        part = _part(rows["rg"], row["region"]).filter(pl.col("tier") == row["tier"])
        lab = part.filter(pl.col("actual").is_not_null())
        y, p = lab["actual"].to_numpy(), lab["prediction"].to_numpy()
        assert (row["sample_count"], row["labelled_count"]) == (part.height, lab.height)
        assert row["mae"] == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
        assert row["rmse"] == pytest.approx(skm.root_mean_squared_error(y, p), rel=1e-12)
        assert row["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, p),
                                            rel=1e-9)
        assert row["r2"] == pytest.approx(skm.r2_score(y, p), rel=1e-9)
        assert row["bias"] == pytest.approx(float(np.mean(p - y)), rel=1e-9, abs=1e-12)


def test_score_only_segment_metrics_equal_numpy_on_filtered_rows(logged) -> None:
    ws, rows, _ = logged
    frame = ws.monitor.segment_metrics("an", "1.0.0", start=T0, end=END,
                                       segment={"region": ["N", None]}, min_labels=10)
    assert frame["region"].to_list() == ["N", None]
    for row in frame.iter_rows(named=True):
        part = _part(rows["an"], row["region"])
        s = part["score"].to_numpy()
        assert row["scored"] == part.height and row["flagged"] == int((s > 0.9).sum())
        assert row["mean_score"] == pytest.approx(s.mean(), rel=1e-12)
        assert row["std_score"] == pytest.approx(s.std(ddof=1), rel=1e-9)
        assert row["flag_rate"] == pytest.approx((s > 0.9).mean(), rel=1e-12)


@pytest.mark.parametrize("model", list(TASKS))
def test_segment_trend_equals_the_trend_of_each_segment_alone(logged, model: str) -> None:
    ws, _, _ = logged
    trend = ws.monitor.get_performance_trend(model, "1.0.0", start=T0, end=END,
                                             interval="2h", segment="region")
    assert trend.height == 4 * 3  # every (version, segment) gets every bucket
    for i, region in enumerate([*REGIONS, None]):
        alone = ws.monitor.get_performance_trend(f"{model}_seg{i}", "1.0.0", start=T0,
                                                 end=END, interval="2h")
        got = trend.filter(pl.col("region").eq_missing(region)).drop("region")
        assert_frame_equal(got.select(alone.columns), alone, check_exact=False, rel_tol=1e-12)


def test_segment_metrics_equal_on_parquet_engines(logged) -> None:
    ws, _, root = logged
    with ParquetEngine(root) as local, ParquetEngine(root, workers=2) as pool:
        for model in TASKS:
            base = ws.monitor.segment_metrics(model, "1.0.0", start=T0, end=END,
                                              segment="region")
            trend = ws.monitor.get_performance_trend(model, "1.0.0", start=T0, end=END,
                                                     interval="3h", segment="region")
            for engine in (local, pool):
                mon = ws.monitor.using(engine)
                assert_frame_equal(mon.segment_metrics(model, "1.0.0", start=T0, end=END,
                                                       segment="region"), base,
                                   check_exact=False, rel_tol=1e-12)
                assert_frame_equal(mon.get_performance_trend(
                    model, "1.0.0", start=T0, end=END, interval="3h", segment="region"),
                    trend, check_exact=False, rel_tol=1e-12)


def test_unknown_segment_feature_is_refused_for_every_task(logged) -> None:
    ws, _, _ = logged
    for model in TASKS:
        with pytest.raises(ValidationError, match="segment"):
            ws.monitor.segment_metrics(model, "1.0.0", start=T0, end=END, segment="planet")
        with pytest.raises(ValidationError, match="segment"):
            ws.monitor.get_performance_trend(model, "1.0.0", start=T0, end=END,
                                             segment="planet")
