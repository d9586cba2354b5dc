"""Hostile inputs against the HTTP server: every one a 4xx naming what was wrong, never a 500,
never a silent pick, and no client holding a connection forever.

The HTTP cases run a real ``mlmkit serve`` on 127.0.0.1 (one per test module and xdist worker);
the parsing cases call the function that decides them.
"""

from __future__ import annotations

import io
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import mlmkit
from mlmkit.exceptions import ValidationError
from mlmkit.server import bodies, jsontext, views
from mlmkit.services.ingest import prediction_batch

sys.path.insert(0, str(Path(__file__).parent))
from _proc import ROOT, Server  # (a helper module beside the tests, not a package)

FUTURE = timedelta(minutes=5)
ARROW = "application/vnd.apache.arrow.stream"
NDJSON = "application/x-ndjson"
HEAD_TIMEOUT = 1.0
"""``--timeout-request-head`` of the served process."""


def _row(pid: str, **extra: object) -> dict[str, object]:
    return {"model_name": "bin", "version": "1.0.0", "prediction": True, "score": 0.5,
            "prediction_id": pid, **extra}


def _large(prefix: str) -> str:
    """A JSON array over the 16 KiB of the small-body path (read by polars)."""
    body = json.dumps([_row(f"{prefix}{i}", pad="y" * 100) for i in range(200)])
    assert len(body) > 16 * 1024
    return body


def _arrow(*tables: pa.Table) -> bytes:
    sink = io.BytesIO()
    for table in tables:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return sink.getvalue()


def _error(answer, status: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.text
    return answer.json()["error"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("hostile") / "ws.duckdb"
    with mlmkit.open(db) as ws:
        for name, task in (("bin", "binary"), ("reg", "regression")):
            ws.registry.register(mlmkit.ModelMetadata(name, "supervised", "1.0.0", task=task))
    served = Server(db, "--timeout-request-head", str(HEAD_TIMEOUT))
    yield served
    assert served.stop() == 0, served.output


# ------------------------------------------------------------------ 1. deeply nested JSON
DEEP = {
    "arrays": b"[" * 100_000 + b"]" * 100_000,
    "objects": b"[" + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"]",
    "in a feature": b'[{"model_name": "bin", "version": "1.0.0", "prediction": true, "x": '
                    + b"[" * 100_000 + b"]" * 100_000 + b"}]",
    "in a feature, within json's own limit": b'[{"model_name": "bin", "version": "1.0.0", '
                    b'"prediction": true, "x": ' + b"[" * 900 + b"]" * 900 + b"}]",
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_nesting_is_refused_naming_the_body(name: str) -> None:
    with pytest.raises(ValidationError, match="nested at most 64") as caught:
        bodies.parse_predictions(DEEP[name], bodies.JSON, max_future=FUTURE)
    assert caught.value.field == "body"


@pytest.mark.parametrize("depth", [900, 100_000])
def test_deep_nesting_of_a_registry_body_is_refused_naming_the_body(depth: int) -> None:
    with pytest.raises(ValidationError, match="nested at most 64") as caught:
        views.json_object(b'{"configuration": ' + b'{"a": ' * depth + b"1" + b"}" * depth
                          + b"}", views.REGISTER_KEYS)
    assert caught.value.field == "body"


@pytest.mark.slow
def test_deep_nesting_is_a_422_on_every_json_endpoint(server: Server) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for path, body in [
            ("/v1/predictions", deep),
            ("/v1/predictions", DEEP["in a feature"]),
            ("/v1/actuals", b'{"model_name": "bin", "prediction_ids": ' + deep
             + b', "actuals": []}'),
            ("/v1/models", b'{"model_name": "x", "model_type": "supervised", "version": '
             b'"1.0.0", "configuration": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001)]:
        error = _error(server.post(path, body), 422)
        assert error["field"] == "body" and "nested" in str(error["message"]), (path, error)
    assert server.client.get("/health/live").status_code == 200


# ------------------------------------------------------------------ 2. rows without keys
@pytest.mark.slow
def test_a_row_without_keys_is_refused_and_only_an_empty_array_writes_nothing(
        server: Server) -> None:
    for body, media in [(b"[{}]", bodies.JSON), (b"[{}, {}]", bodies.JSON), (b"{}\n", NDJSON)]:
        error = _error(server.post("/v1/predictions", body, media), 422)
        assert "model_name" in str(error["message"]) and "version" in str(error["message"])
    for body, media in [(b"[]", bodies.JSON), (b"\n\n", NDJSON)]:
        answer = server.post("/v1/predictions", body, media)
        assert answer.status_code == 200 and answer.json()["written"] == 0


# ------------------------------------------------------------------ 3. duplicate keys
@pytest.mark.slow
def test_a_key_given_twice_is_refused_alike_whatever_the_body_size(server: Server) -> None:
    twice = ('"prediction": true', '"prediction" : true, "prediction" : false')
    small = json.dumps([_row("dup-s0")]).replace(*twice, 1)
    for body in (small, _large("dup-l").replace(*twice, 1)):
        error = _error(server.post("/v1/predictions", body), 422)
        assert (error["field"], error["row"], error["value"]) == ("body", 0, "'prediction'")
    nd = json.dumps(_row("dup-n0")) + "\n" + json.dumps(_row("dup-n1")).replace(*twice)
    error = _error(server.post("/v1/predictions", nd, NDJSON), 422)
    assert (error["field"], error["row"], error["value"]) == ("body", 1, "'prediction'")


def test_a_boolean_among_numbers_is_a_422_whatever_the_body_size(server: Server) -> None:
    """polars reads ``true`` beside ``0.5`` as 1.0: a boolean score (refused alone) is not
    stored as a number, on the row path or on the polars path of large bodies."""
    small = json.dumps([_row("bn-s0"), _row("bn-s1", score=True)])
    large = json.loads(_large("bn-l"))
    large[3]["score"] = True
    for body in (small, json.dumps(large)):
        error = _error(server.post("/v1/predictions", body), 422)
        assert (error["field"], error["value"]) == ("score", "True"), error
    regression = [{"model_name": "reg", "version": "1.0.0", "prediction": p,
                   "prediction_id": f"bn-r{i}"} for i, p in enumerate([2.5, True])]
    error = _error(server.post("/v1/predictions", json.dumps(regression)), 422)
    assert (error["field"], error["row"]) == ("prediction", 1), error
    for first in (_row("bn-s0"), _row("bn-l0", pad="y" * 100)):  # nothing was written
        answer = server.post("/v1/predictions", json.dumps([first]))
        assert (answer.status_code, answer.json()) == (201, {"written": 1, "duplicates": 0})


def _reference_repeats(body: bytes, ndjson: bool) -> bool:
    """Whether ``json`` sees a key twice in some object of ``body``."""
    found = False

    def hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        nonlocal found
        found |= len({k for k, _ in pairs}) < len(pairs)
        return dict(pairs)

    for text in (body.splitlines() if ndjson else [body]):
        json.loads(text, object_pairs_hook=hook)
    return found


VALUES = {"a": ["1", "2.5", "null"], "b": ['"v"', "null"], "c": ["true", "null"],
          "features": ['{"x": 1, "y": "q"}']}


def test_the_polars_path_never_takes_a_body_with_a_key_twice() -> None:
    """Seeded random bodies: keys missing, repeated (also with a null), spaced from their
    colon, nested in ``features``; polars is used only when ``json`` reads the same."""
    rnd = random.Random(7)
    taken = {True: 0, False: 0}  # bodies read by polars, by whether a key repeats
    for case in range(400):
        ndjson, rows = case % 2 == 1, []
        for i in range(rnd.randint(1, 6)):
            parts = [f'"model_name": "bin", "version": "1.0.0", "prediction_id": "p{i}"']
            for key in rnd.sample(sorted(VALUES), rnd.randint(0, len(VALUES))):
                colon = ":" if rnd.random() < 0.9 else " :" if ndjson else "\n:"
                parts.append(f'"{key}"{colon} {rnd.choice(VALUES[key])}')
            if rnd.random() < 0.2:  # a key again, in the row or inside its features
                again = rnd.choice(["a", "model_name", "x"])
                if again == "x":
                    parts = [p.replace('{"x": 1', '{"x": 1, "x": null') for p in parts]
                else:
                    parts.append(f'"{again}": {rnd.choice(["null", "3"])}')
            rows.append("{" + ", ".join(parts) + "}")
        body = ("\n".join(rows) if ndjson else "[" + ", ".join(rows) + "]").encode()
        read = bodies._read_json(body, NDJSON if ndjson else bodies.JSON) is not None
        repeats = _reference_repeats(body, ndjson)
        assert not (read and repeats), body
        taken[repeats] += read
    assert taken[False] > 50  # (the check does not simply refuse every body)


def test_plain_finds_what_polars_would_read_otherwise() -> None:
    assert jsontext.plain(b'[{"a": 1, "b": "x"}, {"a": 2, "features": {"x": 1, "y": "z"}}]')
    assert jsontext.plain(b'[{"a": "{x", "b": "}}"}, {"a": "z"}]')  # braces inside strings
    assert not jsontext.plain(b'[{"a": 1, "b": 2, "b": null}, {"a": 1}]')  # masked by a gap
    assert not jsontext.plain(b'[{"a": 1, "features": {"x": 1, "x": 2}}]')
    assert not jsontext.plain(b'[{"a": "x\x0cy"}]')
    assert not jsontext.plain(b'[{"a": "x\ty"}]')


# ------------------------------------------------------------------ 4-6. Arrow bodies
@pytest.mark.slow
def test_an_arrow_timestamp_with_a_fixed_offset_is_stored_as_its_utc_instant(
        server: Server) -> None:
    instant = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    table = pa.table({"model_name": ["bin"], "version": ["1.0.0"], "prediction": [True],
                      "prediction_id": ["tz0"],
                      "timestamp": pa.array([instant], pa.timestamp("us", "+05:30"))})
    batch = bodies.parse_predictions(_arrow(table), ARROW, max_future=FUTURE)
    assert batch is not None
    assert batch.frame.select(batch.exprs).get_column("ts").to_list() == [instant]
    answer = server.post("/v1/predictions", _arrow(table), ARROW)
    assert answer.status_code == 201, answer.text


@pytest.mark.slow
def test_an_arrow_body_with_a_column_twice_is_a_422_naming_it(server: Server) -> None:
    table = pa.Table.from_arrays([pa.array(["bin"]), pa.array(["1.0.0"]), pa.array([True]),
                                  pa.array(["dc0"]), pa.array([False])],
                                 names=["model_name", "version", "prediction", "prediction_id",
                                        "prediction"])
    error = _error(server.post("/v1/predictions", _arrow(table), ARROW), 422)
    assert "'prediction'" in str(error["message"]) and "once" in str(error["message"])
    bad_zone = pa.table({"model_name": ["bin"], "version": ["1.0.0"], "prediction": [True],
                         "timestamp": pa.array([0], pa.timestamp("us", "No/Such_Zone"))})
    error = _error(server.post("/v1/predictions", _arrow(bad_zone), ARROW), 422)
    assert "No/Such_Zone" in str(error["value"])


@pytest.mark.slow
def test_bytes_after_an_arrow_stream_are_refused_and_nothing_is_written(
        server: Server) -> None:
    first = pa.table({"model_name": ["bin"], "version": ["1.0.0"], "prediction": [True],
                      "prediction_id": ["two0"]})
    second = first.set_column(3, "prediction_id", pa.array(["two1"]))
    error = _error(server.post("/v1/predictions", _arrow(first, second), ARROW), 422)
    assert error["field"] == "body" and "after" in str(error["value"])
    answer = server.post("/v1/predictions", _arrow(first), ARROW)  # not logged before
    assert answer.status_code == 201 and answer.json()["written"] == 1


# ------------------------------------------------------------------ 7. huge durations
@pytest.mark.slow
def test_huge_windows_are_a_400_naming_the_parameter(server: Server) -> None:
    for path, params, name in [("/v1/models/bin/metrics", {"window": "99999999999d"}, "window"),
                               ("/v1/models/bin/metrics", {"window": "800000d"}, "window"),
                               ("/health", {"max_staleness": "999999999999999d"},
                                "max_staleness")]:
        error = _error(server.client.get(path, params=params), 400)
        assert error["field"] == name and params[name] in str(error["value"]), error


def test_a_window_reaching_before_year_one_is_a_validation_error(tmp_path: Path) -> None:
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("m", "supervised", "1.0.0"))
        for window in ("800000d", "99999999999d"):
            with pytest.raises(ValidationError, match=f"window.*{window}"):
                ws.monitor.get_current_metrics("m", "1.0.0", window=window)


# ------------------------------------------------------------------ 8-9. /v1/actuals
@pytest.mark.slow
def test_label_ids_are_strings_or_integers_never_cast(server: Server) -> None:
    seeded = ["lb0", "true", "1.5", "[1, 2]", "}"]  # ids a cast to text would hit
    assert server.post("/v1/predictions", json.dumps([_row(i) for i in seeded])).status_code \
        == 201
    assert server.post("/v1/predictions", json.dumps([_row(7)])).status_code == 201
    for ids in ([[1, 2]], [{}], [True], [1.5], ["lb0", 5]):
        error = _error(server.post("/v1/actuals", json.dumps(
            {"model_name": "bin", "prediction_ids": ids, "actuals": [True] * len(ids)})), 422)
        assert error["field"] == "prediction_ids", error
        assert error["value"] == repr(ids[-1]), error
    answer = server.post("/v1/actuals", json.dumps(
        {"model_name": "bin", "prediction_ids": [7], "actuals": [True]}))
    assert answer.json() == {"labelled": 1, "skipped": 0}  # as /v1/predictions took it


@pytest.mark.slow
def test_errors_name_the_field_and_value_that_were_wrong(server: Server) -> None:
    error = _error(server.post("/v1/actuals", json.dumps(
        {"model_name": "bin", "prediction_ids": ["b2"], "actuals": True})), 422)
    assert error["field"] == "actuals"
    big = 2 ** 1100
    error = _error(server.post("/v1/actuals", json.dumps(
        {"model_name": "reg", "prediction_ids": ["r3"], "actuals": [big]})), 422)
    assert (error["field"], error["row"]) == ("actuals", 0)
    assert str(error["value"]).startswith(str(big)[:20]), error
    lines = json.dumps(_row("nd0")) + "\n{bad\n" + json.dumps(_row("nd2"))
    error = _error(server.post("/v1/predictions", lines, NDJSON), 422)
    assert (error["field"], error["row"]) == ("body", 1)
    assert "line 1" not in str(error["message"])


# ------------------------------------------------------------------ 10. many features
def _schema_reads(monkeypatch: pytest.MonkeyPatch, features: int) -> int:
    """How often validating one row with ``features`` numeric features builds a schema."""
    row = {"model_name": "bin", "version": "1.0.0", "prediction": True, "prediction_id": "k",
           **{f"k{i}": i for i in range(features)}}
    body = json.dumps([row]).encode()
    reads = 0
    schema = pl.DataFrame.schema

    def counted(frame: pl.DataFrame) -> pl.Schema:
        nonlocal reads
        reads += 1
        return schema.fget(frame)  # type: ignore[attr-defined, no-any-return]

    with monkeypatch.context() as patch:
        patch.setattr(pl.DataFrame, "schema", property(counted))
        prediction_batch(pl.DataFrame([row]))
        bodies.parse_predictions(body, bodies.JSON, max_future=FUTURE)
        bodies.rows_batch([row], max_future=FUTURE)
    return reads


def test_validating_many_features_reads_the_schema_a_fixed_number_of_times(
        monkeypatch: pytest.MonkeyPatch) -> None:
    few, many = _schema_reads(monkeypatch, 500), _schema_reads(monkeypatch, 2_000)
    assert few == many < 50  # (once per feature: quadratic, 10,000 features took minutes)


# ------------------------------------------------------------------ 11. slow request heads
def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _slow_clients(port: int) -> None:
    """A silent connection and one trickling a request line are closed within the bound;
    a normal request on a third connection is answered meanwhile."""
    start = time.monotonic()
    silent = socket.create_connection(("127.0.0.1", port))
    trickle = socket.create_connection(("127.0.0.1", port))
    try:
        trickle.sendall(b"GET /health/li")
        time.sleep(HEAD_TIMEOUT / 2)
        trickle.sendall(b"ve HT")  # (data does not restart the bound)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as normal:
            normal.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert normal.recv(1024).startswith(b"HTTP/1.1 200")
        assert _closed_within(trickle, HEAD_TIMEOUT + 5)
        assert _closed_within(silent, HEAD_TIMEOUT + 5)
        assert time.monotonic() - start < HEAD_TIMEOUT + 5
    finally:
        silent.close()
        trickle.close()


@pytest.mark.slow
def test_connections_that_send_no_request_head_are_closed(server: Server) -> None:
    port = int(server.base.rsplit(":", 1)[1])
    _slow_clients(port)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as kept:
        kept.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")  # a keep-alive answer,
        answer = b""
        while not answer.endswith(b'"ok"}'):  # (read whole: its body may come apart)
            answer += kept.recv(1024)
        assert answer.startswith(b"HTTP/1.1 200")
        kept.sendall(b"GET /health/li")  # then the start of a head that never ends
        assert _closed_within(kept, HEAD_TIMEOUT + 5)
    assert server.client.get("/health/live").status_code == 200


PROTOCOL_SERVER = """
import socket, sys
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from mlmkit.server.run import _head_bounded

async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

base = {"h11": H11Protocol, "httptools": HttpToolsProtocol}[sys.argv[1]]
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(64)
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, http=_head_bounded(base, float(sys.argv[2])), ws="none",
                              lifespan="off", log_config=None)).run(sockets=[sock])
"""


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["h11", "httptools"])
def test_both_http_protocols_close_slow_request_heads(protocol: str) -> None:
    pytest.importorskip(protocol)
    proc = subprocess.Popen([sys.executable, "-c", PROTOCOL_SERVER, protocol,
                             str(HEAD_TIMEOUT)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        _slow_clients(int(proc.stdout.readline()))
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


# ------------------------------------------------------------------ 12. control characters
@pytest.mark.slow
def test_a_raw_control_character_in_a_string_is_refused_whatever_the_size(
        server: Server) -> None:
    small = json.dumps([_row("cc-s0", colour="ab")]).replace('"ab"', '"a\x0cb"')
    large_value = _large("cc-v").replace('"pad": "y', '"pad": "\x0cy', 1)
    large_key = _large("cc-k").replace('"pad"', '"pa\x0cd"', 1)  # (polars took this one)
    for body in (small, large_value, large_key):
        assert "\x0c" in body
        error = _error(server.post("/v1/predictions", body.encode()), 422)
        assert error["field"] == "body" and "control character" in str(error["message"])


# ------------------------------------------------------------------ 13. rollback
@pytest.mark.slow
def test_rolling_back_an_unknown_model_is_a_404(server: Server) -> None:
    error = _error(server.post("/v1/models/no-such-model/rollback", b"{}"), 404)
    assert error["type"] == "NotFoundError" and "no-such-model" in str(error["message"])
