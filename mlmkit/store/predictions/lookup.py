"""Finding logged rows by id: duplicate ids, retried rows, label writes, unknown ids.

Up to `IN_LIST_MAX` distinct ids, statements find their rows by the ``prediction_id`` index
(m010) as an IN-list probe; beyond it a join over the table is cheaper. A write's duplicate
check (`logged_keys`), a retry's comparison (`logged_counts`) and a label call's rows
(`id_rows`) thus cost a look-up, not a scan of the log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from mlmkit.exceptions import NotFoundError
from mlmkit.store._sql import Where

__all__ = ["IN_LIST_MAX", "id_rows", "logged_counts", "logged_keys", "unknown_ids"]

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


def logged_keys(conn: duckdb.DuckDBPyConnection, keys: pa.Table) -> list[tuple[str, str, str]]:
    """Every ``(prediction_id, version, model_name)`` of ``keys`` already logged, sorted.

    One query for the whole of ``keys`` (``model_name, version, prediction_id``), so a caller
    committing several requests at once learns every clashing request in one look-up (the
    server's group commit).
    """
    if keys.num_rows <= IN_LIST_MAX:  # a few ids: one IN-list probe (half the semi-join)
        wanted = set(zip(keys.column("model_name").to_pylist(),
                         keys.column("version").to_pylist(),
                         keys.column("prediction_id").to_pylist(), strict=True))
        ids = sorted({key[2] for key in wanted})
        found = conn.execute(
            "SELECT prediction_id, version, model_name FROM predictions WHERE "
            f"prediction_id IN ({', '.join('?' * len(ids))})", ids).fetchall()
        return sorted(r for r in found if (r[2], r[1], r[0]) in wanted)
    _mlmkit_keys = keys  # (read by DuckDB's replacement scan)
    return sorted(conn.execute(
        "SELECT b.prediction_id, b.version, b.model_name FROM _mlmkit_keys b SEMI "
        "JOIN predictions p ON p.prediction_id = b.prediction_id AND p.version = "
        "b.version AND p.model_name = b.model_name").fetchall())


def logged_counts(conn: duckdb.DuckDBPyConnection, rows: pa.Table, tag: str | None = None
                  ) -> dict[object, int] | None:
    """``{tag value: rows logged already with these exact values}`` (retries), one statement.

    Compares every column of ``rows`` but ``tag`` (stored column names, ``NULL`` equal to
    ``NULL``); values of ``tag`` with no such row are absent; without ``tag``, one count under
    ``None``. ``None`` when a column does not exist in the table (then no row can be the
    same). Rows that all carry one of up to `IN_LIST_MAX` ids are compared with the logged
    rows of those ids only, found by the index: a retried request is answered after a look-up,
    not a semi-join over the whole log (a scan that grows with the log).
    """
    names = [c for c in rows.column_names if c != tag]
    present = {d[0] for d in conn.execute("SELECT * FROM predictions LIMIT 0").description}
    if not set(names) <= present:
        return None
    same = Where()
    for c in names:
        same.add(f'p."{c}" IS NOT DISTINCT FROM b."{c}"')
    ids = rows.column("prediction_id").to_pylist() if "prediction_id" in names else []
    unique = sorted({str(i) for i in ids if i is not None})
    by_id = len(ids) == rows.num_rows and None not in ids and 0 < len(unique) <= IN_LIST_MAX
    logged = "predictions"
    if by_id:  # only the logged rows of these ids can be the same
        cols = ", ".join(f'"{c}"' for c in names)
        conn.register("_mlmkit_logged", conn.sql(
            f"SELECT {cols} FROM predictions WHERE prediction_id IN "
            f"({', '.join('?' * len(unique))})", params=unique).to_arrow_table())
        logged = "_mlmkit_logged"
    conn.register("_mlmkit_retry", rows)
    try:
        found = conn.execute(f"SELECT {'NULL' if tag is None else f'b.{tag}'}, count(*) FROM "
                             f"_mlmkit_retry b SEMI JOIN {logged} p ON {same} GROUP BY 1"
                             ).fetchall()
    finally:
        conn.unregister("_mlmkit_retry")
        if by_id:
            conn.unregister("_mlmkit_logged")
    return {key: int(n) for key, n in found}
