"""Aggregations pushed down into DuckDB: only small frames come back to Python.

Every function takes the model, optional versions and a [`TimeRange`][mlmkit.windows.TimeRange], and
returns a polars frame with one row per group. These are the sufficient statistics the analysis
layer turns into metrics (confusion counts, score histograms).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import duckdb
import polars as pl

from mlmkit.store._sql import where_clause
from mlmkit.store.database import Database
from mlmkit.values import TimeRange

__all__ = ["confusion_counts", "query", "score_histogram"]

# The confusion cells of a group of rows; shared with monitor_sql's window totals.
CONFUSION_CELLS = """
    count(*) AS n,
    count(actual) AS labelled,
    count(*) FILTER (WHERE actual AND prediction) AS tp,
    count(*) FILTER (WHERE NOT actual AND prediction) AS fp,
    count(*) FILTER (WHERE NOT actual AND NOT prediction) AS tn,
    count(*) FILTER (WHERE actual AND NOT prediction) AS fn,
    count(score) FILTER (WHERE actual IS NOT NULL) AS scored"""

# Confusion cells, Brier / log-loss sums and prediction counts of a group of rows. Shared by
# confusion_counts below and the daily_summary refresh (monitor_sql); the order matters there
# (INSERT ... SELECT is positional).
COUNT_COLUMNS = CONFUSION_CELLS + """,
    sum(CASE WHEN actual THEN (1 - score) * (1 - score) ELSE score * score END)
        FILTER (WHERE actual IS NOT NULL) AS brier_sum,
    sum(-ln(greatest(least(CASE WHEN actual THEN score ELSE 1 - score END, 1 - 1e-15), 1e-15)))
        FILTER (WHERE actual IS NOT NULL) AS log_loss_sum,
    count(*) FILTER (WHERE prediction) AS predicted_positive"""


@contextlib.contextmanager
def _perfect_hash(conn: duckdb.DuckDBPyConnection, bits: int | None) -> Iterator[None]:
    """``perfect_ht_threshold = bits`` for the block (nothing when ``None``), then reset."""
    if bits is None:
        yield
        return
    conn.execute(f"SET perfect_ht_threshold = {int(bits)}")
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):  # (a broken connection is reopened)
            conn.execute("RESET perfect_ht_threshold")


def query(db: Database, sql: str, params: Sequence[Any] | None = None, *,
          perfect_hash_bits: int | None = None) -> pl.DataFrame:
    """Run a read-only query and return polars (via Arrow).

    ``perfect_hash_bits``: DuckDB's ``perfect_ht_threshold`` for this query only (see
    `mlmkit.store.engines.portable.perfect_hash_bits`), reset after it on the same lease.
    """
    with db.connection() as conn, _perfect_hash(conn, perfect_hash_bits):
        arrow = conn.sql(sql, params=list(params or [])).to_arrow_table()
    return pl.DataFrame(pl.from_arrow(arrow))


def confusion_counts(db: Database, model_name: str, *, versions: Sequence[str] | None = None,
                     time_range: TimeRange | None = None, by_version: bool = True,
                     interval: timedelta | None = None, role: str | None = "served"
                     ) -> pl.DataFrame:
    """Confusion counts, Brier / log-loss sums and label coverage per group.

    Groups are ``version`` (if ``by_version``) and ``bucket`` (if ``interval``; the bucket's
    start, aligned to ``time_range.start``). Columns: ``n, labelled, tp, fp, tn, fn, scored,
    brier_sum, log_loss_sum, predicted_positive`` (no label latency: its exact median would
    double the scan, and window metrics get it from ``monitor_sql``). Empty buckets are not
    returned (callers fill them).
    """
    where, params = where_clause(model_name, versions, time_range, role=role)
    groups = []
    select = []
    if by_version:
        groups.append("version")
        select.append("version")
    if interval is not None:
        origin = time_range.start if time_range is not None else None
        seconds = interval.total_seconds()
        bucket = (f"to_timestamp(floor((epoch(ts) - epoch(?::TIMESTAMPTZ)) / {seconds}) * "
                  f"{seconds} + epoch(?::TIMESTAMPTZ))")
        select.append(f"{bucket} AS bucket")
        params = [origin, origin, *params] if origin is not None else params
        groups.append("bucket")
    head = ", ".join([*select, COUNT_COLUMNS])
    sql = f"SELECT {head} FROM predictions WHERE {where}"
    if groups:
        sql += f" GROUP BY {', '.join(groups)} ORDER BY {', '.join(groups)}"
    return query(db, sql, params)


def score_histogram(db: Database, model_name: str, *, versions: Sequence[str] | None = None,
                    time_range: TimeRange | None = None, bins: int = 10_000,
                    labelled_only: bool = True, role: str | None = "served") -> pl.DataFrame:
    """Counts of positives and negatives per score bin (``bin`` = floor(score * bins)).

    Columns ``version, bin, pos, neg, n`` (``pos``/``neg`` are label counts; ``n`` counts every
    scored row, labelled or not).
    """
    where, params = where_clause(model_name, versions, time_range, role=role)
    where += " AND score IS NOT NULL"
    if labelled_only:
        where += " AND actual IS NOT NULL"
    sql = (f"SELECT version, least(floor(score * {int(bins)}), {int(bins) - 1})::BIGINT AS bin, "
           "count(*) FILTER (WHERE actual) AS pos, count(*) FILTER (WHERE NOT actual) AS neg, "
           f"count(*) AS n FROM predictions WHERE {where} GROUP BY version, bin "
           "ORDER BY version, bin")
    return query(db, sql, params)
