"""Reads beside the writer: a second DuckDB cursor of the writer's connection.

The server's one writer thread owns the workspace file (see
`GroupCommitWriter`). Reads (``GET /v1/models``,
current metrics, history, the ``/metrics`` snapshot refresh, token re-reads, ``/health``) do
not run on that thread: `read_workspace` takes a cursor of the writer's connection
(`CursorDatabase.read_cursor`) and runs
the read in the caller's thread, on the last committed state, while the writer goes on
inserting and committing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from mlmkit.store.database import Database
from mlmkit.store.read_cursor import CursorDatabase, CursorView

if TYPE_CHECKING:
    from mlmkit.workspace import Workspace

__all__ = ["CursorDatabase", "read_workspace"]

T = TypeVar("T")


def read_workspace(db: CursorDatabase, fn: Callable[[Workspace], T]) -> T:
    """Run ``fn`` on a workspace reading through a cursor of ``db``, in this thread."""
    from mlmkit.workspace import Workspace

    with db.read_cursor() as cursor:
        return fn(Workspace(cast(Database, CursorView(cursor, db.path))))
