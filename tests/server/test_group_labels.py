"""Labels in the group transaction: one INSERT and one label UPDATE per group, failures alone.

In process (`GroupCommitWriter` with the writer thread held while requests queue) and through a
real ``mlmkit serve`` process (concurrent predictions and actuals).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

import mlmkit
from mlmkit.catalogue import Task
from mlmkit.exceptions import NotFoundError, ValidationError
from mlmkit.server.bodies import row_shape
from mlmkit.server.labels import Labels
from mlmkit.server.writer import GroupCommitWriter, Rows
from tests.server._proc import Server


def _rows(pid: str) -> Rows:
    rows = [{"model_name": "m", "version": "1.0.0", "prediction": True, "score": 0.5,
             "prediction_id": pid}]
    shape = row_shape(rows)
    assert shape is not None
    return Rows(rows, shape, timedelta(minutes=5), {"m": Task.BINARY})


def _labels(ids: list[str], values: list[bool], **spec: object) -> Labels:
    parsed = Labels.parse({"model_name": "m", "prediction_ids": ids, "actuals": values, **spec},
                          lambda model: Task.BINARY)
    assert parsed is not None
    return parsed


def _counting(writer: GroupCommitWriter, name: str) -> list[int]:
    """Count the calls of ``ws.log.store.<name>`` (a wrapper on the store, not on SQL)."""
    calls: list[int] = []

    def wrap(ws):
        store = ws.log.store
        original = getattr(store, name)

        def counted(*args, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)

        setattr(store, name, counted)

    writer.call(wrap).result(30)
    return calls


def _stored(writer: GroupCommitWriter) -> dict[str, object]:
    frame = writer.call(lambda ws: ws.log.predictions("m")).result(30)
    return dict(zip(frame["prediction_id"].to_list(), frame["actual"].to_list(), strict=True))


def test_a_group_of_n_requests_is_one_insert(writer, hold):
    inserts = _counting(writer, "insert_batch")
    release = hold(writer)
    futures = [writer.submit_rows(_rows(f"p{k}")) for k in range(12)]
    release.set()
    assert [f.result(30) for f in futures] == [{"written": 1, "duplicates": 0}] * 12
    parts = 2 if writer.pipeline else 1  # (the pipelined writer may take two parts)
    assert 1 <= len(inserts) <= parts and 1 <= writer.groups <= parts
    assert writer.stats["commits"] == len(inserts)


def test_labels_commit_in_the_transaction_of_the_group(writer, hold):
    writer.submit_rows(_rows("old0")).result(30)
    writer.submit_rows(_rows("old1")).result(30)
    inserts = _counting(writer, "insert_batch")
    updates = _counting(writer, "record_label_requests")
    commits = writer.stats["commits"]
    release = hold(writer)
    rows = [writer.submit_rows(_rows(f"new{k}")) for k in range(3)]
    good = writer.submit_labels(_labels(["old0"], [True]))
    same_group = writer.submit_labels(_labels(["new1", "old1"], [False, True]))  # rows of
    bad = writer.submit_labels(_labels(["new0", "nope"], [False, False]))  # the same group
    skip = writer.submit_labels(_labels(["new2", "gone"], [True, True], on_unknown="skip"))
    release.set()
    assert [f.result(30) for f in rows] == [{"written": 1, "duplicates": 0}] * 3
    assert good.result(30) == {"labelled": 1, "skipped": 0}
    assert same_group.result(30) == {"labelled": 2, "skipped": 0}
    with pytest.raises(NotFoundError, match="'nope'"):
        bad.result(30)  # alone: nothing of it recorded (new0 stays unlabelled)
    assert skip.result(30) == {"labelled": 1, "skipped": 1}
    # one INSERT, one label UPDATE, one commit; the pipelined writer may take the queued
    # requests in two parts (its validator took the first before the others were queued)
    parts = 2 if writer.pipeline else 1
    assert 1 <= len(inserts) <= parts and 1 <= len(updates) <= parts
    assert writer.stats["commits"] - commits <= parts
    assert _stored(writer) == {"old0": True, "old1": True, "new0": None, "new1": False,
                               "new2": True}
    audit = writer.call(lambda ws: ws.db.execute(
        "SELECT prediction_id, actual FROM actuals ORDER BY 1")).result(30)
    assert audit == [("new1", False), ("new2", True), ("old0", True), ("old1", True)]


def test_an_id_labelled_twice_in_a_group_keeps_the_later_label(writer, hold):
    writer.submit_rows(_rows("a")).result(30)
    release = hold(writer)
    first = writer.submit_labels(_labels(["a"], [True]))
    second = writer.submit_labels(_labels(["a"], [False]))
    release.set()
    assert first.result(30) == second.result(30) == {"labelled": 1, "skipped": 0}
    assert _stored(writer) == {"a": False}


def test_a_failing_group_commits_labels_alone(writer, hold):
    """A prediction request failing at commit sends the group to one transaction each."""
    writer.submit_rows(_rows("x")).result(30)
    release = hold(writer)
    clash = writer.submit_rows(_rows("x"))  # already logged (a retry: 200 duplicates)
    label = writer.submit_labels(_labels(["x"], [True]))
    release.set()
    assert clash.result(30) == {"written": 0, "duplicates": 1}
    assert label.result(30) == {"labelled": 1, "skipped": 0}
    assert _stored(writer) == {"x": True}


def test_label_requests_are_validated_before_queueing():
    with pytest.raises(ValidationError, match="unique ids"):
        _labels(["a", "a"], [True, False])
    with pytest.raises(ValidationError, match="as many values"):
        _labels(["a"], [True, False])
    with pytest.raises(ValidationError, match="booleans or 0/1"):
        _labels(["a"], ["maybe"])
    assert Labels.parse({"model_name": "m", "prediction_ids": [], "actuals": []},
                        lambda model: Task.BINARY) is None


def test_concurrent_predictions_and_actuals_through_a_server(tmp_path):
    server = Server(tmp_path / "ws.duckdb")
    try:
        def post(k: int) -> tuple[str, int, list[str]]:
            ids = [f"c{k}-{i}" for i in range(5)]
            rows = [{"model_name": "m", "version": "1.0.0", "prediction": True,
                     "prediction_id": pid} for pid in ids]
            resp = server.post("/v1/predictions", json.dumps(rows))
            assert resp.status_code == 201, resp.text
            labelled = ids[:3] if k % 7 else [*ids[:3], "missing"]
            resp = server.post("/v1/actuals", json.dumps(
                {"model_name": "m", "prediction_ids": labelled,
                 "actuals": [i % 2 == 0 for i in range(len(labelled))]}))
            return "bad" if k % 7 == 0 else "good", resp.status_code, ids

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(post, range(40)))
        for kind, status, _ in outcomes:
            assert status == (404 if kind == "bad" else 200), (kind, status)
        metrics = server.client.get("/metrics").text
        requests = _counter(metrics, "requests")
        assert requests == 80 and _counter(metrics, "commits") < requests
    finally:
        assert server.stop() == 0
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        stored = ws.log.predictions("m")
        actual = dict(zip(stored["prediction_id"], stored["actual"], strict=True))
    for kind, _, ids in outcomes:
        assert all(pid in actual for pid in ids)  # every 2xx row
        expected = [None] * 3 if kind == "bad" else [True, False, True]
        assert [actual[pid] for pid in ids] == [*expected, None, None]


def _counter(text: str, name: str) -> int:
    line = next(ln for ln in text.splitlines()
                if ln.startswith(f"mlmkit_server_ingest_{name}_total "))
    return int(float(line.split()[1]))
