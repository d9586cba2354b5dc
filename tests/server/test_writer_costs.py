"""Fixed costs of the writer's small groups that once hid in polars' thread pool."""

from __future__ import annotations

import polars as pl
import pytest

from mlmkit.exceptions import DuplicateError
from mlmkit.services.ingest import prediction_batch


def test_a_small_batch_checks_its_ids_without_the_thread_pool(monkeypatch):
    """The uniqueness check of a small batch sorts in the calling thread: a parallel sort of
    16 hashes measured p99 1.5 ms (once 6 ms) on a loaded machine, single-threaded 1 us."""
    calls: list[bool] = []
    sort = pl.Series.sort

    def recording(self, *args, **kwargs):
        calls.append(kwargs.get("multithreaded", True))
        return sort(self, *args, **kwargs)

    monkeypatch.setattr(pl.Series, "sort", recording)
    frame = pl.DataFrame({"model_name": ["m"] * 16, "version": ["1.0.0"] * 16,
                          "prediction": [True] * 16, "prediction_id": [f"p{i}" for i in range(16)]})
    prediction_batch(frame)
    assert calls == [False]
    with pytest.raises(DuplicateError, match="'p0' appears more than once"):  # unchanged
        prediction_batch(frame.with_columns(prediction_id=pl.Series([f"p{i % 8}" for i in
                                                                     range(16)])))


def test_a_small_request_whose_task_expired_stays_on_the_small_path(tmp_path):
    """The task cache expires every ttl; the requests arriving then took the general path
    (parsed, validated and converted alone in a worker thread: 4-5 % of the server's busy
    samples under 16 connections). Now the tasks are read again and the rows join a group."""
    import asyncio
    import json
    from concurrent.futures import Future

    import mlmkit
    from mlmkit.server.app import create_app
    from mlmkit.server.writer import GroupCommitWriter

    mlmkit.open(tmp_path / "ws.duckdb").close()
    writer = GroupCommitWriter(tmp_path / "ws.duckdb").start()
    try:
        app = create_app(tmp_path / "ws.duckdb", writer=writer)
        api = next(r.endpoint.__self__ for r in app.routes if r.path == "/v1/predictions")
        api.tasks.ttl = 0.0  # every look-up expired
        body = json.dumps([{"model_name": "m", "version": "1.0.0", "prediction": True,
                            "prediction_id": "p1"}]).encode()
        future = asyncio.run(api.small(body, "application/json"))
        assert isinstance(future, Future)
        assert future.result(30) == {"written": 1, "duplicates": 0}
        assert asyncio.run(api.small(b"[]", "application/json")) is None
        assert asyncio.run(api.small(b'[{"model_name": 7}]', "application/json")) is None
    finally:
        writer.close()
