"""Feature histograms for drift, computed in DuckDB over two selections of the log.

A *side* is a (versions, time range) selection of one model's rows; side 0 is the reference
and side 1 the current window. :func:`numeric_stats` returns per-column counts, ranges and
reference moments; :func:`numeric_histograms` counts both sides on shared equal-width bins;
:func:`category_counts` counts categorical values. Each runs as one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from mlmkit.store.aggregates import query
from mlmkit.store.database import Database
from mlmkit.values import TimeRange

__all__ = ["Side", "category_counts", "numeric_histograms", "numeric_stats", "side_rows"]


@dataclass(frozen=True)
class Side:
    """One selection of rows: versions (``None`` = all) and a time range."""

    versions: tuple[str, ...] | None
    time_range: TimeRange


def _cond(side: Side, params: list[object]) -> str:
    text = "ts >= ? AND ts < ?"
    params.extend([side.time_range.start, side.time_range.end])
    if side.versions:
        text += f" AND version IN ({', '.join('?' for _ in side.versions)})"
        params.extend(side.versions)
    return text


def _frame(model_name: str, ref: Side, cur: Side, role: str | None,
           params: list[object], columns: Sequence[str] | None = None) -> str:
    """``FROM`` clause text adding a ``side`` column (0 reference, 1 current)."""
    c0 = _cond(ref, params)
    c1 = _cond(cur, params)
    params.append(model_name)
    where = "model_name = ?"
    if role is not None:
        where += " AND role = ?"
        params.append(role)
    cols = "*" if columns is None else ", ".join(_ident(c) for c in columns)
    return (f"(SELECT {cols}, CASE WHEN {c0} THEN 0 WHEN {c1} THEN 1 END AS side "
            "FROM predictions "
            f"WHERE {where}) WHERE side IS NOT NULL")


def _ident(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def numeric_stats(db: Database, model_name: str, columns: Sequence[str], ref: Side,
                  cur: Side, *, role: str | None = "served") -> pl.DataFrame:
    """Per column: ``n_ref, n_cur, lo, hi, ref_std`` (population), ``distinct`` (approx)."""
    params: list[object] = []
    source = _frame(model_name, ref, cur, role, params, list(columns))
    parts = []
    for i, col in enumerate(columns):
        c = _ident(col)
        parts.append(
            f"count({c}) FILTER (WHERE side = 0) AS n_ref_{i}, "
            f"count({c}) FILTER (WHERE side = 1) AS n_cur_{i}, "
            f"min({c}) AS lo_{i}, max({c}) AS hi_{i}, "
            f"stddev_pop({c}) FILTER (WHERE side = 0) AS std_{i}, "
            f"approx_count_distinct({c}) FILTER (WHERE side = 0) AS distinct_{i}")
    row = query(db, f"SELECT {', '.join(parts)} FROM {source}", params).row(0)
    out = []
    for i, col in enumerate(columns):
        n_ref, n_cur, lo, hi, std, distinct = row[6 * i: 6 * i + 6]
        out.append({"column": col, "n_ref": n_ref, "n_cur": n_cur, "lo": lo, "hi": hi,
                    "ref_std": std, "distinct": distinct})
    return pl.DataFrame(out, schema={"column": pl.String, "n_ref": pl.Int64, "n_cur": pl.Int64,
                                     "lo": pl.Float64, "hi": pl.Float64,
                                     "ref_std": pl.Float64, "distinct": pl.Int64})


def numeric_histograms(db: Database, model_name: str, ranges: dict[str, tuple[float, float]],
                       ref: Side, cur: Side, *, bins: int = 2000,
                       role: str | None = "served") -> pl.DataFrame:
    """Counts per (column, side, bin) on ``bins`` equal-width bins over each column's range.

    One scan (``UNPIVOT`` of the columns joined to their ranges). Columns ``column, side, bin,
    n``; ``bin`` in ``[0, bins)``.
    """
    if not ranges:
        return pl.DataFrame(schema={"column": pl.String, "side": pl.Int32, "bin": pl.Int64,
                                    "n": pl.Int64})
    params: list[object] = []
    source = _frame(model_name, ref, cur, role, params, list(ranges))
    values = ", ".join(
        f"('{col}', {lo!r}::DOUBLE, {((hi - lo) / bins if hi > lo else 1.0)!r}::DOUBLE)"
        for col, (lo, hi) in ranges.items())
    cols = ", ".join(_ident(c) for c in ranges)
    sql = f"""
        WITH long AS (UNPIVOT (SELECT side, {cols} FROM {source})
                      ON {cols} INTO NAME col VALUE v),
             r(col, lo, width) AS (VALUES {values})
        SELECT long.col AS column, side,
               least(greatest(floor((v - lo) / width), 0), {bins - 1})::BIGINT AS bin,
               count(*) AS n
        FROM long JOIN r ON long.col = r.col
        GROUP BY ALL ORDER BY 1, 2, 3
    """
    return query(db, sql, params)


def category_counts(db: Database, model_name: str, columns: Sequence[str], ref: Side,
                    cur: Side, *, role: str | None = "served") -> pl.DataFrame:
    """Counts per (column, side, value) of categorical columns (nulls dropped), one scan."""
    if not columns:
        return pl.DataFrame(schema={"column": pl.String, "side": pl.Int32,
                                    "value": pl.String, "n": pl.Int64})
    params: list[object] = []
    source = _frame(model_name, ref, cur, role, params, list(columns))
    cols = ", ".join(_ident(c) for c in columns)
    sql = (f"SELECT col AS column, side, CAST(v AS VARCHAR) AS value, count(*) AS n FROM "
           f"(UNPIVOT (SELECT side, {cols} FROM {source}) ON {cols} INTO NAME col VALUE v) "
           "GROUP BY ALL ORDER BY 1, 2, 3")
    return query(db, sql, params)


def side_rows(db: Database, model_name: str, columns: Sequence[str], side: Side, *,
              role: str | None = "served") -> pl.DataFrame:
    """The raw values of ``columns`` on one side (for small samples and frame references)."""
    params: list[object] = []
    cond = _cond(side, params)
    params.append(model_name)
    where = f"{cond} AND model_name = ?"
    if role is not None:
        where += " AND role = ?"
        params.append(role)
    cols = ", ".join(_ident(c) for c in columns)
    return query(db, f"SELECT {cols} FROM predictions WHERE {where}", params)
