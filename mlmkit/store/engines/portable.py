"""Aggregate statements in a portable SQL subset (DuckDB and Spark SQL), as mergeable partials.

Every statement reads ``{src}`` (the prediction rows of one model, features under their
storage column names) and returns *partial* aggregates: counts, sums, minima, maxima, or
(latency) value counts, never averages or medians. Partials of disjoint row sets therefore
add up exactly (`MERGE` says how per column), which is what lets N worker processes,
or N Spark tasks, share one scan. The few functions that differ between engines come from a
`Dialect`; nothing here uses ``epoch_us``, ``TIMESTAMPTZ`` casts, ``AT TIME ZONE``,
``histogram()``, ``FILTER``-less DuckDB-only types (``UTINYINT``) or ``GROUP BY ALL``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlmkit._bins import bin_spec
from mlmkit.store._sql import Where, where_clause
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange

__all__ = ["DUCKDB", "MERGE", "PERFECT_HASH_MAX_BITS", "Dialect", "Statement", "perfect_hash_bits",
           "version_head"]

EPS = 2.220446049250313e-16


@dataclass(frozen=True)
class Dialect:
    """The engine-specific spellings the statements need."""

    name: str
    epoch_us: str   # template with {c}: microseconds since the epoch of a timestamp
    finite: str     # template with {c}: the number, or NULL for NaN / +-inf
    quote: str      # identifier quote character

    def ident(self, name: str) -> str:
        """A quoted identifier."""
        q = self.quote
        return q + name.replace(q, q + q) + q


DUCKDB = Dialect("duckdb", "epoch_us({c})", "CASE WHEN isfinite({c}) THEN {c} END", '"')

#: How partial columns of the same group combine; unlisted non-key columns are summed.
MERGE = {"min_score": "min", "first_ts": "min", "last_ts": "max", "lo": "min", "hi": "max"}


@dataclass(frozen=True)
class Statement:
    """A partial-aggregate statement: SQL with ``{src}``, ``?`` parameters, its group keys.

    ``groups``: when the statement groups by one integer key the SQL clamps to
    ``[0, groups)`` (the histograms' bin keys), that bound; ``0`` otherwise. A DuckDB engine
    then lets the aggregate use its perfect hash table (`perfect_hash_bits`).
    """

    sql: str
    params: list[Any]
    keys: tuple[str, ...]
    groups: int = 0


#: The largest perfect hash table a statement may ask DuckDB for: 2^20 slots (8 MB of
#: counts per thread). DuckDB's own threshold is 2^12: a 10,000-bin histogram is counted in
#: a general hash table, and the 21 segments x 10,000 bins of a segmented one took 38-41 ms
#: of a 1e6-row window instead of 26-30 ms (DuckDB 2.0, 2 threads).
PERFECT_HASH_MAX_BITS = 20


def perfect_hash_bits(groups: int) -> int | None:
    """The ``perfect_ht_threshold`` a statement of ``groups`` dense keys needs, if it helps.

    ``None`` when DuckDB's default (12 bits) covers it already, or when the table would be
    larger than `PERFECT_HASH_MAX_BITS` (a general hash table then, as by default).
    """
    bits = max(int(groups) - 1, 1).bit_length()
    return bits if 12 < bits <= PERFECT_HASH_MAX_BITS else None


_CELLS = """count(*) AS n,
    count(actual) AS labelled,
    count(*) FILTER (WHERE actual AND prediction) AS tp,
    count(*) FILTER (WHERE NOT actual AND prediction) AS fp,
    count(*) FILTER (WHERE NOT actual AND NOT prediction) AS tn,
    count(*) FILTER (WHERE actual AND NOT prediction) AS fn,
    count(score) FILTER (WHERE actual IS NOT NULL) AS scored"""

_SUMS = """sum(CASE WHEN actual THEN (1 - score) * (1 - score) ELSE score * score END)
        FILTER (WHERE actual IS NOT NULL) AS brier_sum,
    sum(-ln(greatest(least(CASE WHEN actual THEN score ELSE 1 - score END, 1 - 1e-15), 1e-15)))
        FILTER (WHERE actual IS NOT NULL) AS log_loss_sum,
    count(*) FILTER (WHERE prediction) AS predicted_positive"""

_TOTALS = f"""count(score) FILTER (WHERE actual) AS scored_pos,
    sum(score) FILTER (WHERE actual) AS score_sum_pos,
    sum(score * score) FILTER (WHERE actual IS NOT NULL) AS score_sq_sum,
    sum(ln(greatest(least(score, 1 - {EPS}), {EPS}))) FILTER (WHERE actual) AS log_pos_sum,
    sum(ln(greatest(least(1 - score, 1 - {EPS}), {EPS}))) FILTER (WHERE NOT actual)
        AS log1m_neg_sum,
    count(*) FILTER (WHERE prediction) AS predicted_positive,
    count(score) AS scored_all,
    sum(score) AS score_sum_all,
    min(ts) AS first_ts,
    max(ts) AS last_ts"""


def version_head(select: Sequence[str], n_keys: int, versions: Sequence[str] | None
               ) -> tuple[list[str], str, list[Any]]:
    """The head, ``GROUP BY`` and leading parameters of a statement keyed ``version, ...``.

    ``select``: the head's expressions, ``version`` first; ``n_keys``: how many leading columns
    of the result are keys. Reading exactly one version, the version is a parameter (``? AS
    version``) and only the other keys are grouped: grouping by a column holding one value
    cost 5 of 23 ms at 1e6 rows and 21 segments; with no other key the statement aggregates
    without ``GROUP BY`` (``HAVING count(*) > 0``: no row for no rows, as a group would; a
    plain aggregate measured ~20 % faster than a one-group hash aggregate at 1e7 rows).
    """
    if versions is None or len(versions) != 1:
        return list(select), f"GROUP BY {', '.join(str(i + 1) for i in range(n_keys))}", []
    rest = ", ".join(str(i + 2) for i in range(n_keys - 1))
    return (["? AS version", *select[1:]], f"GROUP BY {rest}" if rest else
            "HAVING count(*) > 0", [versions[0]])


def confusion(model: str, versions: Sequence[str] | None, span: TimeRange | None,
              role: str | None, *, by_version: bool, bucket_us: int | None,
              origin_us: int | None, d: Dialect = DUCKDB) -> Statement:
    """Confusion cells and score sums per version (and bucket index)."""
    where, params = where_clause(model, versions, span, role=role)
    keys: list[str] = ["version"] if by_version else []
    select = list(keys)
    if bucket_us is not None:
        select.append(f"CAST(floor(({d.epoch_us.format(c='ts')} - {int(origin_us or 0)}) / "
                      f"{int(bucket_us)}) AS BIGINT) AS bucket_index")
        keys.append("bucket_index")
    first: list[Any] = []
    if by_version:
        select, group, first = version_head(select, len(keys), versions)
    else:
        group = f"GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    head = ", ".join([*select, _CELLS, _SUMS])
    return Statement(f"SELECT {head} FROM {{src}} WHERE {where} {group}", [*first, *params],
                     tuple(keys))


def daily(model: str, versions: Sequence[str] | None, start: Any, end: Any, role: str,
          first_day: Any) -> Statement:
    """Per version and UTC day (the ``date`` partition column): counts and sums."""
    where = Where().equal("model_name", model).equal("role", role).among("version", versions)
    where.at_least("date", first_day).before("ts", end)
    sql = (f"SELECT version, date AS day, {_CELLS}, {_SUMS}, sum(score) AS score_sum "
           f"FROM {{src}} WHERE {where} GROUP BY 1, 2")
    return Statement(sql, where.params, ("version", "day"))


def histogram(model: str, versions: Sequence[str] | None, span: TimeRange | None,
              role: str | None, bins: int, labelled_only: bool, with_n: bool = True
              ) -> Statement:
    """Positives / negatives (and all scored rows) per score bin."""
    where, params = where_clause(model, versions, span, role=role)
    where += " AND score IS NOT NULL" + (" AND actual IS NOT NULL" if labelled_only else "")
    n = ", count(*) AS n" if with_n else ""
    (head,), group, first = version_head(["version"], 2, versions)
    sql = (f"SELECT {head}, CAST(least(floor(score * {int(bins)}), {int(bins) - 1}) AS BIGINT)"
           " AS bin, count(*) FILTER (WHERE actual) AS pos, "
           f"count(*) FILTER (WHERE NOT actual) AS neg{n} FROM {{src}} WHERE {where} {group}")
    return Statement(sql, [*first, *params], ("version", "bin"))


def totals(model: str, versions: Sequence[str] | None, span: TimeRange | None,
           role: str | None) -> Statement:
    """Window totals per version (means and the latency median are finished after merging)."""
    where, params = where_clause(model, versions, span, role=role)
    (head,), group, first = version_head(["version"], 1, versions)
    sql = f"SELECT {head}, {_CELLS}, {_TOTALS} FROM {{src}} WHERE {where} {group}"
    return Statement(sql, [*first, *params], ("version",))


def latencies(model: str, versions: Sequence[str] | None, span: TimeRange | None,
              role: str | None, d: Dialect = DUCKDB) -> Statement:
    """Label latency value counts (microseconds) per version, for an exact merged median."""
    where, params = where_clause(model, versions, span, role=role)
    lat = f"{d.epoch_us.format(c='labelled_at')} - {d.epoch_us.format(c='ts')}"
    sql = (f"SELECT version, {lat} AS latency_us, count(*) AS k FROM {{src}} "
           f"WHERE {where} AND actual IS NOT NULL GROUP BY 1, 2")
    return Statement(sql, params, ("version", "latency_us"))


def grid_cells(model: str, thresholds: Sequence[float], versions: Sequence[str] | None,
               span: TimeRange | None, role: str | None) -> Statement:
    """Positives / negatives per cell between sorted thresholds."""
    where, params = where_clause(model, versions, span, role=role)
    where += " AND score IS NOT NULL AND actual IS NOT NULL"
    cell = " + ".join(f"CAST(score >= CAST({float(t)!r} AS DOUBLE) AS INTEGER)"
                      for t in thresholds) or "0"
    sql = (f"SELECT {cell} AS cell, count(*) FILTER (WHERE actual) AS pos, "
           "count(*) FILTER (WHERE NOT actual) AS neg, min(score) AS min_score "
           f"FROM {{src}} WHERE {where} GROUP BY 1")
    return Statement(sql, params, ("cell",))


def sides(model: str, ref: Side, cur: Side, role: str | None, columns: Sequence[str],
          finite: Sequence[str], d: Dialect = DUCKDB) -> tuple[str, list[Any]]:
    """A subquery of ``columns`` plus ``side`` (0 reference, 1 current), and its parameters."""
    c0 = Where().at_least("ts", ref.time_range.start).before("ts", ref.time_range.end) \
        .among("version", ref.versions or None)
    c1 = Where().at_least("ts", cur.time_range.start).before("ts", cur.time_range.end) \
        .among("version", cur.versions or None)
    where = Where().equal("model_name", model).equal("role", role)
    cols = ", ".join(f"{d.finite.format(c=d.ident(c))} AS {d.ident(c)}" if c in finite
                     else d.ident(c) for c in columns)
    sql = (f"(SELECT * FROM (SELECT {cols}{', ' if cols else ''}CASE WHEN {c0} THEN 0 "
           f"WHEN {c1} THEN 1 END AS side FROM {{src}} WHERE {where}) s "
           "WHERE side IS NOT NULL)")
    return sql, [*c0.params, *c1.params, *where.params]


def numeric_stats(model: str, numeric: Sequence[str], ref: Side, cur: Side,
                  role: str | None, d: Dialect = DUCKDB) -> Statement:
    """Per side: rows, and per numeric column count, min, max, sum, population variance."""
    src, params = sides(model, ref, cur, role, numeric, numeric, d)
    parts = ["side", "count(*) AS n_rows"]
    for i, col in enumerate(numeric):
        c = d.ident(col)
        parts.append(f"count({c}) AS n_{i}, min({c}) AS lo_{i}, max({c}) AS hi_{i}, "
                     f"sum({c}) AS s_{i}, var_pop({c}) AS v_{i}")
    return Statement(f"SELECT {', '.join(parts)} FROM {src} GROUP BY 1", params, ("side",))


def category_counts(model: str, categorical: Sequence[str], ref: Side, cur: Side,
                    role: str | None, d: Dialect = DUCKDB) -> Statement:
    """Long form ``side, col, value, n`` of every categorical column (one UNION ALL branch each)."""
    src, params = sides(model, ref, cur, role, categorical, (), d)
    branches = [f"SELECT side, {i} AS col, CAST({d.ident(c)} AS STRING) AS value FROM "
                f"{src} t{i}" for i, c in enumerate(categorical)]
    sql = (f"SELECT side, col, value, count(*) AS n FROM ({' UNION ALL '.join(branches)}) u "
           "WHERE value IS NOT NULL GROUP BY 1, 2, 3")
    return Statement(sql, params * len(categorical), ("side", "col", "value"))


def feature_histograms(model: str, ranges: dict[str, tuple[float, float]], ref: Side,
                       cur: Side, bins: int, role: str | None, d: Dialect = DUCKDB
                       ) -> Statement:
    """Long ``UNPIVOT`` + ``GROUP BY`` form: ``side, col, bin, n`` over shared equal-width bins."""
    cols = list(ranges)
    src, params = sides(model, ref, cur, role, cols, cols, d)
    binned = []
    for lo, hi in ranges.values():
        start, width = bin_spec(lo, hi, bins)
        b = f"floor((v - CAST({start!r} AS DOUBLE)) / CAST({width!r} AS DOUBLE))"
        # the name as a parameter: string literals escape differently (Spark: backslashes)
        binned.append(f"WHEN ? THEN CASE WHEN {b} < 0 THEN 0 WHEN {b} > "
                      f"{bins - 1} THEN {bins - 1} ELSE {b} END")
    names = ", ".join(d.ident(c) for c in cols)
    when = " ".join(binned)
    sql = (f"SELECT side, col, CAST(CASE col {when} END AS BIGINT) AS bin, count(*) AS n "
           f"FROM {src} UNPIVOT (v FOR col IN ({names})) p GROUP BY 1, 2, 3")
    return Statement(sql, [*cols, *params], ("side", "col", "bin"))


def rows(model: str, columns: Sequence[str], side: Side, role: str | None,
         finite: Sequence[str], d: Dialect = DUCKDB) -> tuple[str, list[Any]]:
    """Raw values of ``columns`` on one side (concatenated across partitions)."""
    where = Where().at_least("ts", side.time_range.start).before("ts", side.time_range.end) \
        .among("version", side.versions or None).equal("model_name", model).equal("role", role)
    cols = ", ".join(f"{d.finite.format(c=d.ident(c))} AS {d.ident(c)}" if c in finite
                     else d.ident(c) for c in columns)
    return f"SELECT {cols} FROM {{src}} WHERE {where}", where.params
