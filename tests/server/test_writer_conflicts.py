"""A conflicting request does not demote its group: it is answered alone, the rest commit once.

In process (the writer held while requests queue) and through a real server (16 concurrent
requests, one of them conflicting; the writer's counters in ``/metrics``).
"""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path

import pytest

from mlmkit.exceptions import DuplicateError

sys.path.insert(0, str(Path(__file__).parent))
from _proc import Server  # (a helper module beside the tests, not a package)
from test_writer import _batch, _ids, _rows


def test_a_conflict_with_the_log_is_answered_alone_the_group_commits_once(writer, hold):
    writer.submit(_batch("old", 2)).result(30)  # old0, old1 logged
    release = hold(writer)
    good = [writer.submit(_batch(f"g{k}-")) for k in range(4)]
    conflict = writer.submit(_batch("old", 2, x=1.0))  # same ids, other values
    retry = writer.submit(_batch("old", 2))  # the same rows again
    more = writer.submit(_batch("h-"))
    release.set()
    assert [f.result(30) for f in [*good, more]] == [{"written": 3, "duplicates": 0}] * 5
    with pytest.raises(DuplicateError, match="'old0'"):
        conflict.result(30)
    assert retry.result(30) == {"written": 0, "duplicates": 2}
    # the first request, then ONE for the five good ones (before: one each, 6); the pipelined
    # writer may take the group in two parts
    assert writer.groups >= 1 and writer.stats["commits"] <= 3
    assert writer.stats["failed"] == 1 and writer.stats["duplicates"] == 2
    assert len(_ids(writer)) == 2 + 15


def test_a_request_repeating_an_earlier_one_of_its_group_is_answered_after_it(writer, hold):
    release = hold(writer)
    first = writer.submit(_batch("a"))
    other = [writer.submit(_batch(f"o{k}-")) for k in range(3)]
    again = writer.submit(_batch("a"))  # a retry queued with the original
    clash = writer.submit(_batch("a", x=2.0))  # the same ids with other values
    release.set()
    assert first.result(30) == {"written": 3, "duplicates": 0}
    assert [f.result(30) for f in other] == [{"written": 3, "duplicates": 0}] * 3
    assert again.result(30) == {"written": 0, "duplicates": 3}
    with pytest.raises(DuplicateError, match="'a0'"):
        clash.result(30)
    assert writer.groups >= 1 and writer.stats["commits"] <= 2  # (before: 4)
    assert len(_ids(writer)) == 12


def test_small_requests_with_a_logged_id_are_answered_alone(writer, hold):
    writer.submit_rows(_rows("seen")).result(30)
    release = hold(writer)
    futures = [writer.submit_rows(_rows(f"s{k}")) for k in range(5)]
    changed = _rows("seen")
    changed.rows[0]["score"] = 0.25
    conflict = writer.submit_rows(changed)
    release.set()
    assert [f.result(30) for f in futures] == [{"written": 1, "duplicates": 0}] * 5
    with pytest.raises(DuplicateError, match="'seen'"):
        conflict.result(30)
    assert writer.groups >= 1 and writer.stats["commits"] <= 3  # (before: 6)


def test_retries_waiting_together_are_answered_by_one_look_up(writer, hold):
    """A storm of retries (every row logged already, same values) costs one look-up for the
    group, not a transaction and a comparison each; a changed row among them is still a 409,
    a retry of a batch with features (stamped on arrival, no timestamp) still a retry."""
    from test_group_labels import _counting

    first = [writer.submit_rows(_rows(f"r{k}")) for k in range(6)]
    feats = writer.submit(_batch("f", 2, x=1.5))
    assert [f.result(30) for f in first] == [{"written": 1, "duplicates": 0}] * 6
    assert feats.result(30) == {"written": 2, "duplicates": 0}
    inserts = _counting(writer, "insert_batch")
    before = dict(writer.stats)
    release = hold(writer)
    retries = [writer.submit_rows(_rows(f"r{k}")) for k in range(6)]
    feats_again = writer.submit(_batch("f", 2, x=1.5))
    changed = _rows("r0")
    changed.rows[0]["score"] = 0.25
    conflict = writer.submit_rows(changed)
    new = writer.submit_rows(_rows("n0"))
    release.set()
    assert [f.result(30) for f in retries] == [{"written": 0, "duplicates": 1}] * 6
    assert feats_again.result(30) == {"written": 0, "duplicates": 2}
    with pytest.raises(DuplicateError, match="'r0'"):
        conflict.result(30)
    assert new.result(30) == {"written": 1, "duplicates": 0}
    # the group's INSERT and the conflict's own attempt (before: one more per retry, 9)
    assert len(inserts) <= 3, len(inserts)
    assert writer.stats["duplicates"] - before["duplicates"] == 8
    assert writer.stats["failed"] - before["failed"] == 1
    assert len(_ids(writer)) == 6 + 2 + 1


def _counter(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def _post(host: str, port: int, body: bytes) -> socket.socket:
    conn = socket.create_connection((host, port), timeout=30)
    conn.sendall(b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                 b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    return conn


def _status(conn: socket.socket) -> int:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(65536)
        assert chunk, "connection closed before the answer"
        head += chunk
    conn.close()
    return int(head[9:12])


@pytest.mark.slow
def test_sixteen_concurrent_posts_one_conflicting_commit_in_one_group(tmp_path):
    """Through a real server: before, the conflict made every request of its group commit
    alone (~15 commits); now the 15 others commit together (at most a few groups)."""
    server = Server(tmp_path / "ws.duckdb")
    try:
        def body(pid: str, score: float = 0.5) -> bytes:
            return json.dumps([{"model_name": "m", "version": "1.0.0", "prediction": True,
                                "score": score, "prediction_id": pid}]).encode()

        assert server.post("/v1/predictions", body("taken")).status_code == 201
        before = server.client.get("/metrics").text
        host, port = server.base.split("//")[1].split(":")
        conns = [_post(host, int(port), body(f"p{k}")) for k in range(15)]
        conns.append(_post(host, int(port), body("taken", 0.75)))  # same id, other score
        statuses = [_status(conn) for conn in conns]
        assert statuses == [201] * 15 + [409]
        after = server.client.get("/metrics").text
        commits = _counter(after, "mlmkit_server_ingest_commits_total") - _counter(
            before, "mlmkit_server_ingest_commits_total")
        groups = _counter(after, "mlmkit_server_ingest_groups_total") - _counter(
            before, "mlmkit_server_ingest_groups_total")
        assert _counter(after, "mlmkit_server_ingest_failed_total") == 1
        assert 1 <= commits <= 3 and groups >= 1, (commits, groups)
        assert server.stop() == 0
    finally:
        server.kill()
