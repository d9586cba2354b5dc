"""GroupCommitWriter in process: one transaction per group, a bad request fails alone, drain."""

from __future__ import annotations

import threading

import polars as pl
import pytest

import mlmkit
from mlmkit.exceptions import DuplicateError, StateError, ValidationError
from mlmkit.server.writer import GroupCommitWriter
from mlmkit.services.ingest import prediction_batch


def _batch(prefix: str, n: int = 3, **features: object):
    return prediction_batch(pl.DataFrame({
        "model_name": ["m"] * n, "version": ["1.0.0"] * n, "prediction": [True] * n,
        "score": [0.75] * n, "prediction_id": [f"{prefix}{i}" for i in range(n)],
        **{k: [v] * n for k, v in features.items()}}))


def _ids(writer: GroupCommitWriter) -> list[str]:
    return sorted(writer.call(lambda ws: ws.log.predictions("m")["prediction_id"].to_list())
                  .result(30))


def test_waiting_requests_commit_in_one_transaction(writer, hold):
    release = hold(writer)
    futures = [writer.submit(_batch(f"g{k}-", x=k)) for k in range(5)]
    assert not any(f.done() for f in futures)  # nothing answered before the commit
    release.set()
    assert [f.result(30) for f in futures] == [{"written": 3, "duplicates": 0}] * 5
    # (the pipelined writer's validator may take the queued requests in two parts)
    assert 1 <= writer.groups <= (2 if writer.pipeline else 1)
    assert len(_ids(writer)) == 15


def test_a_bad_request_in_a_group_fails_alone(writer, hold):
    release = hold(writer)
    good = writer.submit(_batch("a", x=1.0))
    clash = writer.submit(_batch("b", x="text"))  # feature x numeric in the same group
    retry = writer.submit(_batch("a", x=1.0))  # the same rows again: a retry
    other = writer.submit(_batch("a", x=2.0))  # the same ids with other values
    more = writer.submit(_batch("a", x=1.0, y=1.0))  # ... and a feature never logged
    release.set()
    assert good.result(30) == {"written": 3, "duplicates": 0}
    with pytest.raises(ValidationError, match="feature 'x'"):
        clash.result(30)
    assert retry.result(30) == {"written": 0, "duplicates": 3}
    for future in (other, more):
        with pytest.raises(DuplicateError, match="'a0'"):
            future.result(30)
    # the group fails whole (x of two types), each request alone; the pipelined writer may
    # take the queued requests in two parts, one of them without the bad request
    assert writer.groups <= (1 if writer.pipeline else 0)
    assert _ids(writer) == ["a0", "a1", "a2"]


def test_close_commits_the_queue_then_refuses(writer, hold):
    release = hold(writer)
    futures = [writer.submit(_batch(f"c{k}-")) for k in range(3)]
    closing = threading.Thread(target=writer.close)
    closing.start()
    release.set()
    closing.join(30)
    assert [f.result(0) for f in futures] == [{"written": 3, "duplicates": 0}] * 3
    with pytest.raises(StateError, match="shutting down"):
        writer.submit(_batch("late"))
    with mlmkit.open(writer.path) as ws:
        assert ws.log.count() == 9


def test_a_cancelled_request_is_dropped_and_the_writer_goes_on(writer, hold):
    release = hold(writer)
    gone = writer.submit(_batch("gone"))
    kept = writer.submit(_batch("kept"))
    assert gone.cancel()  # e.g. asyncio cancelled the request waiting on it
    release.set()
    assert kept.result(30) == {"written": 3, "duplicates": 0}
    assert writer.submit(_batch("after")).result(30)["written"] == 3
    assert _ids(writer) == ["after0", "after1", "after2", "kept0", "kept1", "kept2"]


def test_an_unexpected_error_reaches_the_requests_and_the_writer_goes_on(writer, monkeypatch, hold):
    def broken(ws, jobs):
        raise RuntimeError("a bug in the writer")

    release = hold(writer)
    failing = writer.submit(_batch("x"))
    monkeypatch.setattr(writer, "_commit", broken)
    release.set()
    with pytest.raises(RuntimeError, match="a bug"):
        failing.result(30)
    monkeypatch.undo()
    assert writer.submit(_batch("y")).result(30)["written"] == 3


def _rows(pid: str, **extra: object):
    from datetime import timedelta

    from mlmkit.server.bodies import row_shape
    from mlmkit.server.writer import Rows

    rows = [{"model_name": "m", "version": "1.0.0", "prediction": True, "score": 0.5,
             "prediction_id": pid, **extra}]
    shape = row_shape(rows)
    assert shape is not None
    return Rows(rows, shape, timedelta(minutes=5))


def test_small_requests_are_validated_and_committed_as_one_group(writer, hold):
    release = hold(writer)
    futures = [writer.submit_rows(_rows(f"r{k}", x=float(k))) for k in range(6)]
    release.set()
    assert [f.result(30) for f in futures] == [{"written": 1, "duplicates": 0}] * 6
    parts = 2 if writer.pipeline else 1  # (the pipelined writer may take two parts)
    assert 1 <= writer.groups <= parts and 1 <= writer.stats["commits"] <= parts
    frame = writer.call(lambda ws: ws.log.predictions("m")).result(30).sort("prediction_id")
    assert frame["x"].to_list() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_bad_small_request_fails_alone_naming_its_own_row(writer, hold):
    release = hold(writer)
    good = [writer.submit_rows(_rows(f"ok{k}")) for k in range(3)]
    text = writer.submit_rows(_rows("text", y="a"))  # another shape: its own group
    fine = writer.submit_rows(_rows("fine", x=2.0))
    bad_rows = _rows("bad", x=3.0)
    bad_rows.rows[0]["score"] = 7.0  # same shape as `fine`: the pair fails together
    bad = writer.submit_rows(bad_rows)
    release.set()
    assert [f.result(30) for f in good] == [{"written": 1, "duplicates": 0}] * 3
    assert text.result(30) == {"written": 1, "duplicates": 0}
    assert fine.result(30) == {"written": 1, "duplicates": 0}  # validated alone: fine
    with pytest.raises(ValidationError, match=r"score \(row 0\).*7\.0"):
        bad.result(30)
    assert _ids(writer) == ["fine", "ok0", "ok1", "ok2", "text"]


def test_reads_run_on_a_cursor_beside_a_busy_writer(writer, hold):
    """A read does not queue behind the writer thread (it did: reads were writer calls)."""
    writer.submit(_batch("seen")).result(30)
    release = hold(writer)
    try:
        done = threading.Event()
        found: list[int] = []

        def read() -> None:
            found.append(writer.read(lambda ws: ws.log.count("m"), timeout=30))
            done.set()

        threading.Thread(target=read, daemon=True).start()
        assert done.wait(10), "the read waited for the writer thread"
        assert found == [3]
    finally:
        release.set()


def test_a_read_cannot_write(writer):
    writer.submit(_batch("w")).result(30)
    with pytest.raises(StateError, match="tried to write"):
        writer.read(lambda ws: ws.registry.register(
            mlmkit.ModelMetadata.for_n1_detector("1.0.0")))


def test_small_requests_are_validated_while_the_writer_commits(writer, hold):
    """Stage 1 validates the next requests while the writer thread is busy (pipeline)."""
    if not writer.pipeline:
        pytest.skip("the serial writer validates on its own thread")
    release = hold(writer)
    try:
        bad_rows = _rows("bad")
        bad_rows.rows[0]["score"] = 7.0
        bad = writer.submit_rows(bad_rows)
        good = writer.submit_rows(_rows("good"))
        assert isinstance(bad.exception(10), ValidationError)  # while the writer is held
        assert not good.done()
    finally:
        release.set()
    assert good.result(30) == {"written": 1, "duplicates": 0}
