"""Opening a workspace file: lock handles and bounded waits, integrity checks, inherited handles.

The lease protocol itself (who holds the file, when it is handed over) is
[`mlmkit.store.Database`][mlmkit.store.Database]; this module holds its file-level
steps: the ``flock`` files (``<db>.lock``, the ``<db>.queue`` turnstile), bounded waits on them and
on DuckDB's own file lock, and the checks every open makes.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from typing import IO

import duckdb

from mlmkit.exceptions import LockedError, SchemaError, StoreError
from mlmkit.store import migrations

__all__ = ["check_file_size", "check_schema", "configure", "connect_until", "flock_until",
           "lock_handle", "pin", "someone_waits"]

BLOCK_START = 3 * 4096  # DuckDB's main header and two database headers precede the blocks
_INHERITED: list[duckdb.DuckDBPyConnection] = []  # never closed in a forked child
_LOCK_MESSAGE = "Could not set lock"  # DuckDB's own lock, held by a process outside mlmkit


def lock_handle(name: str, read_only: bool) -> IO[bytes] | None:
    """Open a ``flock`` file for the life of the workspace (``None``: read-only media)."""
    try:
        return open(name, "ab")
    except OSError:
        if not read_only:
            raise
    try:  # read-only media: flock works on a descriptor opened for reading
        return open(name, "rb")
    except FileNotFoundError:
        return None  # nobody can write there, so there is nobody to wait for


def flock_until(handle: IO[bytes], mode: int, deadline: float,
                timeout_error: Callable[[], LockedError]) -> None:
    """Take ``flock(handle, mode)``, polling until ``deadline`` (then ``timeout_error()``)."""
    delay = 0.0005
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise timeout_error() from None
            time.sleep(delay)
            delay = min(delay * 2, 0.01)


def someone_waits(queue: IO[bytes] | None) -> bool:
    """Whether another process holds the turnstile ``queue`` (it waits for the file)."""
    if queue is None:
        return False
    try:
        fcntl.flock(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(queue, fcntl.LOCK_UN)
    return False


def connect_until(path: str, read_only: bool, deadline: float,
                  lock_timeout: float) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` retried on DuckDB's file lock until ``deadline``; checked, configured.

    Raises [`LockedError`][mlmkit.exceptions.LockedError] when the lock outlives the deadline and
    [`StoreError`][mlmkit.exceptions.StoreError] for any other failure to open (or a truncated file,
    `check_file_size`).
    """
    delay = 0.002
    while True:
        try:
            conn = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as err:
            if _LOCK_MESSAGE not in str(err):
                raise StoreError(f"cannot open {path}: {err}") from err
            if time.monotonic() >= deadline:
                raise LockedError(f"{path} is locked by another program for {lock_timeout:g} s "
                                  f"(lock_timeout): {err}") from err
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            continue
        except duckdb.Error as err:
            raise StoreError(f"cannot open {path}: {err}") from err
        try:
            check_file_size(conn, path)
            return configure(conn)
        except BaseException:
            conn.close()
            raise


def configure(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Set the session options every mlmkit connection uses."""
    conn.execute("SET TimeZone = 'UTC'").fetchall()
    conn.execute("SET enable_progress_bar = false").fetchall()  # a library prints nothing
    return conn


def check_file_size(conn: duckdb.DuckDBPyConnection, path: str) -> None:
    """Refuse a file shorter than the blocks its header lists in use (a truncated copy).

    DuckDB writes whole blocks after ``3 * 4096`` header bytes and truncates only free
    blocks off the end, so a sound file holds at least its used blocks (it may be longer,
    and after a failed checkpoint it need not end on a block boundary). A truncated copy
    otherwise opens and answers ``count(*)`` from metadata, and fails only when a missing
    block is read. Cost: one pragma, ≈ 1 ms per open. A cut shorter than the free blocks in
    the middle of the file goes unnoticed here (DuckDB's block checksums catch it on read).
    """
    rows = conn.execute("SELECT block_size, used_blocks FROM pragma_database_size() "
                        "WHERE database_name = current_database()").fetchall()
    if not rows:
        return
    block_size, used = (int(v) for v in rows[0])
    size = os.path.getsize(path)
    need = BLOCK_START + block_size * used
    if size < need:
        raise StoreError(f"{path} is truncated or damaged: {size} bytes on disk, but its "
                         f"header lists {used} used blocks of {block_size} bytes after "
                         f"{BLOCK_START} header bytes ({need} bytes); restore it from a backup")


def check_schema(conn: duckdb.DuckDBPyConnection, path: str) -> None:
    """Refuse a schema this mlmkit cannot read without migrating it (read-only opens)."""
    found, supported = migrations.schema_version(conn), migrations.latest_version()
    if found > supported:
        raise migrations.schema_error(path, found, supported)
    if found < supported:
        raise SchemaError(f"{path} has schema version {found}; this mlmkit reads {supported}: "
                          "open it once writable to migrate it (read_only=True changes nothing)")


def pin(conn: duckdb.DuckDBPyConnection) -> None:
    """Keep an inherited connection alive for the life of this process, shutdown included."""
    import ctypes

    _INHERITED.append(conn)
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))
