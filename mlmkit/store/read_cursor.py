"""A `Database` that lends read cursors of its connection to other threads.

``mlmkit serve`` has one writer thread owning the workspace file; its reads (the API's GET
endpoints, the ``/metrics`` snapshot, token re-reads) do not run on that thread but on a
cursor of its connection (``conn.cursor()``: a separate DuckDB connection to the same
database instance, reading the last committed state while the writer inserts and commits).

`CursorDatabase` is a `Database` with that one
addition: while a cursor is out, it does not hand the file to another process (a hand-off
closes the connection, which DuckDB refuses while a cursor of it runs a query); the hand-off
happens when the read ends. `CursorView` puts one
cursor behind the `Database` interface the services read through (writes refused).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from mlmkit.exceptions import StateError, StoreError
from mlmkit.store.database import Database

__all__ = ["CursorDatabase", "CursorView"]


class CursorDatabase(Database):
    """The writer's database, lending read cursors to other threads (`read_cursor`)."""

    def __init__(self, path: str, *, lock_timeout: float = 30.0) -> None:
        self._readers = 0
        super().__init__(path, lock_timeout=lock_timeout, create=False)

    @contextlib.contextmanager
    def read_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the connection for one read; the file is not handed off meanwhile.

        Taking it waits only for the statement the writer runs at that moment (the mutex of
        the lease), not for the read.
        """
        with self._mutex:  # (opens the file if the lease was handed off meanwhile)
            if self.closed:
                raise StoreError("the server's workspace is closed")
            self._ensure_open()
            assert self._conn is not None
            cursor = self._conn.cursor()
            self._readers += 1
        try:
            yield cursor
        finally:
            try:
                cursor.close()
            finally:
                with self._mutex:
                    self._readers -= 1
                    self._last_used = time.monotonic()

    def _maybe_hand_off(self) -> None:
        if not self._readers:
            super()._maybe_hand_off()

    def _tick(self) -> None:
        if not self._readers:
            super()._tick()


class CursorView:
    """A read-only `Database` stand-in over one cursor (for the services' read paths)."""

    read_only = True
    is_memory = False
    closed = False

    def __init__(self, cursor: duckdb.DuckDBPyConnection, path: Path | None) -> None:
        self._cursor = cursor
        self.path = path

    @contextlib.contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield the cursor (DuckDB errors become `StoreError`)."""
        try:
            yield self._cursor
        except duckdb.Error as err:
            raise StoreError(f"DuckDB failed: {err}") from err

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Refused: a read view does not write."""
        raise StateError("a read of the server tried to write (use the writer thread)")
        yield self._cursor  # pragma: no cover  (a generator for contextmanager)

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement and return all rows."""
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def release(self) -> None:
        """Nothing to release (the writer owns the lease)."""

    def close(self) -> None:
        """Nothing to close (the cursor is closed after the read)."""
