"""A workspace opened before a fork: every worker's acknowledged write is stored, none hangs.

Before the fix a fork pool's workers wrote through the connection they inherited: 200
``track()`` calls returned ids and the file held none of them (and a variant that released the
lease first hung a worker for minutes). Each pool below runs 4 workers x 100 ``track()`` calls
while the parent holds the workspace open; a hang fails the test through the pool timeout.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

import mlmkit
from mlmkit import StateError

pytestmark = pytest.mark.slow

WORKERS, PER_WORKER, HANG_BOUND_S = 4, 100, 30.0
_WS: mlmkit.Workspace | None = None   # the parent's workspace, inherited by fork workers
_PATH = ""


def _open_in_worker(path: str) -> None:
    """Initializer for spawn/forkserver workers (they inherit nothing)."""
    global _WS
    _WS = mlmkit.open(path, lock_timeout=60)


def _work(tag: int) -> tuple[list[str], float, int]:
    assert _WS is not None
    start = time.monotonic()
    ids = [_WS.log.track("m", "1.0.0", i % 2 == 0, score=0.5, prediction_id=f"w{tag}-{i}")
           for i in range(PER_WORKER)]
    return ids, time.monotonic() - start, os.getpid()


def _run_pool(method: str, path: Path, *, release_first: bool) -> None:
    global _WS
    ws = mlmkit.open(path, lock_timeout=60)
    _WS = ws
    try:
        ws.log.track("m", "1.0.0", True, prediction_id="parent-0")   # holds the lease now
        if release_first:
            ws.db.release()
        ctx = multiprocessing.get_context(method)
        init = (None, ()) if method == "fork" else (_open_in_worker, (str(path),))
        with ctx.Pool(WORKERS, initializer=init[0], initargs=init[1]) as pool:
            results = pool.map_async(_work, range(WORKERS), chunksize=1).get(timeout=240)
        acknowledged = {i for ids, _s, _p in results for i in ids} | {"parent-0"}
        slowest = max(s for _i, s, _p in results)
        assert slowest < HANG_BOUND_S, f"a worker took {slowest:.1f} s"
        assert len({p for *_x, p in results}) > 1 or WORKERS == 1
        stored = ws.log.predictions("m")["prediction_id"].to_list()   # the parent still works
        assert len(stored) == WORKERS * PER_WORKER + 1
        assert set(stored) == acknowledged
        ws.log.track("m", "1.0.0", True, prediction_id="parent-1")
        assert ws.log.count("m") == WORKERS * PER_WORKER + 2
    finally:
        _WS = None
        ws.close()
    with mlmkit.open(path) as fresh:                     # and it is on disk, not in a cache
        assert fresh.log.count("m") == WORKERS * PER_WORKER + 2


@pytest.mark.parametrize("release_first", [False, True], ids=["held", "released"])
def test_fork_pool_workers_write_through_an_inherited_workspace(
        tmp_path: Path, release_first: bool) -> None:
    _run_pool("fork", tmp_path / "fork.duckdb", release_first=release_first)


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_other_start_methods_share_the_file_with_a_holding_parent(
        tmp_path: Path, method: str) -> None:
    _run_pool(method, tmp_path / f"{method}.duckdb", release_first=False)


def _in_child(body: object) -> int:
    """Fork, run ``body()`` in the child, return its exit status (a hang fails after 60 s)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = body()  # type: ignore[operator]
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung")


def test_fork_inside_a_lease_refuses_in_the_child_and_keeps_the_parent(tmp_path: Path) -> None:
    """The child cannot reuse a connection that was busy at fork time: it says so."""
    path = tmp_path / "busy.duckdb"
    with mlmkit.open(path) as ws:
        ws.log.track("m", "1.0.0", True, prediction_id="before")

        def child() -> int:
            try:
                ws.log.track("m", "1.0.0", True, prediction_id="child")
            except StateError as err:
                return 7 if "forked" in str(err) else 2
            return 3

        with ws.db.connection():
            status = _in_child(child)
        assert status == 7
        ws.log.track("m", "1.0.0", True, prediction_id="after")
        assert sorted(ws.log.predictions("m")["prediction_id"]) == ["after", "before"]


def test_in_memory_workspace_refuses_in_a_forked_child() -> None:
    with mlmkit.open() as ws:
        ws.log.track("m", "1.0.0", True)

        def child() -> int:
            try:
                ws.log.count()
            except StateError as err:
                return 7 if "in-memory" in str(err) else 2
            return 3

        assert _in_child(child) == 7
        assert ws.log.count() == 1
