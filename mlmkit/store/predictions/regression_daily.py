"""Per-day sufficient statistics of regression rows, kept exact by every write (m011).

``regression_daily`` holds, per ``(model_name, version, role, UTC day)``, the columns of the
engines' ``regression_sums`` statement over the rows with a ``value`` (total, labelled ``n``,
sums of ``e``, ``|e|``, ``e²``, ``y``, ``y²``, ``|e|/|y|`` and its square, ``e⁴``, zero actuals,
``min e`` / ``max e``) plus the day's first and last ``ts``. A window of whole days is then
answered from one row per day instead of a scan of its rows (`read_days`).

Every write of the ``predictions`` table updates it in the SAME transaction, so a crash leaves
both or neither:

- inserts add their rows' terms (`add_inserted`, `PredictionStore.insert_batch` / ``insert_one``);
- a label on a row without one adds the row's labelled terms; a label replacing a different
  value marks the day ``stale`` (no subtraction: the day is read raw until `rebuild`)
  (`add_labels`);
- retention deletes the days it deletes (`monitoring.retire_days`).

``rebuild`` recomputes days from their rows (the stale ones, or all); the
performance-monitoring job calls it. Additive upserts of floating sums round differently from
one pass over the rows: equal to ``regression_sums`` of the raw rows within ~1e-15 relative.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from mlmkit.store._sql import Where
from mlmkit.store.database import Database
from mlmkit.values import TimeRange

__all__ = ["COLUMNS", "SUMMED", "add_inserted", "add_labels", "add_row", "day_spans",
           "matched_rows", "merged", "raw_parts", "read_days", "rebuild", "retire", "utc_day",
           "whole_days", "window_sums"]

COLUMNS = ("total", "n", "sum_error", "sum_abs_error", "sum_squared_error", "sum_actual",
           "sum_squared_actual", "sum_abs_percentage_error", "zero_actuals",
           "sum_squared_abs_percentage_error", "sum_fourth_error", "lo", "hi")
"""The statistics of a day, named and defined as ``portable_tasks.regression_sums``."""


def utc_day(ts: str) -> str:
    """The UTC day of ``ts`` by epoch arithmetic (half the time of ``AT TIME ZONE 'UTC'``)."""
    return f"DATE '1970-01-01' + CAST(floor(epoch_us({ts}) / 86400000000) AS INTEGER)"


_KEY = f"model_name, version, role, {utc_day('ts')} AS day"


def _sum(term: str) -> str:
    """A sum that is 0.0 over no rows (additive; ``regression_sums`` reads NULL as 0.0)."""
    return f"coalesce(sum({term}), 0.0)"


def aggregate(rows: str) -> str:
    """``SELECT key, statistics, first_ts, last_ts`` of the relation ``rows`` per day.

    ``rows`` has ``model_name, version, role, ts, value, actual_value`` (the table, a batch);
    only rows with a ``value`` count (the regression rows), as in ``regression_sums``.
    """
    return f"""
        SELECT model_name, version, role, day, count(*) AS total, count(y) AS n,
               {_sum("e")} AS sum_error, {_sum("abs(e)")} AS sum_abs_error,
               {_sum("e * e")} AS sum_squared_error, {_sum("y")} AS sum_actual,
               {_sum("y * y")} AS sum_squared_actual, {_sum("ape")} AS sum_abs_percentage_error,
               count(y) - count(ape) AS zero_actuals,
               {_sum("ape * ape")} AS sum_squared_abs_percentage_error,
               {_sum("(e * e) * (e * e)")} AS sum_fourth_error, min(e) AS lo, max(e) AS hi,
               min(ts) AS first_ts, max(ts) AS last_ts, false AS stale
        FROM (SELECT {_KEY}, ts, y, e, abs(e) / nullif(abs(y), 0) AS ape
              FROM (SELECT model_name, version, role, ts, actual_value AS y,
                           value - actual_value AS e FROM {rows} WHERE value IS NOT NULL) r) t
        GROUP BY ALL"""


SUMMED = [c for c in COLUMNS if c not in ("lo", "hi")]
"""The columns that add up (all but ``lo`` / ``hi``)."""
_UPSERT = "ON CONFLICT (model_name, version, role, day) DO UPDATE SET " + ", ".join(
    [f"{c} = regression_daily.{c} + excluded.{c}" for c in SUMMED]
    + ["lo = coalesce(least(regression_daily.lo, excluded.lo), regression_daily.lo, "
       "excluded.lo)",
       "hi = coalesce(greatest(regression_daily.hi, excluded.hi), regression_daily.hi, "
       "excluded.hi)",
       "first_ts = least(regression_daily.first_ts, excluded.first_ts)",
       "last_ts = greatest(regression_daily.last_ts, excluded.last_ts)"])


def add_inserted(conn: duckdb.DuckDBPyConnection, rows: pa.Table, now: datetime | None = None
                 ) -> None:
    """Add the terms of ``rows``, just inserted as they are (a batch chunk, one row).

    Columns the rows lack take the values the INSERT gave them: ``role`` the table's default,
    ``ts`` ``now`` (the batch's clock), ``actual_value`` NULL. Up to `SMALL` rows the terms are
    summed here and applied by key (`_apply`); a bigger batch is aggregated by DuckDB.
    """
    names = set(rows.column_names)
    if rows.num_rows <= SMALL:
        n = rows.num_rows
        _apply(conn, _terms(
            rows.column("model_name").to_pylist(), rows.column("version").to_pylist(),
            rows.column("role").to_pylist() if "role" in names else ["served"] * n,
            rows.column("ts").to_pylist() if "ts" in names else [now] * n,
            rows.column("value").to_pylist(),
            rows.column("actual_value").to_pylist() if "actual_value" in names else [None] * n,
            counted=True))
        return
    stamp = f"'{now.astimezone(UTC).isoformat()}'::TIMESTAMPTZ" if now is not None else "NULL"
    _mlmkit_rows = rows  # (read by DuckDB's replacement scan in this frame)
    relation = ("(SELECT model_name, version, " + ("role" if "role" in names else "'served'")
                + " AS role, " + ("ts" if "ts" in names else stamp) + " AS ts, value, "
                + ("actual_value" if "actual_value" in names else "NULL::DOUBLE")
                + " AS actual_value FROM _mlmkit_rows)")
    conn.execute(f"INSERT INTO regression_daily {aggregate(relation)} {_UPSERT}")


def add_row(conn: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> None:
    """`add_inserted` of one canonical row just inserted (``track()``)."""
    _apply(conn, _terms([row["model_name"]], [row["version"]], [row.get("role", "served")],
                        [row["ts"]], [row["value"]], [row.get("actual_value")], counted=True))


SMALL = 2_000
"""Up to this many rows, a write's terms are summed in Python and applied by key: DuckDB's
aggregate + ``ON CONFLICT`` upsert costs ~7 ms whatever the rows (one ``track()`` of a
regression row 3.4 -> 10.4 ms), a keyed ``UPDATE`` ~1.7 ms."""


def _terms(models: list[Any], versions: list[Any], roles: list[Any], stamps: list[Any],
           values: list[Any], actuals: list[Any], *, counted: bool) -> dict[tuple[Any, ...],
                                                                          list[Any]]:
    """Per (model, version, role, day): ``COLUMNS`` then first/last ts of these rows.

    ``counted``: the rows are new (``total`` counts them); else labels of counted rows.
    """
    out: dict[tuple[Any, ...], list[Any]] = {}
    parts: dict[tuple[Any, ...], list[list[float]]] = {}
    for model, version, role, ts, value, y in zip(models, versions, roles, stamps, values,
                                                  actuals, strict=True):
        if value is None:
            continue
        key = (model, version, role, ts.astimezone(UTC).date())
        acc = out.setdefault(key, [0, 0, 0, math.inf, -math.inf, ts, ts])
        terms = parts.setdefault(key, [[] for _ in range(8)])
        acc[0] += counted
        acc[5], acc[6] = min(acc[5], ts), max(acc[6], ts)
        if y is None:
            continue
        e = value - y
        ape = abs(e) / abs(y) if y != 0 else None
        acc[1] += 1
        acc[2] += ape is None
        acc[3], acc[4] = min(acc[3], e), max(acc[4], e)
        for k, term in enumerate((e, abs(e), e * e, y, y * y, ape, None if ape is None
                                  else ape * ape, (e * e) * (e * e))):
            if term is not None:
                terms[k].append(term)
    done: dict[tuple[Any, ...], list[Any]] = {}
    for key, (total, n, zeros, lo, hi, first, last) in out.items():
        sums = [_fsum(t) for t in parts[key]]
        done[key] = [total, n, *sums[:6], zeros, *sums[6:], lo if n else None,
                     hi if n else None, first, last]
    return done


def _fsum(terms: list[float]) -> float:
    """``math.fsum``, or ``±inf`` where it overflows (as DuckDB's ``sum`` of the big batches).

    ``fsum`` raises OverflowError when a partial sum passes the largest float (two errors of
    1e308): the batch was refused with that raw error, while a bigger batch (summed by
    DuckDB) or ``track()`` stored its rows with an infinite sum.
    """
    try:
        return math.fsum(terms)
    except (OverflowError, ValueError):  # (ValueError: an inf and a -inf term)
        return sum(terms)


def _apply(conn: duckdb.DuckDBPyConnection, deltas: dict[tuple[Any, ...], list[Any]]) -> None:
    """Add per-key deltas (`_terms`): a keyed UPDATE, or an INSERT for a new day."""
    for key, d in deltas.items():
        found = conn.execute(
            "UPDATE regression_daily SET " + ", ".join(f"{c} = {c} + ?" for c in SUMMED)
            + ", lo = least(lo, ?), hi = greatest(hi, ?), first_ts = least(first_ts, ?), "
            "last_ts = greatest(last_ts, ?) WHERE model_name = ? AND version = ? AND role = ? "
            "AND day = ?", [*d, *key]).fetchall()
        if not found or not found[0][0]:
            conn.execute(f"INSERT INTO regression_daily VALUES ({', '.join('?' * 20)})",
                         [*key, *d, False])


def add_labels(conn: duckdb.DuckDBPyConnection, matched: str, params: Sequence[object] = (),
               *, labels: int) -> None:
    """Before a label UPDATE: add the terms it creates, mark the days it changes stale.

    ``matched``: a relation of the rows the UPDATE will change, with ``rid`` (rowid),
    ``new_value`` (the row's ``actual_value`` after it) and the row's ``model_name, version,
    role, ts, value, actual_value`` (before it); see `matched_rows`. A row without a label
    gains its labelled terms (its ``total`` is counted already); a row whose label changes
    (to another value or NULL) marks its day stale. A row matched twice marks its day stale.
    ``labels``: how many labels the call writes; up to `SMALL` the matched rows are summed
    here, beyond they are kept in a temporary table and aggregated by DuckDB.
    """
    base = (f"SELECT rid, model_name, version, role, ts, value, actual_value, new_value, "
            f"count(*) OVER (PARTITION BY rid) AS times FROM {matched}")
    if labels <= SMALL:  # a few rows: summed here, applied by key
        _label_terms(conn, conn.execute(f"SELECT * FROM ({base}) b WHERE value IS NOT NULL",
                                        list(params)).fetchall())
        return
    conn.execute(f"CREATE OR REPLACE TEMP TABLE _mlmkit_matched AS {base}", list(params))
    try:
        _label_sums(conn)
    finally:
        conn.execute("DROP TABLE IF EXISTS _mlmkit_matched")


def _label_sums(conn: duckdb.DuckDBPyConnection) -> None:
    """`add_labels` of many matched rows (``_mlmkit_matched``), in DuckDB."""
    base = "SELECT * FROM _mlmkit_matched"
    conn.execute(
        f"""INSERT INTO regression_daily
            SELECT model_name, version, role, day, 0, n, sum_error, sum_abs_error,
                   sum_squared_error, sum_actual, sum_squared_actual, sum_abs_percentage_error,
                   zero_actuals, sum_squared_abs_percentage_error, sum_fourth_error, lo, hi,
                   first_ts, last_ts, false
            FROM ({aggregate(f"(SELECT model_name, version, role, ts, value, "
                             f"new_value AS actual_value FROM ({base}) b WHERE times = 1 AND "
                             "actual_value IS NULL AND new_value IS NOT NULL)")}) a
            {_UPSERT}""")
    conn.execute(
        f"""UPDATE regression_daily d SET stale = true FROM (
                SELECT DISTINCT {_KEY} FROM ({base}) b WHERE value IS NOT NULL AND
                (times > 1 OR (actual_value IS NOT NULL AND
                               actual_value IS DISTINCT FROM new_value))) s
            WHERE d.model_name = s.model_name AND d.version = s.version AND d.role = s.role
              AND d.day = s.day""")


def _label_terms(conn: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
    """`add_labels` of a few matched rows, in Python.

    ``rows``: ``rid, model_name, version, role, ts, value, actual_value, new_value, times``.
    The terms of new labels are added by key, the days of changed labels marked stale.
    """
    new = [r for r in rows if r[8] == 1 and r[6] is None and r[7] is not None]
    deltas = _terms([r[1] for r in new], [r[2] for r in new], [r[3] for r in new],
                    [r[4] for r in new], [r[5] for r in new], [r[7] for r in new],
                    counted=False)
    for d in deltas.values():
        d[-2:] = [None, None]  # the rows' first / last ts are counted already
    _apply(conn, deltas)
    stale = {(r[1], r[2], r[3], r[4].astimezone(UTC).date()) for r in rows
             if r[8] > 1 or (r[6] is not None and r[6] != r[7])}
    for key in stale:
        conn.execute("UPDATE regression_daily SET stale = true WHERE model_name = ? AND "
                     "version = ? AND role = ? AND day = ?", list(key))


def matched_rows(join: str, new_value: str) -> str:
    """The `add_labels` relation of a label UPDATE's ``FROM predictions p, <join>``."""
    return (f"(SELECT p.rowid AS rid, p.model_name, p.version, p.role, p.ts, p.value, "
            f"p.actual_value, {new_value} AS new_value FROM predictions p, {join})")


def retire(conn: duckdb.DuckDBPyConnection, before: datetime) -> None:
    """Delete the days before ``before`` (a UTC midnight: retention deleted their rows)."""
    for table in ("regression_daily", "regression_segment_days"):  # (m012: its days too)
        conn.execute(f"DELETE FROM {table} WHERE day < {utc_day('?::TIMESTAMPTZ')}", [before])


def rebuild(db: Database, *, model_name: str | None = None, stale_only: bool = True) -> int:
    """Recompute days from their rows (the stale ones, or every day); the days written."""
    scope = Where().equal("model_name", model_name)
    where = Where().equal("model_name", model_name).add("stale") if stale_only else scope
    with db.transaction() as conn:
        rows = f"(SELECT * FROM predictions WHERE {scope})"
        if stale_only:
            days = conn.execute("SELECT model_name, version, role, day FROM regression_daily "
                                f"WHERE {where}", where.params).fetchall()
            if not days:
                return 0
            _mlmkit_days = pa.table({name: [d[i] for d in days] for i, name in
                                     enumerate(("model_name", "version", "role", "day"))})
            rows = ("(SELECT p.* FROM predictions p SEMI JOIN _mlmkit_days k ON p.model_name = "
                    "k.model_name AND p.version = k.version AND p.role = k.role AND "
                    f"{utc_day('p.ts')} = k.day)")
        conn.execute(f"DELETE FROM regression_daily WHERE {where}", where.params)
        # the segments' stored days of these days (m012) were counted from the rows before
        conn.execute("DELETE FROM regression_segment_days s WHERE " + (
            "EXISTS (SELECT 1 FROM _mlmkit_days k WHERE s.model_name = k.model_name AND "
            "s.version = k.version AND s.role = k.role AND s.day = k.day)" if stale_only
            else str(scope)), [] if stale_only else scope.params)
        written = conn.execute(f"INSERT INTO regression_daily {aggregate(rows)}",
                               [] if stale_only else scope.params).fetchall()
    return int(written[0][0])


def read_days(db: Database, model_name: str, versions: Sequence[str] | None,
              start: datetime, last: datetime, role: str | None) -> list[tuple[Any, ...]]:
    """The table's rows of the days from ``start``'s to ``last``'s (both included).

    Tuples ``(version, day, first_ts, last_ts, stale, *COLUMNS)``, by version and day.
    """
    sql = ("SELECT version, day, first_ts, last_ts, stale, " + ", ".join(COLUMNS) +
           f" FROM regression_daily WHERE model_name = ? AND day >= {utc_day('?::TIMESTAMPTZ')}"
           f" AND day <= {utc_day('?::TIMESTAMPTZ')}")
    params: list[object] = [model_name, start, last]
    if versions is not None:
        sql += " AND list_contains(?, version)"
        params.append(list(versions))
    if role is not None:
        sql += " AND role = ?"
        params.append(role)
    return db.execute(sql + " ORDER BY version, day", params)


_SCHEMA = {"version": pl.String, **{c: pl.Int64 if c in ("total", "n", "zero_actuals")
                                    else pl.Float64 for c in COLUMNS}}


def window_sums(db: Database, model_name: str, versions: Sequence[str] | None, span: TimeRange,
                role: str | None, raw: Callable[[TimeRange], pl.DataFrame]) -> pl.DataFrame:
    """``regression_sums`` of ``span`` per version: whole days from the table, the rest raw.

    A day whose rows all lie in ``span`` (its first and last ``ts``) and that is not stale is
    read from its row; every other day of the table in ``span`` (a stale day, an edge day with
    rows outside) from ``raw(part)``, the statement over that part of ``span``. A day without a
    row has no regression rows (every write keeps the table), so it is not read at all. The
    columns and rows are the raw statement's (``version, *COLUMNS``; no row for a version
    without rows).
    """
    with db.connection():  # one lease: the days and the raw parts of one state of the file
        rows = read_days(db, model_name, versions, span.start,
                         span.end - timedelta(microseconds=1), role)  # (end is excluded)
        usable = whole_days(((r[1], r[2], r[3], r[4]) for r in rows), span)
        frames = [pl.DataFrame([(r[0], *r[5:]) for r in rows if usable[r[1]]],
                               schema=_SCHEMA, orient="row")]
        frames += [raw(part).select(list(_SCHEMA)).cast(_SCHEMA)  # type: ignore[arg-type]
                   for part in raw_parts(usable, span)]
    return merged(frames, ["version"]).filter(pl.col("total") > 0).select(
        list(_SCHEMA)).sort("version")


def whole_days(days: Iterable[tuple[date, datetime, datetime, bool]], span: TimeRange
               ) -> dict[date, bool]:
    """Whether each day's sums answer for it in ``span``: no row stale, every ``ts`` inside.

    ``days``: ``(day, first_ts, last_ts, stale)`` rows, one per version and role of a day.
    """
    out: dict[date, bool] = {}
    for day, first, last, stale in days:
        out[day] = out.get(day, True) and not stale and first >= span.start and last < span.end
    return out


def raw_parts(whole: Mapping[date, bool], span: TimeRange) -> list[TimeRange]:
    """The parts of ``span`` read from the rows: each run of days not whole, clipped to it."""
    parts = [TimeRange(max(lo, span.start), min(hi, span.end))
             for lo, hi in day_spans(sorted(d for d, ok in whole.items() if not ok))]
    return [p for p in parts if p.start < p.end]


def merged(frames: Sequence[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
    """Per-key sums of ``regression_sums`` frames of disjoint rows (``lo`` / ``hi``: min / max).

    The columns are the first frame's, in its order.
    """
    return pl.concat(frames, how="vertical_relaxed").group_by(keys, maintain_order=True).agg(
        *[pl.col(c).sum() for c in SUMMED], pl.col("lo").min(), pl.col("hi").max()
    ).select(frames[0].columns)


def day_spans(days: list[date]) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` of each run of consecutive days."""
    out: list[tuple[datetime, datetime]] = []
    for day in days:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], start + timedelta(days=1))
        else:
            out.append((start, start + timedelta(days=1)))
    return out
