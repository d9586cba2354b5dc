"""The ingestion and read API against a real ``mlmkit serve`` process on 127.0.0.1."""

from __future__ import annotations

import io
import json
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import mlmkit

sys.path.insert(0, str(Path(__file__).parent))
from _proc import Server  # (a helper module beside the tests, not a package)

pytestmark = pytest.mark.slow

T0 = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)


def _rows(prefix: str, n: int = 30) -> list[dict]:
    return [{"model_name": "m", "version": "2.0.0" if i % 2 else "1.0.0", "prediction": i % 3 == 0,
             "actual": None if i % 4 == 0 else i % 2, "confidence": 0.5 + (i % 5) / 10,
             "prediction_id": f"{prefix}{i}", "unit_id": f"u{i % 7}",
             "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
             "features": {"x": i * 0.5, "colour": ["red", "blue"][i % 2]}} for i in range(n)]


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.from_dicts(rows).with_columns(
        pl.col("timestamp").str.to_datetime(time_unit="us", time_zone="UTC"))


def _stored(ws: mlmkit.Workspace, prefix: str) -> pl.DataFrame:
    rows = ws.log.predictions("m").filter(pl.col("prediction_id").str.starts_with(prefix))
    return rows.drop("labelled_at").with_columns(
        pl.col("prediction_id").str.slice(len(prefix))).sort("prediction_id")


def _arrow(frame: pl.DataFrame) -> bytes:
    sink = io.BytesIO()
    table = frame.to_arrow()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_json_ndjson_arrow_store_what_track_batch_stores(tmp_path):
    server = Server(tmp_path / "ws.duckdb")
    try:
        json_rows, nd_rows, arrow_rows = _rows("j"), _rows("n"), _rows("a")
        resp = server.post("/v1/predictions", json.dumps(json_rows))
        assert resp.status_code == 201 and resp.json() == {"written": 30, "duplicates": 0}
        nd = "\n".join(json.dumps(r) for r in nd_rows) + "\n"
        assert server.post("/v1/predictions", nd, "application/x-ndjson").status_code == 201
        resp = server.post("/v1/predictions", _arrow(_frame(arrow_rows)),
                           "application/vnd.apache.arrow.stream")
        assert resp.status_code == 201, resp.text
        assert server.stop() == 0
    finally:
        server.kill()
    with mlmkit.open(tmp_path / "ref.duckdb") as ref:
        for prefix in "jna":
            ref.log.track_batch(_frame(_rows(prefix)))
        expected = {p: _stored(ref, p) for p in "jna"}
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        for prefix in "jna":
            got = _stored(ws, prefix)
            assert got.height == 30
            assert got.equals(expected[prefix]), prefix


def test_bad_bodies_answer_422_naming_field_row_value(tmp_path):
    server = Server(tmp_path / "ws.duckdb")
    try:
        rows = _rows("b", 3)
        rows[1]["prediction"] = 3
        resp = server.post("/v1/predictions", json.dumps(rows))
        assert resp.status_code == 422
        err = resp.json()["error"]
        assert (err["field"], err["row"], err["value"]) == ("prediction", 1, "3")
        rows = _rows("b", 3)
        rows[2]["confidence"] = 1.5
        err = server.post("/v1/predictions", json.dumps(rows)).json()["error"]
        assert (err["field"], err["row"]) == ("confidence", 2) and "[0, 1]" in err["message"]
        rows = _rows("b", 3)
        rows[2]["timestamp"] = "yesterday"
        err = server.post("/v1/predictions", json.dumps(rows)).json()["error"]
        assert (err["field"], err["row"], err["value"]) == ("timestamp", 2, "'yesterday'")
        rows = _rows("b", 3)
        rows[2]["unit_id"] = 7  # text elsewhere: polars would make it "7"
        err = server.post("/v1/predictions", json.dumps(rows)).json()["error"]
        assert (err["field"], err["row"], err["value"]) == ("unit_id", 2, "7")
        rows = _rows("b", 3)
        rows[1]["features"]["colour"] = 3  # a categorical feature given a number
        err = server.post("/v1/predictions", json.dumps(rows)).json()["error"]
        assert (err["field"], err["row"], err["value"]) == ("features['colour']", 1, "3")
        for body, ctype, field in [
                ("{not json", "application/json", "body"),
                ('{"model_name": "m"}', "application/json", "body"),
                ("[1, 2]", "application/json", "body"),
                ('[{"model_name": "m"}]', "application/json", "frame"),
                ("x", "text/csv", "Content-Type"),
                ("not arrow", "application/vnd.apache.arrow.stream", "body")]:
            resp = server.post("/v1/predictions", body, ctype)
            assert resp.status_code == 422, (body, resp.text)
            assert resp.json()["error"]["field"] == field, (body, resp.json())
        resp = server.post("/v1/predictions", "[]")  # an empty buffer flushed: nothing to do
        assert resp.status_code == 200 and resp.json() == {"written": 0, "duplicates": 0}
        twice = _rows("d", 2)
        twice[1].update(prediction_id="d0", version="1.0.0")
        resp = server.post("/v1/predictions", json.dumps(twice))
        assert resp.status_code == 409 and resp.json()["error"]["value"] == "'d0'"
        assert server.client.get("/v1/models").json() == {"models": []}
        assert server.stop() == 0
    finally:
        server.kill()
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        assert ws.log.count() == 0


def test_oversized_bodies_413_and_bad_params_400(tmp_path):
    server = Server(tmp_path / "ws.duckdb", "--max-body-mb", "0.01")
    try:
        big = json.dumps(_rows("o", 200))
        assert len(big) > 0.01 * 1024 * 1024
        resp = server.post("/v1/predictions", big)
        assert resp.status_code == 413 and "at most 10485 bytes" in resp.json()["error"]["message"]

        def chunks():  # no Content-Length: the limit is counted while reading
            for i in range(0, len(big), 1000):
                yield big[i:i + 1000].encode()

        resp = server.client.post("/v1/predictions", content=chunks(),
                                  headers={"Content-Type": "application/json"})
        assert resp.status_code == 413
        small = json.dumps(_rows("s", 5))
        assert server.post("/v1/predictions", small).status_code == 201
        get = server.client.get
        assert get("/health", params={"max_staleness": "abc"}).status_code == 400
        assert get("/health", params={"max_staleness": "1h"}).status_code == 200
        assert get("/v1/models/m/metrics", params={"window": "abc"}).status_code == 400
        resp = get("/v1/route", params={"unit_id": "u1"})
        assert resp.status_code == 400 and "model" in resp.json()["error"]["message"]
        assert get("/v1/nope").status_code == 404
        assert server.stop() == 0
    finally:
        server.kill()
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        assert ws.log.count() == 5


def test_retry_of_the_same_batch_is_idempotent_partial_overlap_409(tmp_path):
    server = Server(tmp_path / "ws.duckdb")
    try:
        body = json.dumps(_rows("r", 10))
        assert server.post("/v1/predictions", body).json() == {"written": 10, "duplicates": 0}
        resp = server.post("/v1/predictions", body)  # a client retrying after a timeout
        assert resp.status_code == 200 and resp.json() == {"written": 0, "duplicates": 10}
        overlap = _rows("r", 12)[8:]  # r8, r9 logged; r10, r11 new
        resp = server.post("/v1/predictions", json.dumps(overlap))
        assert resp.status_code == 409
        assert resp.json()["error"]["field"] == "prediction_id"
        assert resp.json()["error"]["value"] == "'r8'"
        changed = _rows("r", 10)
        changed[3]["confidence"] = 0.99  # same ids, other values: not a retry
        assert server.post("/v1/predictions", json.dumps(changed)).status_code == 409
        assert server.stop() == 0
    finally:
        server.kill()
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        assert sorted(ws.log.predictions("m")["prediction_id"]) == sorted(
            f"r{i}" for i in range(10))


def test_actuals_models_metrics_and_route(tmp_path):
    db = tmp_path / "ws.duckdb"
    with mlmkit.open(db) as ws:
        for version in ("1.0.0", "1.1.0"):
            ws.registry.register(mlmkit.ModelMetadata.for_n1_detector(version, {}))
        ws.registry.deploy("n1-detector", "1.0.0")
    server = Server(db)
    try:
        now = datetime.now(UTC)
        rows = [{"model_name": "n1-detector", "version": "1.0.0", "prediction": i % 2 == 0,
                 "score": 0.9 if i % 2 == 0 else 0.1, "prediction_id": f"p{i}",
                 "timestamp": (now - timedelta(minutes=i)).isoformat()} for i in range(20)]
        assert server.post("/v1/predictions", json.dumps(rows)).status_code == 201
        labels = {"model_name": "n1-detector", "prediction_ids": [f"p{i}" for i in range(20)],
                  "actuals": [i % 2 == 0 for i in range(20)]}
        resp = server.post("/v1/actuals", json.dumps(labels))
        assert resp.status_code == 200 and resp.json() == {"labelled": 20, "skipped": 0}
        unknown = {**labels, "prediction_ids": ["p1", "zz"], "actuals": [1, 0]}
        resp = server.post("/v1/actuals", json.dumps(unknown))
        assert resp.status_code == 404 and "zz" in resp.json()["error"]["message"]
        resp = server.post("/v1/actuals", json.dumps({**unknown, "on_unknown": "skip"}))
        assert resp.json() == {"labelled": 1, "skipped": 1}
        assert server.post("/v1/actuals", json.dumps({"prediction_ids": []})).status_code == 422

        models = server.client.get("/v1/models").json()["models"]
        assert [m["model_name"] for m in models] == ["n1-detector"]
        assert models[0]["deployed_version"] == "1.0.0"
        assert [v["version"] for v in models[0]["versions"]] == ["1.0.0", "1.1.0"]
        found = server.client.get("/v1/models/n1-detector/metrics",
                                  params={"window": "24h"}).json()
        assert found["version"] == "1.0.0" and found["metrics"]["accuracy"] == 0.95
        assert server.client.get("/v1/models/nope/metrics").status_code == 404

        route = server.client.get("/v1/route", params={"model": "n1-detector",
                                                       "unit_id": "u1"}).json()
        assert route["version"] == "1.0.0" and route["source"] == "deployment"
        assert server.client.get("/v1/route", params={"model": "nope",
                                                      "unit_id": "u1"}).status_code == 404
        assert server.stop() == 0
    finally:
        server.kill()
    with mlmkit.open(db) as ws:
        rollout = ws.ab.start_rollout(mlmkit.ABTestConfig.for_gradual_rollout(
            "n1-detector", "1.0.0", "1.1.0"))
        expected = {f"u{i}": str(rollout.select_version(f"u{i}")) for i in range(40)}
    assert set(expected.values()) == {"1.0.0", "1.1.0"}
    server = Server(db)
    try:
        for unit, version in expected.items():
            route = server.client.get("/v1/route", params={"model": "n1-detector",
                                                           "unit_id": unit}).json()
            assert (route["version"], route["source"]) == (version, "rollout"), unit
        assert server.stop() == 0
    finally:
        server.kill()


def test_a_body_sent_too_slowly_is_answered_408(tmp_path):
    server = Server(tmp_path / "ws.duckdb", "--body-timeout", "1")
    try:
        port = int(server.base.rsplit(":", 1)[1])
        body = json.dumps(_rows("slow", 2)).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/json\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\n\r\n" + body[:10])  # ... and the rest never comes
            began = time.monotonic()
            answer = sock.recv(4096).decode()
            waited = time.monotonic() - began
            while not answer.endswith("}}"):  # (headers and body may come apart)
                more = sock.recv(4096).decode()
                if not more:
                    break
                answer += more
        assert answer.startswith("HTTP/1.1 408"), answer
        assert "must arrive within 1 s" in answer and 0.5 < waited < 10
        assert server.post("/v1/predictions", body).status_code == 201  # the server goes on
        assert server.stop() == 0
    finally:
        server.kill()


def test_route_follows_a_rollout_started_while_serving(tmp_path):
    db = tmp_path / "ws.duckdb"
    with mlmkit.open(db) as ws:
        for version in ("1.0.0", "1.1.0"):
            ws.registry.register(mlmkit.ModelMetadata.for_n1_detector(version, {}))
        ws.registry.deploy("n1-detector", "1.0.0")
    server = Server(db)
    try:
        def route(unit):
            resp = server.client.get("/v1/route", params={"model": "n1-detector",
                                                          "unit_id": unit})
            assert resp.status_code == 200, resp.text
            return resp.json()

        assert route("u1")["source"] == "deployment"
        with mlmkit.open(db) as ws:  # another process starts a rollout (the file is handed over)
            rollout = ws.ab.start_rollout(mlmkit.ABTestConfig.for_gradual_rollout(
                "n1-detector", "1.0.0", "1.1.0"))
            expected = {f"u{i}": str(rollout.select_version(f"u{i}")) for i in range(40)}
        deadline = time.monotonic() + 10  # the cached decision lives route_ttl (1 s)
        while route("u1")["source"] != "rollout":
            assert time.monotonic() < deadline, "the rollout never reached /v1/route"
            time.sleep(0.1)
        assert {unit: route(unit)["version"] for unit in expected} == expected
        assert server.stop() == 0
    finally:
        server.kill()
