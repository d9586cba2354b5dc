"""mlmkit.client against a real ``mlmkit serve`` process on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.client import AuthError, BufferedClient, Client, RejectedError

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))
from _proc import Server  # the server tests' helper: mlmkit serve in a subprocess

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def token(db: Path, scope: str) -> str:
    out = subprocess.run([sys.executable, "-m", "mlmkit.cli", "tokens", "create", "--db",
                          str(db), "--scope", scope], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("client") / "ws.duckdb"
    with mlmkit.open(db) as ws:
        ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0"))
        ws.registry.deploy("n1-detector", "1.0.0", "production")
    tokens = {scope: token(db, scope) for scope in ("ingest", "read", "admin")}
    server = Server(db, auth=True)
    yield server, db, tokens
    assert server.stop() == 0


def stored(db: Path, model: str) -> pl.DataFrame:
    with mlmkit.open(db) as ws:
        return ws.log.predictions(model)


class LoseFirstAnswer(httpx.HTTPTransport):
    """Delivers the first request to the server, then reports a timeout (the answer is lost)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        response = super().handle_request(request)
        if self.calls == 1:
            response.read()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


def test_a_retry_after_a_lost_answer_logs_once(served) -> None:  # type: ignore[no-untyped-def]
    server, db, tokens = served
    transport = LoseFirstAnswer()
    with Client(server.base, tokens["ingest"], transport=transport, backoff=0.0) as client:
        answer = client.track_batch([{"model_name": "retry", "version": "1.0.0",
                                      "prediction": i % 2 == 0, "score": 0.3}
                                     for i in range(50)])
    assert transport.calls == 2 and answer == {"written": 0, "duplicates": 50}
    assert stored(db, "retry").height == 50


def test_track_labels_route_and_reads(served) -> None:  # type: ignore[no-untyped-def]
    server, db, tokens = served
    with Client(server.base, tokens["admin"]) as client:
        pid = client.track("n1-detector", "1.0.0", True, score=0.8, unit_id="u1",
                           features={"amount": 12.5})
        assert client.record_actuals([pid], [True], model_name="n1-detector") == {
            "labelled": 1, "skipped": 0}
        assert client.route("n1-detector", "u1")["version"] == "1.0.0"
        assert [m["model_name"] for m in client.models()] == ["n1-detector"]
        assert client.metrics("n1-detector", window="7d")["version"] == "1.0.0"
    row = stored(db, "n1-detector").filter(pl.col("prediction_id") == pid)
    assert row["actual"].to_list() == [True] and row["amount"].to_list() == [12.5]


def test_errors_name_field_row_and_value(served) -> None:  # type: ignore[no-untyped-def]
    server, _, tokens = served
    with Client(server.base, tokens["ingest"]) as client:
        rows = [{"model_name": "bad", "version": "1.0.0", "prediction": True, "score": 0.5}] * 3
        rows = [*rows, {"model_name": "bad", "version": "1.0.0", "prediction": True,
                        "score": 1.5}]
        with pytest.raises(RejectedError) as info:
            client.track_batch(rows)
        assert (info.value.status_code, info.value.row, info.value.value) == (422, 3, "1.5")
        assert info.value.field is not None and "score" in info.value.field
        with pytest.raises(AuthError) as denied:
            client.models()  # an ingest token cannot read
        assert denied.value.status_code == 403
    with Client(server.base, "mlmk_" + "x" * 43) as client, pytest.raises(AuthError):
        client.track("n1-detector", "1.0.0", True)


def test_arrow_and_json_batches_store_the_same_rows(served) -> None:  # type: ignore[no-untyped-def]
    server, db, tokens = served
    rng = np.random.default_rng(4)
    n = 3000
    frame = pl.DataFrame({"model_name": "arrow", "version": "1.0.0",
                          "prediction": rng.random(n) < 0.5, "score": rng.random(n),
                          "x": rng.normal(size=n)})
    with Client(server.base, tokens["ingest"], arrow_min_rows=1000) as client:
        assert client.track_batch(frame)["written"] == n
        assert client.track_batch(frame.with_columns(model_name=pl.lit("json")).to_dicts()
                                  )["written"] == n
    cols = ["prediction", "score", "x"]
    a = stored(db, "arrow").sort("score").select(cols)
    j = stored(db, "json").sort("score").select(cols)
    assert a.equals(j) and a.height == n


def test_threads_and_a_forked_child_share_one_client(served) -> None:  # type: ignore[no-untyped-def]
    server, db, tokens = served
    client = Client(server.base, tokens["ingest"])
    client.track("fork", "1.0.0", True)  # the parent has an open connection before the fork
    threads = [threading.Thread(target=lambda: [client.track("fork", "1.0.0", False)
                                                for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            for _ in range(5):
                client.track("fork", "1.0.0", True)
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client.track("fork", "1.0.0", True)  # the parent's connection still works
    client.close()
    rows = stored(db, "fork")
    assert rows.height == 47 and rows["prediction_id"].n_unique() == 47


def test_buffered_client_against_the_server(served) -> None:  # type: ignore[no-untyped-def]
    server, db, tokens = served
    with BufferedClient(server.base, tokens["ingest"], max_rows=400, max_seconds=0.2) as buf:
        ids = [buf.track("buffered", "1.0.0", i % 2 == 0, score=0.4) for i in range(1000)]
    assert buf.written == 1000 and buf.pending == 0
    assert set(stored(db, "buffered")["prediction_id"].to_list()) == set(ids)


def test_buffered_rows_are_sent_at_interpreter_exit(served) -> None:  # type: ignore[no-untyped-def]
    server, db, tokens = served
    code = (f"from mlmkit.client import BufferedClient\n"
            f"buf = BufferedClient({server.base!r}, {tokens['ingest']!r}, max_rows=1000, "
            f"max_seconds=600)\n"
            f"for i in range(25):\n"
            f"    buf.track('atexit', '1.0.0', True, prediction_id=f'e{{i}}')\n"
            f"print(buf.pending)\n")  # no close(): the exit hook flushes
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "25"
    assert stored(db, "atexit").height == 25
