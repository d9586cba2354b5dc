"""A BufferedWriter across fork(): the child never re-flushes the parent's rows (real fork)."""

from __future__ import annotations

import multiprocessing
import threading

import mlmkit


def _child(path: str, held: bool, out: multiprocessing.Queue) -> None:
    ws = mlmkit.open(path)
    writer = _WRITER[0]
    ids = [writer.track("m", "1.0.0", True, score=0.5) for _ in range(3)]
    writer.close()  # the child's own rows only; would hang on an inherited held lock
    ws.close()
    out.put((ids, writer.written, held))


_WRITER: list[mlmkit.BufferedWriter] = []


def test_forked_child_drops_the_parents_buffer(tmp_path):
    path = str(tmp_path / "ws.duckdb")
    with mlmkit.open(path) as ws:
        writer = ws.log.buffered(max_rows=1000, max_seconds=3600)
        _WRITER[:] = [writer]
        parent_ids = [writer.track("m", "1.0.0", False, score=0.5) for _ in range(5)]
        got, done = threading.Event(), threading.Event()

        def hold() -> None:  # another thread holds the writer's lock at the fork
            with writer._lock:
                got.set()
                done.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        assert got.wait(10)
        ctx = multiprocessing.get_context("fork")
        out: multiprocessing.Queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(path, True, out))
        proc.start()
        child_ids, child_written, _ = out.get(timeout=60)
        proc.join(60)
        done.set()
        holder.join()
        assert proc.exitcode == 0
        assert child_written == 3
        writer.close()
        assert ws.log.count("m") == 8  # 5 from the parent (once), 3 from the child
        assert not set(child_ids) & set(parent_ids)
        ids = ws.db.execute("SELECT count(DISTINCT prediction_id) FROM predictions")[0][0]
        assert ids == 8
