"""Finding logged rows by id: the index probe of label writes, the unknown-ids error.

Up to `IN_LIST_MAX` distinct ids, statements find their rows by the ``prediction_id`` index
(m010) as an IN-list probe; beyond it a join over the table is cheaper.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb

from mlmkit.exceptions import NotFoundError

__all__ = ["IN_LIST_MAX", "id_rows", "unknown_ids"]

IN_LIST_MAX = 512
"""Up to this many ids, the duplicate check is an IN-list probe instead of a semi-join."""


def unknown_ids(first: object, missing: int, model_name: str | None, version: str | None
                ) -> NotFoundError:
    """The error of a label call whose ids match no logged row in its scope (none recorded)."""
    where = "" if model_name is None else f" for model {model_name!r}" + (
        "" if version is None else f" version {version!r}")
    return NotFoundError(f"prediction_id {first!r} is not in the log{where} (first of "
                         f"{missing} unknown ids); no label was recorded")


@contextmanager
def id_rows(conn: duckdb.DuckDBPyConnection, ids: Sequence[object]) -> Iterator[str]:
    """The relation label statements match ``ids`` in: ``predictions``, or the rows of a few.

    Up to `IN_LIST_MAX` distinct ids, their rows (``rid`` = rowid, ``prediction_id``,
    ``model_name``, ``version``) are found by the index (m010) and registered as
    ``_mlmkit_id_rows`` for the block, instead of a hash join over the table.
    """
    unique = sorted({str(i) for i in ids})
    if not 0 < len(unique) <= IN_LIST_MAX:
        yield "predictions"
        return
    found = conn.sql("SELECT rowid AS rid, prediction_id, model_name, version FROM predictions "
                     f"WHERE prediction_id IN ({', '.join('?' * len(unique))})",
                     params=unique).to_arrow_table()
    conn.register("_mlmkit_id_rows", found)
    try:
        yield "_mlmkit_id_rows"
    finally:
        conn.unregister("_mlmkit_id_rows")
