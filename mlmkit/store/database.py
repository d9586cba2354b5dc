"""DuckDB connection management shared by processes: lease, hand-off, retry, migrations.

DuckDB lets one process at a time open a database file, and has no busy timeout. mlmkit
therefore treats the file as a *lease*:

- A workspace opens its connection on first use and keeps it while it is busy (so a serving
  loop pays one ``INSERT``, not an open, per call).
- Two advisory ``flock`` files next to the database order the processes: ``<db>.lock`` is held
  with the connection, ``<db>.queue`` is a turnstile that a waiting process holds while it
  waits. The holder notices a waiter (the turnstile is taken) after each operation and by a
  small watchdog thread, and hands the file over once it has held it for ``min_hold``
  seconds. An idle holder releases the file after ``idle_release`` seconds even with nobody
  waiting, so non-mlmkit tools can open it too.
- Waiting is bounded: after ``lock_timeout`` seconds a :class:`~mlmkit.exceptions.LockedError`
  is raised and nothing was written. ``duckdb.connect`` is retried on DuckDB's own
  "Could not set lock" error within the same bound (for processes outside this protocol).
- ``flock`` locks vanish with their process, so a ``kill -9`` never leaves the file locked;
  every statement autocommits (or runs in an explicit transaction), and DuckDB's WAL keeps
  what was acknowledged.

An in-memory database (``path=None``) is one connection owned by the process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import duckdb

from mlmkit.exceptions import LockedError, StoreError
from mlmkit.store import migrations as _migrations

__all__ = ["Database"]

_LOCK_MESSAGE = "Could not set lock"


class Database:
    """A DuckDB database file (or an in-memory database) used through short leases.

    Parameters
    ----------
    path
        Database file, or ``None`` for an in-memory database.
    lock_timeout
        Seconds to wait for another process before raising :class:`LockedError`.
    min_hold
        Seconds a busy holder keeps the file before handing it to a waiting process.
    idle_release
        Seconds of inactivity after which the file is released even without waiters.
    migrate
        Apply pending schema migrations on first use; ``False`` opens the file as it is
        (used by health checks).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 30.0,
                 min_hold: float = 0.1, idle_release: float = 2.0,
                 migrate: bool = True) -> None:
        self.path = None if path is None else Path(path)
        self.lock_timeout = lock_timeout
        self.min_hold = min_hold
        self.idle_release = idle_release
        self._mutex = threading.RLock()
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._depth = 0
        self._acquired_at = 0.0
        self._last_used = 0.0
        self._closed = False
        self._lock_file: IO[bytes] | None = None
        self._queue_file: IO[bytes] | None = None
        self._watchdog: threading.Thread | None = None
        self._stop = threading.Event()
        if self.path is None:
            self._conn = _configure(duckdb.connect(":memory:"))
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(f"{self.path}.lock", "ab")  # noqa: SIM115 - held for life
            self._queue_file = open(f"{self.path}.queue", "ab")  # noqa: SIM115
            self._watchdog = threading.Thread(target=_watch, args=(weakref.ref(self), self._stop),
                                              name="mlmkit-lease", daemon=True)
            self._watchdog.start()
        if migrate:
            with self.connection() as conn:
                _migrations.migrate(conn, str(self.path or ":memory:"))

    # ------------------------------------------------------------------ public API
    @property
    def is_memory(self) -> bool:
        """Whether this is an in-memory database."""
        return self.path is None

    @contextlib.contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield the connection, holding the file lease for the duration of the block."""
        if self._closed:
            raise StoreError("the workspace is closed; open it again with mlmkit.open()")
        with self._mutex:
            self._ensure_open()
            self._depth += 1
            try:
                assert self._conn is not None
                yield self._conn
            except duckdb.Error as err:
                raise StoreError(f"DuckDB failed: {err}") from err
            finally:
                # Finish any result left pending by a fetchone(): DuckDB 2 refuses the next
                # conn.sql() on a connection with an unfinished result.
                if self._conn is not None:
                    self._conn.complete()
                self._depth -= 1
                self._last_used = time.monotonic()
                if self._depth == 0:
                    self._maybe_hand_off()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield the connection inside ``BEGIN`` … ``COMMIT`` (``ROLLBACK`` on any error)."""
        with self.connection() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement and return all rows."""
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def release(self) -> None:
        """Close the connection now and let other processes in (file databases only)."""
        with self._mutex:
            if self._depth == 0:
                self._release()

    def close(self) -> None:
        """Release the file (checkpointing it) and stop the watchdog. Idempotent."""
        with self._mutex:
            if self._closed:
                return
            self._stop.set()
            if self.path is None:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
            else:
                self._release()
                for handle in (self._lock_file, self._queue_file):
                    if handle is not None:
                        handle.close()
            self._closed = True

    # ------------------------------------------------------------------ lease internals
    def _ensure_open(self) -> None:
        if self._conn is not None:
            return
        deadline = time.monotonic() + self.lock_timeout
        assert self._lock_file is not None and self._queue_file is not None
        self._flock(self._queue_file, deadline)
        try:
            self._flock(self._lock_file, deadline)
        finally:
            fcntl.flock(self._queue_file, fcntl.LOCK_UN)
        try:
            self._conn = self._connect(deadline)
        except BaseException:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            raise
        self._acquired_at = time.monotonic()

    def _flock(self, handle: IO[bytes], deadline: float) -> None:
        delay = 0.0005
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"{self.path} stayed locked by another process for "
                        f"{self.lock_timeout:g} s (lock_timeout); nothing was written"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.01)

    def _connect(self, deadline: float) -> duckdb.DuckDBPyConnection:
        delay = 0.002
        while True:
            try:
                return _configure(duckdb.connect(str(self.path)))
            except duckdb.IOException as err:
                if _LOCK_MESSAGE not in str(err):
                    raise StoreError(f"cannot open {self.path}: {err}") from err
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"{self.path} is locked by another program for {self.lock_timeout:g} s "
                        f"(lock_timeout): {err}"
                    ) from err
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
            except duckdb.Error as err:
                raise StoreError(f"cannot open {self.path}: {err}") from err

    def _someone_waits(self) -> bool:
        assert self._queue_file is not None
        try:
            fcntl.flock(self._queue_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._queue_file, fcntl.LOCK_UN)
        return False

    def _maybe_hand_off(self) -> None:
        if self._conn is None or self.path is None:
            return
        held = time.monotonic() - self._acquired_at
        if held >= self.min_hold and self._someone_waits():
            self._release()

    def _release(self) -> None:
        if self._conn is None or self.path is None:
            return
        try:
            self._conn.close()
        finally:
            self._conn = None
            assert self._lock_file is not None
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _tick(self) -> None:
        if not self._mutex.acquire(blocking=False):
            return
        try:
            if self._conn is None or self._depth:
                return
            if time.monotonic() - self._last_used >= self.idle_release:
                self._release()
            else:
                self._maybe_hand_off()
        except duckdb.Error:  # a connection used behind our back; retry on the next tick
            pass
        finally:
            self._mutex.release()

    def __del__(self) -> None:
        self._stop.set()

    def __repr__(self) -> str:
        return f"Database({str(self.path) if self.path else ':memory:'})"


def _configure(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    conn.execute("SET TimeZone = 'UTC'").fetchall()
    conn.execute("SET enable_progress_bar = false").fetchall()  # a library prints nothing
    return conn


def _watch(ref: weakref.ref[Database], stop: threading.Event) -> None:
    """Watchdog: release an idle lease, or hand a held one to a waiting process."""
    while not stop.wait(0.02):
        db = ref()
        if db is None:
            return
        db._tick()
        del db
