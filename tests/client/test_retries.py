"""The client's retry, idempotency, error and buffering logic against httpx.MockTransport.

The behaviour against a real ``mlmkit serve`` process is in test_against_server.py; these
tests script the server's answers (a 503, a dropped connection, a 422) to pin the logic.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import mlmkit
from mlmkit.client import (
    AuthError,
    BufferedClient,
    Client,
    ConflictError,
    MissingError,
    RejectedError,
    UnavailableError,
)

URL = "http://127.0.0.1:9"


class Script:
    """A scripted server: each request gets the next answer (the last one repeats)."""

    def __init__(self, *answers: int | type[Exception] | Callable[[httpx.Request], httpx.Response]
                 ) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, type):
            raise answer("scripted failure", request=request)  # type: ignore[call-arg]
        if callable(answer):
            return answer(request)
        if answer >= 400:
            return httpx.Response(answer, json={"error": {
                "field": "score (row 0)", "row": 0, "value": "1.5",
                "message": "score (row 0) must be in [0, 1]; got 1.5", "type": "X"}})
        n = len(json.loads(request.content)) if request.headers.get(
            "content-type") == "application/json" and request.content.startswith(b"[") else 1
        written = n if len(self.requests) == 1 else 0
        return httpx.Response(answer, json={"written": written, "duplicates": n - written})

    def bodies(self) -> list[bytes]:
        return [r.content for r in self.requests]


def client(script: Script, **kw: object) -> Client:
    return Client(URL, "tok", transport=httpx.MockTransport(script), backoff=0.0, **kw)


def test_a_5xx_then_success_replays_the_same_ids_and_timestamps() -> None:
    script = Script(503, 502, 201)
    pid = client(script).track("m", "1.0.0", True, score=0.9)
    bodies = script.bodies()
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]
    row = json.loads(bodies[0])[0]
    assert row["prediction_id"] == pid and row["timestamp"].endswith("+00:00")
    assert script.requests[0].headers["authorization"] == "Bearer tok"


def test_connect_errors_are_retried_then_reported_with_the_cause() -> None:
    script = Script(httpx.ConnectError)
    with pytest.raises(UnavailableError, match="after 3 attempt") as info:
        client(script, retries=2).models()
    assert len(script.requests) == 3
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.status_code is None


def test_a_read_timeout_is_retried_and_a_replay_counts_as_success() -> None:
    script = Script(httpx.ReadTimeout, 200)  # the first attempt was committed, answer lost
    answer = client(script).track_batch([{"model_name": "m", "version": "1", "prediction": 1}])
    assert answer == {"written": 0, "duplicates": 1}
    assert script.bodies()[0] == script.bodies()[1]


def test_429_honours_retry_after() -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "0.2"}, json={})
    script = Script(busy, 201)
    began = time.perf_counter()
    client(script).track("m", "1.0.0", False)
    assert time.perf_counter() - began >= 0.2 and len(script.requests) == 2


def test_a_422_is_not_retried_and_names_field_row_value() -> None:
    script = Script(422)
    with pytest.raises(RejectedError) as info:
        client(script).track("m", "1.0.0", True, score=0.5)
    err = info.value
    assert len(script.requests) == 1
    assert isinstance(err, mlmkit.ValidationError) and isinstance(err, mlmkit.MlmkitError)
    assert (err.status_code, err.field, err.row, err.value) == (422, "score (row 0)", 0, "1.5")
    assert "score (row 0) must be in [0, 1]; got 1.5" in str(err)


@pytest.mark.parametrize(("status", "kind", "base"), [
    (401, AuthError, mlmkit.MlmkitError), (403, AuthError, mlmkit.MlmkitError),
    (404, MissingError, mlmkit.NotFoundError), (409, ConflictError, mlmkit.DuplicateError),
    (413, RejectedError, mlmkit.ValidationError)])
def test_status_codes_map_to_the_exception_tree(status: int, kind: type, base: type) -> None:
    with pytest.raises(kind) as info:
        client(Script(status)).track("m", "1.0.0", True)
    assert isinstance(info.value, base) and info.value.status_code == status


def test_a_large_frame_goes_as_arrow_with_generated_unique_ids() -> None:
    script = Script(lambda r: httpx.Response(201, json={"written": 3000, "duplicates": 0}))
    frame = pl.DataFrame({"model_name": "m", "version": "1.0.0",
                          "prediction": np.arange(3000) % 2 == 0,
                          "prediction_id": [None if i % 2 else f"own-{i}" for i in range(3000)]})
    assert client(script, arrow_min_rows=1000).track_batch(frame)["written"] == 3000
    request = script.requests[0]
    assert request.headers["content-type"] == "application/vnd.apache.arrow.stream"
    sent = pl.from_arrow(pa.ipc.open_stream(io.BytesIO(request.content)).read_all())
    assert isinstance(sent, pl.DataFrame)
    ids = sent["prediction_id"]
    assert ids.null_count() == 0 and ids.n_unique() == 3000 and ids[0] == "own-0"
    assert sent["timestamp"].null_count() == 0


def test_a_small_frame_goes_as_json_and_chunks_split_large_batches() -> None:
    script = Script(lambda r: httpx.Response(201, json={"written": len(json.loads(r.content)),
                                                         "duplicates": 0}))
    rows = [{"model_name": "m", "version": "1.0.0", "prediction": True,
             "timestamp": datetime(2026, 1, 1, tzinfo=UTC), "x": np.float32(0.5)}
            for _ in range(25)]
    assert client(script, chunk_rows=10).track_batch(rows) == {"written": 25, "duplicates": 0}
    assert [len(json.loads(b)) for b in script.bodies()] == [10, 10, 5]
    first = json.loads(script.bodies()[0])[0]
    assert first["timestamp"] == "2026-01-01T00:00:00+00:00" and first["x"] == 0.5


def test_ids_are_unique_across_threads_and_a_forked_child() -> None:
    c = client(Script(201))
    seen: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        ids = [c.new_id() for _ in range(500)]
        with lock:
            seen.extend(ids)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 4000
    parent_session = c._session()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read)
        ok = c._session() is not parent_session
        os.write(write, json.dumps([c.new_id(), ok]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        child_id, new_session = json.loads(fh.read())
    os.waitpid(child, 0)
    assert new_session is True
    assert child_id.split("-")[0] != seen[0].split("-")[0]
    assert c._session() is parent_session


def test_each_thread_has_its_own_connection_pool() -> None:
    c = client(Script(200))
    sessions = []
    threads = [threading.Thread(target=lambda: sessions.append(c._session())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in sessions}) == 3
    c.close()
    assert all(s.is_closed for s in sessions)


@pytest.mark.parametrize(("arg", "value"), [("base_url", "localhost:8000"), ("retries", -1),
                                            ("timeout", -1.0), ("arrow_min_rows", 0)])
def test_bad_arguments_name_themselves(arg: str, value: object) -> None:
    kwargs: dict[str, object] = {"base_url": URL, arg: value}
    with pytest.raises(mlmkit.ValidationError, match=arg):
        Client(**kwargs)  # type: ignore[arg-type]


def buffered(script: Script, **kw: object) -> BufferedClient:
    return BufferedClient(URL, "tok", transport=httpx.MockTransport(script), backoff=0.0,
                          **kw)


def test_buffered_flushes_by_size_time_and_close() -> None:
    script = Script(lambda r: httpx.Response(201, json={"written": len(json.loads(r.content)),
                                                         "duplicates": 0}))
    # max_seconds well above the time 25 in-memory calls take even on a loaded CI machine
    # (0.3 s let the timer flush mid-loop once there, splitting the size-triggered batches)
    buf = buffered(script, max_rows=10, max_seconds=2.0)
    for i in range(25):
        buf.track("m", "1.0.0", i % 2 == 0, score=0.5)
    assert [len(json.loads(b)) for b in script.bodies()] == [10, 10]
    deadline = time.monotonic() + 15
    while buf.pending:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(script.requests) == 3 and buf.written == 25
    buf.track("m", "1.0.0", True)
    buf.close()
    assert buf.written == 26 and buf.pending == 0


def test_buffered_validates_each_call_at_once() -> None:
    script = Script(201)
    buf = buffered(script, max_rows=10)
    with pytest.raises(mlmkit.ValidationError, match="score"):
        buf.track("m", "1.0.0", True, score=1.5)
    assert buf.pending == 0 and not script.requests


def test_buffered_keeps_rows_while_the_server_is_down_and_replays_them_unchanged() -> None:
    script = Script(httpx.ConnectError, httpx.ConnectError, 201)
    buf = buffered(script, max_rows=100, max_seconds=60, retries=0)
    ids = [buf.track("m", "1.0.0", True) for _ in range(3)]
    with pytest.raises(UnavailableError):
        buf.flush()
    assert buf.pending == 3
    with pytest.raises(UnavailableError):
        buf.flush()
    buf.flush()
    assert buf.pending == 0
    assert script.bodies()[0] == script.bodies()[2]
    assert [r["prediction_id"] for r in json.loads(script.bodies()[2])] == ids


def test_buffered_refuses_beyond_max_pending() -> None:
    buf = buffered(Script(httpx.ConnectError), max_rows=2, max_pending=2, retries=0,
                   max_seconds=60)
    buf.track("m", "1.0.0", True)
    buf.track("m", "1.0.0", True)  # fills a batch: the flush fails, the rows stay buffered
    assert buf.pending == 2
    with pytest.raises(UnavailableError, match="max_pending"):
        buf.track("m", "1.0.0", True)
    assert buf.pending == 2


def test_a_forked_child_starts_with_an_empty_buffer_and_its_own_ids() -> None:
    script = Script(lambda r: httpx.Response(201, json={"written": len(json.loads(r.content)),
                                                         "duplicates": 0}))
    buf = buffered(script, max_rows=100, max_seconds=60)
    parent_id = buf.track("m", "1.0.0", True)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read)
        child_id = buf.track("m", "1.0.0", False)
        os.write(write, json.dumps([buf.pending, child_id]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        pending, child_id = json.loads(fh.read())
    os.waitpid(child, 0)
    assert pending == 1  # the child's own row only: the parent's row is the parent's to send
    assert child_id.split("-")[0] != parent_id.split("-")[0]
    assert buf.pending == 1
    buf.close()
    assert [r["prediction_id"] for r in json.loads(script.bodies()[0])] == [parent_id]
