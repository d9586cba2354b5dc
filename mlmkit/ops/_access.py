"""Short, non-migrating access to a workspace file for scrapes and health checks."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mlmkit.exceptions import SchemaError, StoreError
from mlmkit.store import migrations
from mlmkit.store.database import Database
from mlmkit.store.migrations import schema_error


@contextlib.contextmanager
def short_db(path: str | os.PathLike[str], *, lock_timeout: float = 5.0) -> Iterator[Database]:
    """Open ``path`` without creating or migrating it, check its schema, close it on exit.

    Raises [`StoreError`][mlmkit.exceptions.StoreError] when the file is missing or unreadable,
    [`SchemaError`][mlmkit.exceptions.SchemaError] when its schema is newer (or older) than this
    mlmkit's.
    """
    file = Path(path)
    if not file.is_file():
        raise StoreError(f"workspace file {file} does not exist")
    if not os.access(file, os.R_OK):
        raise StoreError(f"workspace file {file} is not readable")
    db = Database(file, lock_timeout=lock_timeout, migrate=False)
    try:
        check_schema_current(db, file)
        yield db
    finally:
        db.close()


def check_schema_current(db: Database, file: str | os.PathLike[str]) -> None:
    """Raise `SchemaError` unless the schema of ``db`` is this mlmkit's."""
    with db.connection() as conn:
        found = migrations.schema_version(conn)
    supported = migrations.latest_version()
    if found > supported:
        raise schema_error(str(file), found, supported)
    if found < supported:
        raise SchemaError(f"{file} has schema version {found}; this mlmkit writes "
                          f"{supported}: open it once with mlmkit (any command) to migrate")
