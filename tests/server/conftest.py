"""Fixtures of the server tests: a group-commit writer on a fresh workspace, serial or pipelined."""

from __future__ import annotations

import threading

import pytest

import mlmkit
from mlmkit.server.writer import GroupCommitWriter


@pytest.fixture(params=[False, True], ids=["serial", "pipeline"])
def writer(tmp_path, request):
    mlmkit.open(tmp_path / "ws.duckdb").close()
    out = GroupCommitWriter(tmp_path / "ws.duckdb", pipeline=request.param).start()
    yield out
    out.close()


@pytest.fixture
def hold():
    """``hold(writer)`` blocks the writer thread until the returned event is set (requests
    queue meanwhile)."""
    def block(writer: GroupCommitWriter) -> threading.Event:
        release, held = threading.Event(), threading.Event()

        def wait(ws):
            held.set()
            release.wait(30)

        writer.call(wait)
        assert held.wait(30)
        return release

    return block
