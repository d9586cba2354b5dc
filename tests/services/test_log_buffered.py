"""The buffered writer flushes when idle, at exit and on SIGTERM (real processes)."""

import signal
import subprocess
import sys
import textwrap
import time

import mlmkit

CHILD = textwrap.dedent("""
    import sys, time
    import mlmkit
    ws = mlmkit.open(sys.argv[1])
    buf = ws.log.buffered(max_rows=1000, max_seconds=float(sys.argv[2]))
    for i in range(5):
        buf.track("m", "1.0.0", True, score=0.5)
    print("ready", flush=True)
    if sys.argv[3] == "sleep":
        time.sleep(60)
""")


def _count(path) -> int:
    with mlmkit.open(path) as ws:
        return ws.log.count()


def _start(path, max_seconds: str, mode: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), max_seconds, mode],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_idle_writer_flushes_on_its_timer(tmp_path):
    path = tmp_path / "idle.duckdb"
    child = _start(path, "1", "sleep")
    try:
        deadline = time.monotonic() + 30
        while _count(path) < 5 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _count(path) == 5  # flushed with no further call, the process still alive
    finally:
        child.kill()
        child.wait()


def test_sigterm_flushes_then_terminates(tmp_path):
    path = tmp_path / "term.duckdb"
    child = _start(path, "3600", "sleep")
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == -signal.SIGTERM  # the default action still follows
    assert _count(path) == 5


def test_interpreter_exit_flushes(tmp_path):
    path = tmp_path / "exit.duckdb"
    child = _start(path, "3600", "exit")
    assert child.wait(timeout=60) == 0
    assert _count(path) == 5
