"""Segment statements in the portable SQL subset: the partials of `portable` plus segment keys.

Every statement groups by ``version`` (or the drift ``side``) and the segment keys
``segment_0, segment_1, ...`` (`ResolvedSegment.select`), and filters by the segment's
``?``-parameter conditions (`ResolvedSegment.where`); partials of disjoint row sets merge
exactly (`mlmkit.store.engines._finish.merge`). A NULL key is a group of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlmkit._bins import bin_spec
from mlmkit.store._sql import Where, where_clause
from mlmkit.store.engines import portable as sql
from mlmkit.store.engines.portable import DUCKDB, Dialect, Statement
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange

if TYPE_CHECKING:
    from mlmkit.store.engines.segments import ResolvedSegment

__all__ = ["category_counts", "cells", "confusion", "error_stream", "feature_histograms",
           "histogram", "numeric_stats", "scores", "segment_histograms", "side_values",
           "totals", "value_histograms"]

#: Per task, the per-row error of the concept-drift stream and the rows that have one: binary
#: and multiclass misclassified (1.0) or not (0.0), regression the residual.
_STREAM = {"binary": ("CAST(CASE WHEN prediction <> actual THEN 1 ELSE 0 END AS DOUBLE)",
                      "actual IS NOT NULL AND prediction IS NOT NULL"),
           "multiclass": ("CAST(CASE WHEN label <> actual_label THEN 1 ELSE 0 END AS DOUBLE)",
                          "label IS NOT NULL AND actual_label IS NOT NULL"),
           "regression": ("CAST(value - actual_value AS DOUBLE)",
                          "value IS NOT NULL AND actual_value IS NOT NULL")}


def _where(model: str, versions: Sequence[str] | None, span: TimeRange | None,
           role: str | None, seg: ResolvedSegment, d: Dialect) -> tuple[str, list[Any]]:
    where, params = where_clause(model, versions, span, role=role)
    f = seg.where(d)
    return f"{where} AND {f}", [*params, *f.params]


def _group(n: int) -> str:
    return " GROUP BY " + ", ".join(str(i + 1) for i in range(n))


def confusion(model: str, versions: Sequence[str] | None, span: TimeRange | None,
              role: str | None, seg: ResolvedSegment, *, bucket_us: int | None = None,
              origin_us: int = 0, d: Dialect = DUCKDB) -> Statement:
    """Confusion cells and score sums per version, segment (and ``bucket_index``)."""
    where, params = _where(model, versions, span, role, seg, d)
    select, keys = ["version", *seg.select(d)], ["version", *seg.key_names()]
    if bucket_us is not None:
        select.append(f"CAST(floor(({d.epoch_us.format(c='ts')} - {int(origin_us)}) / "
                      f"{int(bucket_us)}) AS BIGINT) AS bucket_index")
        keys.append("bucket_index")
    select, group, first = sql.version_head(select, len(keys), versions)
    head = ", ".join([*select, sql._CELLS, sql._SUMS])
    return Statement(f"SELECT {head} FROM {{src}} WHERE {where} {group}", [*first, *params],
                     tuple(keys))


def totals(model: str, versions: Sequence[str] | None, span: TimeRange | None,
           role: str | None, seg: ResolvedSegment, d: Dialect = DUCKDB) -> Statement:
    """Window totals per version and segment (no label latency)."""
    where, params = _where(model, versions, span, role, seg, d)
    keys = ["version", *seg.key_names()]
    select, group, first = sql.version_head(["version", *seg.select(d)], len(keys), versions)
    head = ", ".join([*select, sql._CELLS, sql._TOTALS])
    return Statement(f"SELECT {head} FROM {{src}} WHERE {where} {group}", [*first, *params],
                     tuple(keys))


def histogram(model: str, versions: Sequence[str] | None, span: TimeRange | None,
              role: str | None, seg: ResolvedSegment, bins: int, d: Dialect = DUCKDB
              ) -> Statement:
    """Labelled positives / negatives per version, segment and score bin."""
    where, params = _where(model, versions, span, role, seg, d)
    keys = ["version", *seg.key_names(), "bin"]
    select, group, first = sql.version_head(["version", *seg.select(d)], len(keys), versions)
    sql_ = (f"SELECT {', '.join(select)}, CAST(least(floor(score * "
            f"{int(bins)}), {int(bins) - 1}) AS BIGINT) AS bin, count(*) FILTER (WHERE actual) "
            f"AS pos, count(*) FILTER (WHERE NOT actual) AS neg FROM {{src}} WHERE {where} "
            f"AND score IS NOT NULL AND actual IS NOT NULL {group}")
    return Statement(sql_, [*first, *params], tuple(keys))


def scores(model: str, versions: Sequence[str] | None, span: TimeRange | None,
           role: str | None, seg: ResolvedSegment, d: Dialect = DUCKDB) -> Statement:
    """The labelled, scored rows: segment keys, ``score`` and ``actual`` (0/1)."""
    where, params = _where(model, versions, span, role, seg, d)
    sql_ = (f"SELECT {', '.join(seg.select(d))}, CAST(score AS DOUBLE) AS score, "
            f"CAST(actual AS INTEGER) AS actual FROM {{src}} WHERE {where} "
            "AND score IS NOT NULL AND actual IS NOT NULL")
    return Statement(sql_, params, ())


def _sides(model: str, ref: Side, cur: Side, role: str | None, seg: ResolvedSegment,
           columns: Sequence[str], finite: Sequence[str], d: Dialect) -> tuple[str, list[Any]]:
    """Both sides' rows of ``columns`` with the segment keys, filtered by the segment."""
    inner, params = sql.sides(model, ref, cur, role, [*columns, *dict.fromkeys(
        c for c in seg.columns if c not in columns)], finite, d)
    f = seg.where(d)
    cols = ", ".join(d.ident(c) for c in columns)
    sql_ = (f"(SELECT {', '.join(seg.select(d))}, side{', ' if cols else ''}{cols} "
            f"FROM {inner} s0 WHERE {f})")
    return sql_, [*params, *f.params]


def feature_histograms(model: str, ranges: Mapping[str, tuple[float, float]], ref: Side,
                       cur: Side, bins: int, role: str | None, seg: ResolvedSegment,
                       d: Dialect = DUCKDB) -> Statement:
    """``segment_i.., side, col, bin, n`` on each column's shared equal-width bins."""
    cols = list(ranges)
    src, params = _sides(model, ref, cur, role, seg, cols, cols, d)
    whens = []
    for lo, hi in ranges.values():
        start, width = bin_spec(lo, hi, bins)
        b = f"floor((v - CAST({start!r} AS DOUBLE)) / CAST({width!r} AS DOUBLE))"
        # the name as a parameter: string literals escape differently (Spark: backslashes)
        whens.append(f"WHEN ? THEN greatest(least({b}, {bins - 1}), 0)")
    keys = [*seg.key_names(), "side", "col", "bin"]
    names = ", ".join(d.ident(c) for c in cols)
    sql_ = (f"SELECT {', '.join(seg.key_names())}, side, col, CAST(CASE col {' '.join(whens)} "
            f"END AS BIGINT) AS bin, count(*) AS n FROM {src} UNPIVOT (v FOR col IN "
            f"({names})) p{_group(len(keys))}")
    return Statement(sql_, [*cols, *params], tuple(keys))


def category_counts(model: str, categorical: Sequence[str], ref: Side, cur: Side,
                    role: str | None, seg: ResolvedSegment, d: Dialect = DUCKDB) -> Statement:
    """``segment_i.., side, col, value, n`` of every categorical column (present values)."""
    src, params = _sides(model, ref, cur, role, seg, categorical, (), d)
    keys = [*seg.key_names(), "side", "col", "value"]
    heads = ", ".join(seg.key_names())
    branches = [f"SELECT {heads}, side, {i} AS col, CAST({d.ident(c)} AS STRING) AS value "
                f"FROM {src} t{i}" for i, c in enumerate(categorical)]
    sql_ = (f"SELECT {heads}, side, col, value, count(*) AS n FROM "
            f"({' UNION ALL '.join(branches)}) u WHERE value IS NOT NULL{_group(len(keys))}")
    return Statement(sql_, params * len(categorical), tuple(keys))


def cells(model: str, versions: Sequence[str] | None, span: TimeRange | None,
          role: str | None, seg: ResolvedSegment, d: Dialect = DUCKDB) -> Statement:
    """``version, segment_i.., actual, prediction, k``: at most 6 groups per segment.

    The count-only form (``scores=False``): a plain ``GROUP BY`` count, measured 3-4x faster
    than the ``FILTER``-ed sums of `totals`.
    """
    where, params = _where(model, versions, span, role, seg, d)
    keys = ["version", *seg.key_names(), "actual", "prediction"]
    select, group, first = sql.version_head(["version", *seg.select(d), "actual", "prediction"],
                                            len(keys), versions)
    return Statement(f"SELECT {', '.join(select)}, count(*) AS k FROM {{src}} WHERE {where} "
                     f"{group}", [*first, *params], tuple(keys))


def error_stream(model: str, version: str, span: TimeRange | None, role: str | None,
                 seg: ResolvedSegment, task: str, d: Dialect = DUCKDB) -> Statement:
    """``segment_i.., t_us, e, k``: one version's labelled rows as counts of (time, error).

    ``e`` as in `mlmkit.store.engines.portable_tasks.error_stream` (binary: 0/1 like
    multiclass); ``k`` counts the rows sharing segment, time and error (merges exactly).
    """
    expr, present = _STREAM[task]
    where, params = _where(model, [version], span, role, seg, d)
    keys = [*seg.key_names(), "t_us", "e"]
    sql_ = (f"SELECT {', '.join(seg.select(d))}, {d.epoch_us.format(c='ts')} AS t_us, {expr} "
            f"AS e, count(*) AS k FROM {{src}} WHERE {where} AND {present}{_group(len(keys))}")
    return Statement(sql_, params, tuple(keys))


# ---------------------------------------------------------------------- data drift per segment
def numeric_stats(model: str, numeric: Sequence[str], ref: Side, cur: Side, role: str | None,
                  seg: ResolvedSegment, d: Dialect = DUCKDB) -> Statement:
    """`portable.numeric_stats` per segment: ``segment_i.., side, n_rows``, then per column.

    Per column ``n_i, lo_i, hi_i, s_i, v_i`` (count, min, max, sum, population variance).

    Its partials do not merge by summing (``v_i``): read them unmerged and combine each
    segment's with `mlmkit.store.engines._finish.side_stats`, as the unsegmented statement.
    """
    src, params = _sides(model, ref, cur, role, seg, numeric, numeric, d)
    keys = [*seg.key_names(), "side"]
    parts = [*keys, "count(*) AS n_rows"]
    for i, col in enumerate(numeric):
        c = d.ident(col)
        parts.append(f"count({c}) AS n_{i}, min({c}) AS lo_{i}, max({c}) AS hi_{i}, "
                     f"sum({c}) AS s_{i}, var_pop({c}) AS v_{i}")
    return Statement(f"SELECT {', '.join(parts)} FROM {src} t{_group(len(keys))}", params,
                     tuple(keys))


def _key_match(seg: ResolvedSegment, key: Sequence[Any]) -> tuple[str, list[Any]]:
    """``segment_0 = ? AND segment_1 IS NULL ...``: the rows of one segment key."""
    where = Where()
    for name, value in zip(seg.key_names(), key, strict=True):
        if value is None:
            where.add(f"{name} IS NULL")
        else:
            where.add(f"{name} = ?", value)
    return str(where), where.params


def _dictionary(names: Sequence[str], ranges: Mapping[tuple[Any, ...],
                                                     Mapping[str, tuple[float, float]]],
                cols: Sequence[str], bins: int) -> tuple[str, list[Any]]:
    """``k_<name>.., sid, lo_j, w_j..``: one row per key, its id and each column's bins.

    ``names`` name the key's parts (the segment keys, ``version`` first if it is one).
    ``lo_j`` and ``w_j`` (lower edge, width) are NULL where the key has no range for
    column ``j``; a NULL key is the literal ``NULL``.
    """
    rows, params = [], []
    for sid, (key, by_col) in enumerate(ranges.items()):
        heads = []
        for name, value in zip(names, key, strict=True):
            heads.append(f"NULL AS k_{name}" if value is None else f"? AS k_{name}")
            params += [] if value is None else [value]
        heads.append(f"{sid} AS sid")
        for j, col in enumerate(cols):
            if col in by_col:
                lo, hi = by_col[col]
                heads.append(f"CAST(? AS DOUBLE) AS lo_{j}, CAST(? AS DOUBLE) AS w_{j}")
                params += [*bin_spec(lo, hi, bins)]
            else:
                heads.append(f"CAST(NULL AS DOUBLE) AS lo_{j}, CAST(NULL AS DOUBLE) AS w_{j}")
        rows.append(f"SELECT {', '.join(heads)}")
    return f"({' UNION ALL '.join(rows)})", params


def segment_histograms(model: str, ranges: Mapping[tuple[Any, ...],
                                                   Mapping[str, tuple[float, float]]],
                       ref: Side, cur: Side, bins: int, role: str | None, seg: ResolvedSegment,
                       d: Dialect = DUCKDB) -> Statement:
    """``k, n``: the counts of each (segment, column)'s own equal-width bins.

    ``ranges`` maps a segment key to ``{column: (lo, hi)}``: the bins of the unsegmented
    `portable.feature_histograms` on that segment's range (same arithmetic, so a segment's
    counts equal the unsegmented histogram of its rows alone). ``k`` is one integer,
    ``((sid * C + col) * 2 + side) * bins + bin``, an index into a ``(segments, C, 2, bins)``
    array: ``sid`` the segment key's index in ``ranges``, ``col`` the column's index in the
    order the columns first appear in ``ranges`` (``C`` columns). One scan whatever the number
    of segments: each row finds its segment's id and edges in a small dictionary (a join on
    the keys, NULL matching NULL), and each column is one ``GROUPING SETS`` set on its integer
    key. Measured on 1e6 rows, 21 segments, 3 columns: 0.13 s against 0.32 s for the former
    form (``CASE`` branches per segment and column, grouped by key, side and bin) and 0.57 s
    for an ``UNPIVOT``. A (segment, column) without a range counts nowhere. No group keys:
    partials of disjoint rows may repeat a ``k``, and their ``n`` add up (unsorted, unmerged).
    """
    cols = list(dict.fromkeys(c for r in ranges.values() for c in r))
    src, params = _sides(model, ref, cur, role, seg, cols, cols, d)
    table, table_params = _dictionary(seg.key_names(), ranges, cols, bins)
    on = Where()
    for k in seg.key_names():
        on.add(f"t.{k} IS NOT DISTINCT FROM g.k_{k}")
    n_col, keyed = len(cols), []
    for j, col in enumerate(cols):
        b = f"floor((t.{d.ident(col)} - g.lo_{j}) / g.w_{j})"
        keyed.append(f"CAST(CASE WHEN {b} < 0 THEN 0 WHEN {b} > {bins - 1} THEN {bins - 1} "
                     f"ELSE {b} END AS BIGINT) + ((CAST(g.sid AS BIGINT) * {n_col} + {j}) * 2 "
                     f"+ t.side) * {bins} AS k{j}")
    names = [f"k{j}" for j in range(n_col)]
    sql_ = (f"SELECT * FROM (SELECT coalesce({', '.join(names)}) AS k, count(*) AS n FROM "
            f"(SELECT {', '.join(keyed)} FROM {src} t JOIN {table} g ON {on}) j GROUP BY "
            f"GROUPING SETS ({', '.join(f'({n})' for n in names)})) h WHERE k IS NOT NULL")
    return Statement(sql_, [*params, *table_params], ())


#: The per-row value of each window histogram and the column a row must have: as the
#: unsegmented `portable_tasks.residual_histogram` and `score_histogram`.
VALUES = {"residual": ("(value - actual_value)", "actual_value"), "score": ("score", "score")}


def value_histograms(model: str, ranges: Mapping[tuple[Any, ...], tuple[float, float]],
                     span: TimeRange | None, role: str | None, seg: ResolvedSegment,
                     bins: int, values: str, d: Dialect = DUCKDB) -> Statement:
    """``k, n``: residuals or scores on each (version, segment)'s own ``bins`` equal bins.

    ``ranges`` maps ``(version, *segment key)`` to its ``(lo, hi)``; ``values`` is
    ``"residual"`` (labelled errors ``value - actual_value``) or ``"score"`` (`VALUES`). A
    row's bin is the unsegmented statement's (`portable_tasks._bin`: the same ``floor``
    arithmetic on the same ``lo`` and width, clamped to the ends), so each group's counts equal
    the unsegmented histogram of its rows alone. ``k = sid * bins + bin``, ``sid`` the key's
    index in ``ranges``; each row finds its ``sid`` and edges by a join on a small dictionary
    of the keys (NULL matching NULL; the version too when ``ranges`` has several), one scan
    whatever the number of segments: measured on 1e6 rows with 10 000 bins, 0.066 s against
    0.101 s for ``CASE`` branches per segment at 20 segments, 0.10 s against 0.35 s at 200.
    Rows of a key without a range count nowhere. No group keys: partials of disjoint rows
    may repeat a ``k`` and their ``n`` add up (read unmerged).

    The aggregate is most of its cost, with up to ``len(ranges) * bins`` groups: on 1e6
    rows, 21 segments, 10 000 bins (DuckDB, 2 threads) 31-38 ms (124k-205k groups) in a
    general hash table, 26-30 ms in the perfect hash table ``groups`` lets the engines ask
    for (the scan and the join alone: 17 ms); a per-segment coarse pass followed by a fine
    pass over the needed coarse bins only took 39-41 ms (two scans and joins), one CTE
    statement of both 34-36 ms.
    """
    expr, present = VALUES[values]
    versions = sorted({k[0] for k in ranges})
    where, params = _where(model, versions, span, role, seg, d)
    one = len(versions) == 1  # the WHERE holds the version: the join needs the segment only
    names = [*([] if one else ["version"]), *seg.key_names()]
    table, table_params = _dictionary(names, {k[one:]: {"v": r} for k, r in ranges.items()},
                                      ["v"], bins)
    on = Where()
    for k in names:
        on.add(f"t.{k} = g.k_{k}" if k == "version" else f"t.{k} IS NOT DISTINCT FROM g.k_{k}")
    head = ", ".join([*([] if one else ["version"]), *seg.select(d), f"{expr} AS v"])
    k = (f"CAST(greatest(least(floor((t.v - g.lo_0) / g.w_0), {bins - 1}), 0) AS BIGINT) + "
         f"CAST(g.sid AS BIGINT) * {bins}")
    rows = (f"FROM (SELECT {head} FROM {{src}} WHERE {where} AND {present} IS NOT NULL) t "
            f"JOIN {table} g ON {on}")
    return Statement(f"SELECT {k} AS k, count(*) AS n {rows} GROUP BY 1",
                     [*params, *table_params], (), groups=len(ranges) * bins)


def side_values(model: str, columns: Sequence[str], side: Side, role: str | None,
                seg: ResolvedSegment, finite: Sequence[str], d: Dialect = DUCKDB,
                only: Sequence[Sequence[Any]] | None = None) -> Statement:
    """Raw values of ``columns`` on one side with the segment keys (`portable.rows` per segment).

    ``only``: the segment keys whose rows are wanted (default every segment's).
    """
    where = Where().at_least("ts", side.time_range.start).before("ts", side.time_range.end) \
        .among("version", side.versions or None).equal("model_name", model).equal("role", role)
    f = seg.where(d)
    cols = ", ".join([*seg.select(d), *(f"{d.finite.format(c=d.ident(c))} AS {d.ident(c)}"
                                        if c in finite else d.ident(c) for c in columns)])
    sql_ = f"SELECT {cols} FROM {{src}} WHERE {where} AND {f}"
    params = [*where.params, *f.params]
    if only is not None:
        conds = [_key_match(seg, key) for key in only]
        any_ = " OR ".join(f"({c})" for c, _ in conds) or "FALSE"
        sql_ = f"SELECT * FROM ({sql_}) r WHERE {any_}"
        params += [p for _, ps in conds for p in ps]
    return Statement(sql_, params, ())
