"""A BufferedWriter across fork(): the child never re-flushes the parent's rows (real fork).

The scenario runs in a fresh interpreter: a pytest worker has already started polars' and
DuckDB's thread pools in earlier tests, and fork() from such a process can deadlock inside
those libraries (polars documents the hazard), whatever mlmkit does. A timeout turns any hang
into a failure instead of a stuck CI run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import json, multiprocessing, sys, threading
    import mlmkit

    WRITER = []

    def child(path, out):
        ws = mlmkit.open(path)
        writer = WRITER[0]
        ids = [writer.track("m", "1.0.0", True, score=0.5) for _ in range(3)]
        writer.close()  # the child's own rows only; would hang on an inherited held lock
        ws.close()
        out.put((ids, writer.written))

    path = sys.argv[1]
    with mlmkit.open(path) as ws:
        writer = ws.log.buffered(max_rows=1000, max_seconds=3600)
        WRITER[:] = [writer]
        parent_ids = [writer.track("m", "1.0.0", False, score=0.5) for _ in range(5)]
        got, done = threading.Event(), threading.Event()

        def hold():  # another thread holds the writer's lock at the fork
            with writer._lock:
                got.set()
                done.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        assert got.wait(10)
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        proc = ctx.Process(target=child, args=(path, out))
        proc.start()
        child_ids, child_written = out.get(timeout=60)
        proc.join(60)
        done.set()
        holder.join()
        writer.close()
        distinct = ws.db.execute("SELECT count(DISTINCT prediction_id) FROM predictions")[0][0]
        print(json.dumps({"exitcode": proc.exitcode, "child_written": child_written,
                          "count": ws.log.count("m"), "distinct": distinct,
                          "overlap": len(set(child_ids) & set(parent_ids))}))
""")


def test_forked_child_drops_the_parents_buffer(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "ws.duckdb")],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["exitcode"] == 0
    assert result["child_written"] == 3
    assert result["count"] == 8  # 5 from the parent (once), 3 from the child
    assert result["distinct"] == 8 and result["overlap"] == 0


SIGTERM_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import mlmkit

    ws = mlmkit.open(sys.argv[1])
    writer = ws.log.buffered(max_rows=1000, max_seconds=3600)  # installs the SIGTERM flush
    writer.track("m", "1.0.0", True, score=0.5)
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    pid = os.fork()
    if pid == 0:  # a pool worker: default SIGTERM, as without mlmkit
        os._exit(0 if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL else 3) \\
            if sys.argv[2] == "check" else time.sleep(60)
    if sys.argv[2] == "check":
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    else:
        time.sleep(0.5)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                print(os.waitstatus_to_exitcode(status))
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            print("hung")
    writer.close()
    ws.close()
""")


def test_a_forked_worker_dies_on_sigterm_like_without_mlmkit(tmp_path: Path) -> None:
    """The parent's flush-on-SIGTERM handler is not inherited: a pool's terminate() hung on it."""
    for mode, expected in (("check", "0"), ("kill", str(-15))):
        proc = subprocess.run([sys.executable, "-c", SIGTERM_SCRIPT,
                               str(tmp_path / f"{mode}.duckdb"), mode],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip().splitlines()[-1] == expected
