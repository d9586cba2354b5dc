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
  waiting, so non-mlmkit tools can open it too. Read-only workspaces share ``<db>.lock``.
- Waiting is bounded: after ``lock_timeout`` seconds a
[`LockedError`][mlmkit.exceptions.LockedError]
  is raised and nothing was written. ``duckdb.connect`` is retried on DuckDB's own
  "Could not set lock" error within the same bound (for processes outside this protocol).
- ``flock`` locks vanish with their process, so a ``kill -9`` never leaves the file locked;
  every statement autocommits (or runs in a transaction); DuckDB's WAL keeps the rest.
- ``fork()``: the parent releases an idle lease just before forking; a forked child drops
  what it inherited (lock handles, mutex, watchdog) and opens its own connection.
- A connection DuckDB invalidated (a checkpoint hit a full disk) is dropped; the next call
  reopens the file and DuckDB replays its WAL. Each open refuses a truncated file.

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

from mlmkit._validation import invalid
from mlmkit.exceptions import LockedError, NotFoundError, StateError, StoreError
from mlmkit.store import migrations as _migrations
from mlmkit.store._files import (
    check_schema,
    configure,
    connect_until,
    flock_until,
    lock_handle,
    pin,
    someone_waits,
)

__all__ = ["Database"]

_LIVE: weakref.WeakSet[Database] = weakref.WeakSet()


class Database:
    """A DuckDB database file (or an in-memory database) used through short leases.

    Parameters
    ----------
    path
        Database file, or ``None`` for an in-memory database.
    lock_timeout
        Seconds to wait for another process before raising
        [`LockedError`][mlmkit.exceptions.LockedError].
    min_hold
        Seconds a busy holder keeps the file before handing it to a waiting process.
    idle_release
        Seconds of inactivity after which the file is released even without waiters.
    migrate
        Apply pending schema migrations on first use; ``False`` opens the file as it is
        (used by health checks).
    create
        Create a missing file (``False``: [`NotFoundError`][mlmkit.exceptions.NotFoundError]).
    read_only
        Open an existing file read-only (read-only media): nothing is migrated, readers share
        the file, writes raise [`StateError`][mlmkit.exceptions.StateError].
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 30.0,
                 min_hold: float = 0.1, idle_release: float = 2.0,
                 migrate: bool = True, create: bool = True, read_only: bool = False) -> None:
        self.path = None if path is None else Path(path)
        self.lock_timeout = lock_timeout
        self.min_hold = min_hold
        self.idle_release = idle_release
        self.read_only = read_only
        self._mutex = threading.RLock()
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._depth = 0
        self._tx_depth, self._tx_doomed = 0, False
        self._acquired_at = self._last_used = 0.0
        self._closed = False
        self._pid, self._fork_held, self._fork_error = os.getpid(), False, ""
        self._lock_file: IO[bytes] | None = None
        self._queue_file: IO[bytes] | None = None
        self._stop = threading.Event()
        if self.path is None:
            if read_only:
                raise invalid("read_only", "False for an in-memory workspace (path=None)", True)
            self._conn = configure(duckdb.connect(":memory:"))
        else:
            if (read_only or not create) and not self.path.is_file():
                mode = "read_only=True" if read_only else "create=False"
                raise NotFoundError(f"workspace file {self.path} does not exist ({mode})")
            self._open_lock_files()
            _LIVE.add(self)
            self._start_watchdog()
        if read_only or migrate:
            with self.connection() as conn:
                if read_only:
                    check_schema(conn, str(self.path))
                else:
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
        if self._pid != os.getpid():  # forked without os.fork's hooks
            self._after_fork_child()
        with self._mutex:
            self._ensure_open()
            self._depth += 1
            broken = False
            try:
                assert self._conn is not None
                yield self._conn
            except duckdb.Error as err:
                broken = _is_fatal(err)
                raise self._translate(err) from err
            finally:
                # Finish a result left pending by fetchone(): DuckDB 2 refuses conn.sql() then
                if self._conn is not None and not broken:
                    broken = self._complete()
                self._depth -= 1
                self._last_used = time.monotonic()
                if broken and self.path is not None:
                    self._release()  # DuckDB invalidated it: reopen on the next lease
                elif self._depth == 0:
                    self._maybe_hand_off()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield the connection inside ``BEGIN`` … ``COMMIT`` (``ROLLBACK`` on any error).

        Nested (same thread) it joins the outer transaction, so multi-step operations wrap
        atomic store functions in one. No savepoints: an error leaving a nested block rolls
        the outer one back even if caught (then [`StoreError`][mlmkit.exceptions.StoreError]).
        """
        with self.connection() as conn:
            outer = not self._tx_depth
            if outer:
                conn.execute("BEGIN TRANSACTION")
                self._tx_doomed = False
            self._tx_depth += 1
            try:
                yield conn
            except BaseException:
                self._tx_doomed = True
                raise
            finally:
                self._tx_depth -= 1
                if outer and self._tx_doomed:
                    with contextlib.suppress(duckdb.Error):  # invalidated: error propagates
                        conn.execute("ROLLBACK")
            if outer and self._tx_doomed:
                raise StoreError("a nested transaction failed (its error was caught): the "
                                 "whole transaction was rolled back")
            if outer:
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

    @property
    def closed(self) -> bool:
        """Whether `close` was called (and `reopen` not since)."""
        return self._closed

    def reopen(self) -> None:
        """Make a closed file usable again (objects on it keep working); idempotent."""
        with self._mutex:
            if not self._closed:
                return
            if self.path is None:
                raise StateError("an in-memory workspace is discarded when closed")
            if not self.path.is_file():
                raise NotFoundError(f"workspace file {self.path} no longer exists")
            self._open_lock_files()
            self._stop = threading.Event()
            self._start_watchdog()
            self._closed = False

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
    def _open_lock_files(self) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = lock_handle(f"{self.path}.lock", self.read_only)
            self._queue_file = lock_handle(f"{self.path}.queue", self.read_only)
        except OSError as err:
            hint = "" if self.read_only else " (mlmkit.open(path, read_only=True) reads it)"
            raise StoreError(f"cannot open workspace {self.path}: {err}{hint}") from err

    def _start_watchdog(self) -> None:
        threading.Thread(target=_watch, args=(weakref.ref(self), self._stop),
                         name="mlmkit-lease", daemon=True).start()

    def _ensure_open(self) -> None:
        if self._conn is not None:
            return
        if self._fork_error:
            raise StateError(self._fork_error)
        deadline = time.monotonic() + self.lock_timeout
        if self._lock_file is None or self._queue_file is None:  # read-only media: no writer
            self._conn = self._connect(deadline)
            self._acquired_at = time.monotonic()
            return
        self._flock(self._queue_file, deadline, fcntl.LOCK_EX)
        try:
            self._flock(self._lock_file, deadline,
                        fcntl.LOCK_SH if self.read_only else fcntl.LOCK_EX)
        finally:
            fcntl.flock(self._queue_file, fcntl.LOCK_UN)
        try:
            self._conn = self._connect(deadline)
        except BaseException:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            raise
        self._acquired_at = time.monotonic()

    def _flock(self, handle: IO[bytes], deadline: float, mode: int) -> None:
        flock_until(handle, mode, deadline, lambda: LockedError(
            f"{self.path} stayed locked by another process for {self.lock_timeout:g} s "
            "(lock_timeout); nothing was written"))

    def _connect(self, deadline: float) -> duckdb.DuckDBPyConnection:
        assert self.path is not None
        return connect_until(str(self.path), self.read_only, deadline, self.lock_timeout)

    def _translate(self, err: duckdb.Error) -> Exception:
        if self.read_only and "read-only" in str(err):
            return StateError(f"{self.path} is open read-only (read_only=True): {err}")
        return StoreError(f"DuckDB failed: {err}")

    def _complete(self) -> bool:
        """Finish a pending result; True when DuckDB invalidated the connection meanwhile."""
        assert self._conn is not None
        try:
            self._conn.complete()
        except duckdb.Error as err:
            if _is_fatal(err):
                return True
            raise
        return False

    def _maybe_hand_off(self) -> None:
        if self._conn is None or self.path is None:
            return
        held = time.monotonic() - self._acquired_at
        if held >= self.min_hold and someone_waits(self._queue_file):
            self._release()

    def _release(self) -> None:
        if self._conn is None or self.path is None:
            return
        try:
            self._conn.close()
        except duckdb.Error as err:
            if not _is_fatal(err):  # an invalidated database closes without a checkpoint
                raise
        finally:
            self._conn = None
            if self._lock_file is not None:
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

    # ------------------------------------------------------------------ fork
    def _before_fork(self) -> None:
        """In the parent: release an idle lease so the child inherits no open connection."""
        if self._closed:
            return
        self._fork_held = self._mutex.acquire(timeout=min(self.lock_timeout, 10.0))
        if self._fork_held and self._depth == 0:
            with contextlib.suppress(duckdb.Error):  # the parent reopens on its next call
                self._release()

    def _after_fork_parent(self) -> None:
        if self._fork_held:
            self._fork_held = False
            self._mutex.release()

    def _after_fork_child(self) -> None:
        """In a forked child: forget the parent's lease without touching its DuckDB handle.

        Closing an inherited connection could checkpoint the parent's in-memory state into
        the file, and unlocking an inherited ``flock`` handle would unlock the parent: both
        are left alone; the child opens its own lock handles and connection.
        """
        self._pid = os.getpid()
        self._mutex = threading.RLock()
        self._fork_held = False
        self._depth = self._tx_depth = 0
        if self._conn is not None:
            pin(self._conn)
            self._conn = None
            self._fork_error = (
                "an in-memory workspace cannot be used in a forked process (its writes would "
                "stay in the child); open a workspace file" if self.path is None else
                f"{self} was in use by another thread when this process forked; open the "
                "workspace again after the fork")
        if self._closed or self.path is None:
            return
        for handle in (self._lock_file, self._queue_file):
            if handle is not None:
                handle.close()  # closes this process's descriptor only; no LOCK_UN
        self._open_lock_files()
        self._stop = threading.Event()
        self._start_watchdog()

    def __del__(self) -> None:
        self._stop.set()

    def __repr__(self) -> str:
        return f"Database({str(self.path) if self.path else ':memory:'})"


def _is_fatal(err: duckdb.Error) -> bool:
    return isinstance(err, duckdb.FatalException) or "invalidated" in str(err)


def _watch(ref: weakref.ref[Database], stop: threading.Event) -> None:
    """Watchdog: release an idle lease, or hand a held one to a waiting process."""
    while not stop.wait(0.02):
        db = ref()
        if db is None:
            return
        db._tick()
        del db


def _each_live(method: str) -> None:
    for db in list(_LIVE):
        getattr(db, method)()


os.register_at_fork(before=lambda: _each_live("_before_fork"),
                    after_in_parent=lambda: _each_live("_after_fork_parent"),
                    after_in_child=lambda: _each_live("_after_fork_child"))
