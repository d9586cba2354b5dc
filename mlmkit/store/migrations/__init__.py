"""Ordered schema migrations.

Each module ``mNNN_<name>.py`` in this package defines ``VERSION = NNN`` and ``SQL`` (a string
of statements). `migrate` applies, in one transaction each, every migration newer than the
file's ``schema_version``; a file whose version is newer than the newest migration is refused.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from mlmkit.exceptions import SchemaError

__all__ = ["latest_version", "migrate", "schema_version"]


def _modules() -> list[ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("m"))
    mods = [importlib.import_module(f"{__name__}.{name}") for name in names]
    versions = [m.VERSION for m in mods]
    if versions != list(range(1, len(mods) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps; got {versions}")
    return mods


def latest_version() -> int:
    """The schema version this mlmkit writes."""
    return len(_modules())


def schema_version(conn: Any) -> int:
    """The schema version recorded in the database (0 for an empty database)."""
    tables = {r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()}
    if "schema_version" not in tables:
        if tables:
            raise SchemaError(f"the database holds tables {sorted(tables)[:5]} but no "
                              "schema_version table: it is not an mlmkit workspace")
        return 0
    rows = conn.execute("SELECT max(version) FROM schema_version").fetchall()
    return int(rows[0][0] or 0)


def migrate(conn: Any, path: str) -> int:
    """Bring the database up to `latest_version`; return the version reached."""
    mods = _modules()
    current = schema_version(conn)
    if current > len(mods):
        raise schema_error(path, current, len(mods))
    for mod in mods[current:]:
        conn.execute("BEGIN TRANSACTION")
        try:
            if mod.VERSION == 1:
                conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                             "applied_at TIMESTAMPTZ NOT NULL, name VARCHAR NOT NULL)")
            conn.execute(mod.SQL)
            conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                         [mod.VERSION, datetime.now(UTC), mod.__name__.rsplit(".", 1)[-1]])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return len(mods)


def schema_error(path: str, found: int, supported: int) -> SchemaError:
    """Build the error for a file written by a newer mlmkit."""
    return SchemaError(
        f"{path} has schema version {found}, but this mlmkit supports up to {supported}; "
        "upgrade mlmkit to open it (the file was not modified)"
    )
