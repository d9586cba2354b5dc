"""Group commit under concurrent requests, kill -9 and SIGTERM of a real server process."""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import mlmkit

sys.path.insert(0, str(Path(__file__).parent))
from _proc import Server  # (a helper module beside the tests, not a package)

pytestmark = pytest.mark.slow


def _body(prefix: str, n: int) -> str:
    return json.dumps([{"model_name": "m", "version": "1.0.0", "prediction": i % 2 == 0,
                        "score": 0.25, "prediction_id": f"{prefix}-{i}", "f": i}
                       for i in range(n)])


def _ids(db: Path) -> list[str]:
    with mlmkit.open(db) as ws:
        return ws.log.predictions("m")["prediction_id"].to_list()


def _poster(base: str, prefix: str, acked: list[str], stop: threading.Event,
            rows: int = 10, limit: int | None = None) -> None:
    """Post batches until stopped (or the server is gone); record the ids answered 2xx."""
    with httpx.Client(base_url=base, timeout=30) as client:
        i = 0
        while not stop.is_set() and (limit is None or i < limit):
            try:
                resp = client.post("/v1/predictions", content=_body(f"{prefix}{i}", rows),
                                   headers={"Content-Type": "application/json"})
            except httpx.TransportError:
                return
            if resp.is_success:
                acked.extend(f"{prefix}{i}-{j}" for j in range(rows))
            elif resp.status_code != 503:
                raise AssertionError(resp.text)
            i += 1


def test_concurrent_requests_every_acknowledged_row_once(tmp_path):
    db = tmp_path / "ws.duckdb"
    server = Server(db)
    acked: list[str] = []
    try:
        stop = threading.Event()
        threads = [threading.Thread(target=_poster, args=(server.base, f"t{k}-", acked, stop),
                                    kwargs={"limit": 50}) for k in range(8)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        counters = dict(re.findall(r"^(mlmkit_server_ingest_\w+) (\S+)$",
                                   server.client.get("/metrics").text, re.M))
        assert server.stop() == 0
    finally:
        server.kill()
    assert len(acked) == 8 * 50 * 10, "every request answered 2xx"
    ids = _ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == set(acked)
    assert float(counters["mlmkit_server_ingest_requests_total"]) == 400
    assert float(counters["mlmkit_server_ingest_rows_total"]) == 4000
    commits = float(counters["mlmkit_server_ingest_commits_total"])
    assert commits < 400  # concurrent requests were committed together
    print(f"8 threads x 50 requests x 10 rows: {len(acked) / elapsed:.0f} rows/s, "
          f"{commits:.0f} transactions")


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
def test_every_acknowledged_row_survives_the_server_stopping(tmp_path, how):
    db = tmp_path / "ws.duckdb"
    server = Server(db)
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_poster, args=(server.base, f"k{k}-", acked, stop))
               for k in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 400 and time.monotonic() < deadline:
            time.sleep(0.01)  # mid-stream: requests in flight and queued
        if how == "kill -9":
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(timeout=30)
        else:
            assert server.stop() == 0  # in-flight requests finish, the queue is committed
        for t in threads:
            t.join(timeout=60)
    finally:
        stop.set()
        server.kill()
    assert len(acked) >= 400
    ids = _ids(db)  # (the file reopens: DuckDB replays its WAL)
    assert len(ids) == len(set(ids))
    assert set(acked) <= set(ids), f"{len(set(acked) - set(ids))} acknowledged rows lost"
    again = Server(db)  # and a new server serves the same file
    try:
        assert again.post("/v1/predictions", _body("after", 3)).status_code == 201
        assert again.stop() == 0
    finally:
        again.kill()
    assert len(_ids(db)) == len(ids) + 3
