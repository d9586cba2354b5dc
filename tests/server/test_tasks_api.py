"""Multiclass and regression models through a real ``mlmkit serve`` (issue 15): JSON and Arrow."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import mlmkit
from mlmkit import ModelMetadata

sys.path.insert(0, str(Path(__file__).parent))
from _proc import Server  # (a helper module beside the tests, not a package)

pytestmark = pytest.mark.slow


def _mc_rows(prefix: str, n: int = 12) -> list[dict]:
    return [{"model_name": "mc", "version": "1.0.0", "prediction_id": f"{prefix}{i}",
             "prediction": ["cat", "dog", "eel"][i % 3],
             "actual": None if i % 4 == 0 else ["cat", "dog", "eel"][(i + 1) % 3],
             "probabilities": {["cat", "dog", "eel"][i % 3]: 0.5,
                               ["cat", "dog", "eel"][(i + 1) % 3]: 0.5},
             "features": {"x": i * 0.5}} for i in range(n)]


def _rg_rows(prefix: str, n: int = 12) -> list[dict]:
    return [{"model_name": "rg", "version": "1.0.0", "prediction_id": f"{prefix}{i}",
             "prediction": i * 1.5, "actual": None if i % 3 == 0 else i * 1.25,
             "features": {"x": float(i)}} for i in range(n)]


def _arrow(rows: list[dict]) -> bytes:
    table = pl.from_dicts(rows).to_arrow()
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _stored(ws: mlmkit.Workspace, model: str, prefix: str) -> pl.DataFrame:
    rows = ws.log.predictions(model).filter(pl.col("prediction_id").str.starts_with(prefix))
    return rows.drop("ts", "labelled_at").with_columns(
        pl.col("prediction_id").str.slice(len(prefix))).sort("prediction_id")


def _registered(path: Path) -> None:
    with mlmkit.open(path) as ws:
        ws.registry.register(ModelMetadata("mc", "supervised", "1.0.0", task="multiclass"))
        ws.registry.register(ModelMetadata("rg", "supervised", "1.0.0", task="regression"))


def test_multiclass_and_regression_over_json_and_arrow(tmp_path):
    _registered(tmp_path / "ws.duckdb")
    server = Server(tmp_path / "ws.duckdb")
    try:
        for rows in (_mc_rows, _rg_rows):
            for prefix, body, ctype in [
                    ("j", json.dumps(rows("j")), "application/json"),
                    ("s", json.dumps(rows("s")), "application/json"),  # (tasks cached now)
                    ("a", _arrow(rows("a")), "application/vnd.apache.arrow.stream")]:
                resp = server.post("/v1/predictions", body, ctype)
                assert resp.status_code == 201, resp.text
                assert resp.json() == {"written": 12, "duplicates": 0}
        small = [{"model_name": "mc", "version": "1.0.0", "prediction": 7,
                  "prediction_id": f"one{i}"} for i in range(3)]  # the small-body path
        for row in small:
            assert server.post("/v1/predictions", json.dumps([row])).status_code == 201
        bad = _mc_rows("b", 3)
        bad[2]["probabilities"] = {"cat": 0.2, "dog": 0.2}
        resp = server.post("/v1/predictions", json.dumps(bad))
        assert resp.status_code == 422, resp.text
        err = resp.json()["error"]
        assert (err["field"], err["row"]) == ("probabilities", 2)
        assert "sum" in err["message"] and "0.2" in err["value"]
        bad = _rg_rows("b", 3)
        bad[1]["prediction"] = "high"
        resp = server.post("/v1/predictions", json.dumps(bad))
        assert resp.status_code == 422 and resp.json()["error"]["field"] == "prediction"
        mixed = [{"model_name": "mc", "version": "1.0.0", "prediction": 1},
                 {"model_name": "rg", "version": "1.0.0", "prediction": 1.5}]  # two tasks
        resp = server.post("/v1/predictions", json.dumps(mixed))
        assert resp.status_code == 422 and resp.json()["error"]["field"] == "model_name"
        labels = {"model_name": "mc", "prediction_ids": ["j0", "s0"], "actuals": ["dog", 2]}
        resp = server.post("/v1/actuals", json.dumps(labels))
        assert resp.status_code == 200 and resp.json()["labelled"] == 2, resp.text
        labels = {"model_name": "rg", "prediction_ids": ["j0"], "actuals": [0.25]}
        assert server.post("/v1/actuals", json.dumps(labels)).json()["labelled"] == 1
        assert server.stop() == 0
    finally:
        server.kill()
    _registered(tmp_path / "ref.duckdb")
    with mlmkit.open(tmp_path / "ref.duckdb") as ref:
        for prefix in "jsa":
            ref.log.track_batch(pl.from_dicts(_mc_rows(prefix)))
            ref.log.track_batch(pl.from_dicts(_rg_rows(prefix)))
        ref.log.record_actuals(["j0", "s0"], ["dog", 2], model_name="mc")
        ref.log.record_actuals(["j0"], [0.25], model_name="rg")
        expected = {(m, p): _stored(ref, m, p) for m in ("mc", "rg") for p in "jsa"}
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        for (model, prefix), frame in expected.items():
            got = _stored(ws, model, prefix)
            assert got.height == 12 and got.equals(frame), (model, prefix)
        assert ws.log.predictions("mc").filter(
            pl.col("prediction_id").str.starts_with("one"))["label"].to_list() == ["7"] * 3
        assert ws.log.count() == 12 * 6 + 3
