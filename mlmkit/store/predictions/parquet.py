"""The prediction log as a hive-partitioned Parquet dataset, for engines beyond one machine.

`export_parquet` copies the ``predictions`` table
(feature columns under their feature names) with DuckDB's ``COPY ... (FORMAT parquet, PARTITION_BY
...)`` into ``<path>/model_name=<m>/date=<yyyy-mm-dd>/*.parquet``; Spark, Trino, Polars or DuckDB
elsewhere read it as one table and prune partitions on filters.
`read_parquet` reads it back (optionally one model
and a time range) as polars.

This is a one-shot copy: any partition columns, no manifest, nothing incremental, and the
statistics engines do not read it. For a dataset that the engines read (``ParquetEngine``),
that a nightly run brings up to date by rewriting only changed days, and that ``mlmkit
import`` reads back, use ``mlmkit export`` /
[`export_dataset`][mlmkit.store.engines.export_dataset].
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from mlmkit._validation import check_choice, invalid
from mlmkit.store._sql import Where
from mlmkit.store.database import Database
from mlmkit.values import utc

__all__ = ["PARTITION_COLUMNS", "export_parquet", "read_parquet"]

PARTITION_COLUMNS = ("model_name", "version", "date", "role")


def _database(ws: object) -> Database:
    db = getattr(ws, "db", ws)
    if not isinstance(db, Database):
        raise invalid("ws", "a Workspace or a Database", ws)
    return db


def _literal(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def export_parquet(ws: object, path: str | os.PathLike[str], *,
                   partition_by: Sequence[str] = ("model_name", "date"),
                   model_name: str | None = None, overwrite: bool = False,
                   compression: str = "zstd") -> int:
    """Write the prediction log to a hive-partitioned Parquet dataset; returns rows written.

    Parameters
    ----------
    ws
        A workspace (or its [`Database`][mlmkit.store.Database]).
    path
        Target directory.
    partition_by
        Any of ``model_name``, ``version``, ``date`` (the UTC day of ``ts``) and ``role``.
    model_name
        Export one model only (default: every model).
    overwrite
        Replace an existing dataset at ``path`` (otherwise a non-empty directory is refused).
    compression
        Parquet codec (``zstd``, ``snappy``, ``gzip``, ``uncompressed``).

    Examples
    --------
    >>> import tempfile, mlmkit
    >>> from mlmkit.store.predictions.parquet import export_parquet, read_parquet
    >>> out = tempfile.mkdtemp() + "/log"
    >>> with mlmkit.open() as ws:
    ...     _ = ws.log.track("m", "1.0.0", True, actual=True, score=0.9, features={"x": 1.5})
    ...     export_parquet(ws, out)
    1
    >>> frame = read_parquet(out)
    >>> frame.select("model_name", "prediction", "x").row(0)
    ('m', True, 1.5)
    """
    db = _database(ws)
    parts = list(partition_by)
    if not parts:
        raise invalid("partition_by", "at least one partition column", partition_by)
    for col in parts:
        check_choice("partition_by", col, PARTITION_COLUMNS)
    check_choice("compression", compression, ("zstd", "snappy", "gzip", "uncompressed"))
    target = Path(path)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise invalid("path", "an empty or missing directory (or pass overwrite=True)",
                      str(target))
    select, params = _select_sql(db, model_name)
    opts = (f"FORMAT parquet, PARTITION_BY ({', '.join(parts)}), COMPRESSION {compression}"
            + (", OVERWRITE true" if overwrite else ""))
    with db.connection() as conn:
        conn.execute("SELECT 1").fetchall()
        count = conn.execute(f"SELECT count(*) FROM ({select})", params).fetchall()[0][0]
        if count:
            conn.execute(f"COPY ({select}) TO {_literal(str(target))} ({opts})", params)
    return int(count)


def _select_sql(db: Database, model_name: str | None) -> tuple[str, list[Any]]:
    with db.connection() as conn:
        cols = conn.execute("SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = 'predictions' ORDER BY ordinal_position"
                            ).fetchall()
        feats = dict(conn.execute("SELECT column_name, feature FROM feature_columns "
                                  "GROUP BY ALL").fetchall())
    names = []
    for (col,) in cols:
        feature = feats.get(col)
        names.append(f'"{col}"' if feature is None or feature in PARTITION_COLUMNS
                     else f'"{col}" AS "{feature}"')
    where = Where().equal("model_name", model_name)
    return (f"SELECT {', '.join(names)}, CAST(ts AS DATE) AS date FROM predictions "
            f"WHERE {where} ORDER BY ts", where.params)


def read_parquet(path: str | os.PathLike[str], *, model_name: str | None = None,
                 start: datetime | None = None, end: datetime | None = None) -> pl.DataFrame:
    """Read an exported dataset as polars; filters on model / time prune partitions.

    ``start`` / ``end`` select ``start <= ts < end`` (UTC). Partition columns come back as
    columns (``date`` as a date).
    """
    root = Path(path)
    if not root.is_dir():
        raise invalid("path", "a directory written by export_parquet", str(root))
    where = Where().equal("model_name", model_name)
    if start is not None:
        where.add("ts >= ? AND date >= CAST(? AS DATE)", *[utc(start, "start")] * 2)
    if end is not None:
        where.add("ts < ? AND date <= CAST(? AS DATE)", *[utc(end, "end")] * 2)
    glob = _literal(str(root / "**" / "*.parquet"))
    sql = (f"SELECT * FROM read_parquet({glob}, hive_partitioning = true) "
           f"WHERE {where} ORDER BY ts")
    with duckdb.connect(":memory:") as conn:
        conn.execute("SET TimeZone = 'UTC'")
        arrow = conn.sql(sql, params=where.params).to_arrow_table()
    return pl.DataFrame(pl.from_arrow(arrow))
