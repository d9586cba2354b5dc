"""A workspace file as an older mlmkit left it: the first N migrations, nothing after."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from mlmkit.store import migrations


def schema_file(path: Path, version: int, at: datetime) -> duckdb.DuckDBPyConnection:
    """Open a new file at ``path`` with migrations 1..``version`` applied (recorded at ``at``).

    The caller fills it as the old code would have, then closes the connection.
    """
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                 "applied_at TIMESTAMPTZ NOT NULL, name VARCHAR NOT NULL)")
    for mod in migrations._modules()[:version]:
        conn.execute(mod.SQL)
        conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [mod.VERSION, at, "old"])
    return conn
