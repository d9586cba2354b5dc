"""The Parquet export carries the columns of every task and records each model's task."""

import polars as pl

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.store.engines.dataset import export_dataset, load_manifest


def test_export_carries_task_columns_and_the_manifest_records_the_task(tmp_path):
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(ModelMetadata("mc", "supervised", "1.0.0", task="multiclass"))
        ws.registry.register(ModelMetadata("rg", "supervised", "1.0.0", task="regression"))
        ws.log.track("mc", "1.0.0", "cat", probabilities={"cat": 0.9, "dog": 0.1},
                     prediction_id="a")
        ws.log.record_actual("a", "dog", model_name="mc")
        ws.log.track("rg", "1.0.0", 2.5, actual=3.0)
        ws.log.track("b", "1.0.0", True, score=0.8)
        export_dataset(ws.db, tmp_path / "ds")
    manifest = load_manifest(tmp_path / "ds")
    assert {m: spec["task"] for m, spec in manifest["models"].items()} == {
        "mc": "multiclass", "rg": "regression", "b": "binary"}
    mc = pl.read_parquet(next((tmp_path / "ds").glob("model_name=mc/*/*.parquet")))
    assert mc.select("label", "actual_label", "prediction").row(0) == ("cat", "dog", None)
    assert mc["probabilities"].to_list() == [[{"label": "cat", "p": 0.9},
                                              {"label": "dog", "p": 0.1}]]
    rg = pl.read_parquet(next((tmp_path / "ds").glob("model_name=rg/*/*.parquet")))
    assert rg.select("value", "actual_value").row(0) == (2.5, 3.0)
