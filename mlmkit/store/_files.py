"""Opening a workspace file: lock handles, integrity and schema checks, inherited handles."""

from __future__ import annotations

import os
from typing import IO

import duckdb

from mlmkit.exceptions import SchemaError, StoreError
from mlmkit.store import migrations

__all__ = ["check_file_size", "check_schema", "configure", "lock_handle", "pin"]

BLOCK_START = 3 * 4096  # DuckDB's main header and two database headers precede the blocks
_INHERITED: list[duckdb.DuckDBPyConnection] = []  # never closed in a forked child


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
