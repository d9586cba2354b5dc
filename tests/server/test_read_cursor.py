"""A read cursor of the server's connection keeps the file until the read ends.

Another process waiting for the file (a job, a notebook) gets it when the read is over, not
in the middle of it: closing the connection would close the cursor under the read.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import mlmkit
from mlmkit.store.read_cursor import CursorDatabase, CursorView

ROOT = Path(__file__).resolve().parents[2]


def test_a_waiting_process_gets_the_file_only_after_the_read(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    mlmkit.open(path).close()
    db = CursorDatabase(str(path), lock_timeout=30)
    try:
        with db.read_cursor() as cursor:
            other = subprocess.Popen(
                [sys.executable, "-c", "import mlmkit, sys\n"
                 "with mlmkit.open(sys.argv[1]) as ws:\n"
                 "    ws.registry.register(mlmkit.ModelMetadata.for_n1_detector('1.0.0'))",
                 str(path)], cwd=ROOT)
            time.sleep(2.0)  # the watchdog sees the waiter every 20 ms
            assert other.poll() is None  # still waiting: the file was not handed over
            view = CursorView(cursor, db.path)
            assert view.execute("SELECT count(*) FROM models") == [(0,)]
        assert other.wait(60) == 0  # handed over once the read ended
        assert db.execute("SELECT count(*) FROM models") == [(1,)]  # taken back
    finally:
        db.close()
