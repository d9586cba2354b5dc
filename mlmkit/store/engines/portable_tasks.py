"""Per-task partial aggregates (multiclass, regression, score-only) in the portable SQL subset.

Same contract as `mlmkit.store.engines.portable`: every statement reads ``{src}`` and returns
counts, sums, minima and maxima grouped by its keys, so partials of disjoint row sets merge
exactly (`mlmkit.store.engines._finish.merge`; ``lo`` merges by ``min``, ``hi`` by ``max``,
everything else is summed). Bins are ``floor`` arithmetic on literal edges; a multiclass
row's ``probabilities`` list is exploded with the dialect's ``explode`` spelling (DuckDB
``unnest``, Spark ``explode``). Columns (m009): multiclass ``label`` / ``actual_label`` /
``probabilities``, regression ``value`` / ``actual_value``, score-only ``score`` / ``prediction``
(the flag) / ``actual`` (a confirmed anomaly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlmkit._bins import bin_spec
from mlmkit.store._sql import where_clause
from mlmkit.store.engines.portable import DUCKDB, EPS, Dialect, Statement, version_head
from mlmkit.values import TimeRange

if TYPE_CHECKING:
    from mlmkit.store.engines.segments import ResolvedSegment

__all__ = ["EPS", "EXPLODE", "class_confusion", "class_histogram", "class_log_loss",
           "class_probability_sums", "error_stream", "regression_pairs", "regression_sums",
           "residual_histogram", "score_histogram", "score_totals"]

#: How each dialect turns a list column into one row per element (``{c}``: the column).
EXPLODE = {"duckdb": "unnest({c})", "spark": "explode({c})"}

_ERROR = "(value - actual_value)"


def _head(d: Dialect, bucket_us: int | None, origin_us: int | None,
          seg: ResolvedSegment | None = None) -> tuple[list[str], list[str]]:
    """Select expressions and key names of ``version`` (, ``segment_i..``, ``bucket_index``)."""
    select, keys = ["version"], ["version"]
    if seg is not None:
        select += seg.select(d)
        keys += seg.key_names()
    if bucket_us is not None:
        select.append(f"CAST(floor(({d.epoch_us.format(c='ts')} - {int(origin_us or 0)}) / "
                      f"{int(bucket_us)}) AS BIGINT) AS bucket_index")
        keys.append("bucket_index")
    return select, keys


def _group(n: int) -> str:
    return "GROUP BY " + ", ".join(str(i + 1) for i in range(n))


def _scope(model: str, versions: Sequence[str] | None, span: TimeRange | None,
           role: str | None, seg: ResolvedSegment | None, d: Dialect) -> tuple[str, list[Any]]:
    """The rows' ``WHERE`` and parameters, with the segment's filter when one is given."""
    where, params = where_clause(model, versions, span, role=role)
    if seg is None:
        return where, list(params)
    f = seg.where(d)
    return f"{where} AND {f}", [*params, *f.params]


def _pair_counts(model: str, versions: Sequence[str] | None, span: TimeRange | None,
                 role: str | None, d: Dialect, seg: ResolvedSegment | None, actual: str,
                 predicted: str, present: str, bucket_us: int | None = None,
                 origin_us: int | None = None) -> Statement:
    """``version[, bucket_index][, segment keys], actual, predicted, count`` of rows ``present``."""
    where, params = _scope(model, versions, span, role, seg, d)
    select, keys = _head(d, bucket_us, origin_us, seg)
    keys += ["actual", "predicted"]
    head, group, first = version_head(select, len(keys), versions)
    sql = (f"SELECT {', '.join(head)}, {actual} AS actual, {predicted} AS predicted, "
           f"count(*) AS count FROM {{src}} WHERE {where} AND {present} {group}")
    return Statement(sql, [*first, *params], tuple(keys))


def class_confusion(model: str, versions: Sequence[str] | None, span: TimeRange | None,
                    role: str | None, *, bucket_us: int | None = None,
                    origin_us: int | None = None, d: Dialect = DUCKDB,
                    seg: ResolvedSegment | None = None) -> Statement:
    """``version[, bucket_index], actual, predicted, count`` of every multiclass row.

    Unlabelled rows come back with ``actual`` NULL (they count in the window's volume).
    """
    return _pair_counts(model, versions, span, role, d, seg, "actual_label", "label",
                        "label IS NOT NULL", bucket_us, origin_us)


def _exploded(model: str, versions: Sequence[str] | None, span: TimeRange | None,
              role: str | None, d: Dialect, head: Sequence[str],
              seg: ResolvedSegment | None = None) -> tuple[str, list[object]]:
    """Labelled rows with probabilities, one row per (row, listed class): ``pr`` the struct.

    ``seg``: only the rows its filter selects (``head`` then carries its keys).
    """
    where, params = _scope(model, versions, span, role, seg, d)
    explode = EXPLODE.get(d.name, EXPLODE["duckdb"]).format(c="probabilities")
    cols = ", ".join([*head, "label AS predicted", "actual_label AS actual", f"{explode} AS pr"])
    sql = (f"(SELECT {cols} FROM {{src}} WHERE {where} AND actual_label IS NOT NULL "
           "AND label IS NOT NULL AND probabilities IS NOT NULL) t")
    return sql, list(params)


def class_log_loss(model: str, versions: Sequence[str] | None, span: TimeRange | None,
                   role: str | None, *, bucket_us: int | None = None,
                   origin_us: int | None = None, d: Dialect = DUCKDB,
                   seg: ResolvedSegment | None = None) -> Statement:
    """``version[, bucket_index], actual, n, matched, sum_neg_log_p``: rows with probabilities.

    ``n`` counts rows (the element naming the predicted label, which every list holds);
    ``matched`` the rows whose list names the actual class, and ``sum_neg_log_p`` their
    ``Σ -ln clip(p(actual), eps, 1 - eps)`` (scikit-learn's clipping). A row whose list lacks
    the actual class has ``p = 0``, i.e. ``-ln(eps)``: added when finishing. ``seg``: its
    keys after ``version`` and its filter, as in `class_confusion`.
    """
    select, keys = _head(d, bucket_us, origin_us, seg)
    outer, group, first = version_head(keys, len(keys) + 1, versions)
    src, params = _exploded(model, versions, span, role, d, select[len(first):], seg)
    sql = (f"SELECT {', '.join(outer)}, actual, count(*) FILTER (WHERE pr.label = predicted) "
           "AS n, count(*) FILTER (WHERE pr.label = actual) AS matched, "
           f"sum(-ln(greatest(least(pr.p, 1 - {EPS}), {EPS}))) FILTER (WHERE pr.label = actual)"
           f" AS sum_neg_log_p FROM {src} {group}")
    return Statement(sql, [*first, *params], (*keys, "actual"))


def class_histogram(model: str, versions: Sequence[str] | None, span: TimeRange | None,
                    role: str | None, bins: int, d: Dialect = DUCKDB,
                    seg: ResolvedSegment | None = None) -> Statement:
    """``version, class, bin, positives, negatives``: one-vs-rest histograms of ``p(class)``.

    ``bins`` uniform bins on [0, 1] shared by every class; a row is a positive of ``class``
    when its actual is that class. Classes missing from a row's list (``p = 0``) are not
    counted here (the finisher adds them to bin 0). ``seg``: its keys after ``version``.
    """
    select, keys = _head(d, None, None, seg)
    outer, group, first = version_head(keys, len(keys) + 2, versions)
    src, params = _exploded(model, versions, span, role, d, select[len(first):], seg)
    keys += ["class", "bin"]
    sql = (f"SELECT {', '.join(outer)}, pr.label AS class, CAST(least(floor(pr.p * "
           f"{int(bins)}), {int(bins) - 1}) AS BIGINT) AS bin, count(*) FILTER (WHERE "
           "pr.label = actual) AS positives, count(*) FILTER (WHERE pr.label <> actual) AS "
           f"negatives FROM {src} {group}")
    return Statement(sql, [*first, *params], tuple(keys))


def regression_sums(model: str, versions: Sequence[str] | None, span: TimeRange | None,
                    role: str | None, *, bucket_us: int | None = None,
                    origin_us: int | None = None, d: Dialect = DUCKDB,
                    seg: ResolvedSegment | None = None, shift: float | None = None
                    ) -> Statement:
    """``RegressionSums`` columns per version (``error = value - actual_value``), plus volumes.

    ``total`` counts every regression row, ``n`` the labelled ones; ``lo`` / ``hi`` are the
    smallest and largest error (the residual histogram's edges). ``shift``: ``sum_actual`` and
    ``sum_squared_actual`` are sums of ``actual - shift`` (R²'s spread of actuals whose mean
    dwarfs it; see `mlmkit.store.engines.tasks.centred`).

    One scan of ``value`` and ``actual_value`` (and the keys) with plain aggregates: the
    per-row terms are computed once in a subquery and no aggregate carries a ``FILTER``. The
    percentage error ``|e| / nullif(|y|, 0)`` is NULL at a zero or missing actual, so its sums
    skip those rows by themselves and ``zero_actuals = count(y) - count(ape)``; the four
    ``FILTER``-ed aggregates this replaces made the scan 1.5-2x slower (measured at 1e7 rows,
    ``benchmarks/bench_task_metrics``).
    """
    where, params = _scope(model, versions, span, role, seg, d)
    select, keys = _head(d, bucket_us, origin_us, seg)
    outer, group, first = version_head(keys, len(keys), versions)
    one = len(first)  # the version a parameter: not a column of the rows
    centred = "y" if shift is None else f"(y - CAST({float(shift)!r} AS DOUBLE))"
    rows = ", ".join([*select[one:], "actual_value AS y", f"{_ERROR} AS e"])
    terms = ", ".join([*keys[one:], "y", f"{centred} AS yc", "e", "e * e AS e2",
                       "abs(e) / nullif(abs(y), 0) AS ape"])  # Spark (ANSI): nullif
    terms = (f"SELECT {terms} FROM (SELECT {rows} FROM {{src}} WHERE {where} "
             "AND value IS NOT NULL) r")
    sql = (f"SELECT {', '.join(outer)}, count(*) AS total, "
           "count(y) AS n, sum(e) AS sum_error, sum(abs(e)) AS sum_abs_error, "
           "sum(e2) AS sum_squared_error, sum(yc) AS sum_actual, "
           "sum(yc * yc) AS sum_squared_actual, sum(ape) AS sum_abs_percentage_error, "
           "count(y) - count(ape) AS zero_actuals, "
           "sum(ape * ape) AS sum_squared_abs_percentage_error, "
           "sum(e2 * e2) AS sum_fourth_error, min(e) AS lo, max(e) AS hi "
           f"FROM ({terms}) t {group}")
    return Statement(sql, [*first, *params], tuple(keys))


def regression_pairs(model: str, versions: Sequence[str] | None, span: TimeRange | None,
                     role: str | None, d: Dialect = DUCKDB,
                     seg: ResolvedSegment | None = None) -> Statement:
    """``version, actual, predicted, count``: the labelled rows as weighted distinct pairs.

    Partials merge exactly (identical pairs sum their counts); a row bootstrap expands them.
    ``seg``: its keys after ``version`` and its filter (a bootstrap input per segment).
    """
    return _pair_counts(model, versions, span, role, d, seg, "actual_value", "value",
                        "value IS NOT NULL AND actual_value IS NOT NULL")


def _bin(expr: str, lo: float, hi: float, bins: int) -> str:
    """The bin of ``expr`` among ``bins`` equal bins of ``[lo, hi]`` (clamped to the ends)."""
    start, width = bin_spec(lo, hi, bins)
    b = f"floor(({expr} - CAST({start!r} AS DOUBLE)) / CAST({width!r} AS DOUBLE))"
    return f"greatest(least({b}, {bins - 1}), 0)"


def _binned(expr: str, ranges: Mapping[str, tuple[float, float]], bins: int
            ) -> tuple[str, list[str]]:
    """``CASE version WHEN ? THEN <bin of expr on that version's [lo, hi]> END``."""
    whens = [f"WHEN ? THEN {_bin(expr, lo, hi, bins)}" for lo, hi in ranges.values()]
    return f"CAST(CASE version {' '.join(whens)} END AS BIGINT)", list(ranges)


def _histogram(expr: str, column: str, model: str, ranges: Mapping[str, tuple[float, float]],
               span: TimeRange | None, role: str | None, bins: int) -> Statement:
    where, params = where_clause(model, list(ranges), span, role=role)
    if len(ranges) == 1:  # one version: its bins only (see `portable.version_head`)
        version, (lo, hi) = next(iter(ranges.items()))
        b, bin_params = f"CAST({_bin(expr, lo, hi, bins)} AS BIGINT)", [version]
        sql = (f"SELECT ? AS version, {b} AS bin, count(*) AS n FROM {{src}} WHERE {where} "
               f"AND {column} IS NOT NULL GROUP BY 2")
        return Statement(sql, [*bin_params, *params], ("version", "bin"), groups=bins)
    b, bin_params = _binned(expr, ranges, bins)
    sql = (f"SELECT version, {b} AS bin, count(*) AS n FROM {{src}} WHERE {where} "
           f"AND {column} IS NOT NULL GROUP BY 1, 2")
    return Statement(sql, [*bin_params, *params], ("version", "bin"))


def residual_histogram(model: str, ranges: Mapping[str, tuple[float, float]],
                       span: TimeRange | None, role: str | None, bins: int) -> Statement:
    """``version, bin, n``: errors of labelled rows on each version's ``bins`` equal bins."""
    return _histogram(_ERROR, "actual_value", model, ranges, span, role, bins)


def score_totals(model: str, versions: Sequence[str] | None, span: TimeRange | None,
                 role: str | None, *, bucket_us: int | None = None,
                 origin_us: int | None = None, d: Dialect = DUCKDB,
                 seg: ResolvedSegment | None = None, shift: float | None = None) -> Statement:
    """Score-only volumes and sums per version.

    ``total, n, sum_score, sum_squared_score, lo, hi, flagged, flag_n, labelled, confirmed``;
    ``shift``: the score sums are of ``score - shift`` (as in `regression_sums`).
    """
    where, params = _scope(model, versions, span, role, seg, d)
    select, keys = _head(d, bucket_us, origin_us, seg)
    head, group, first = version_head(select, len(keys), versions)
    s = "score" if shift is None else f"(score - CAST({float(shift)!r} AS DOUBLE))"
    sql = (f"SELECT {', '.join(head)}, count(*) AS total, count(score) AS n, "
           f"sum({s}) AS sum_score, sum({s} * {s}) AS sum_squared_score, "
           "min(score) AS lo, max(score) AS hi, count(*) FILTER (WHERE prediction) AS flagged, "
           "count(prediction) AS flag_n, count(actual) AS labelled, "
           "count(*) FILTER (WHERE actual) AS confirmed "
           f"FROM {{src}} WHERE {where} {group}")
    return Statement(sql, [*first, *params], tuple(keys))


def score_histogram(model: str, ranges: Mapping[str, tuple[float, float]],
                    span: TimeRange | None, role: str | None, bins: int) -> Statement:
    """``version, bin, n``: scores on each version's ``bins`` equal bins."""
    return _histogram("score", "score", model, ranges, span, role, bins)


#: The per-row error of each task's stream: misclassified (0/1), or the residual.
_STREAM = {"multiclass": ("CASE WHEN label <> actual_label THEN 1.0 ELSE 0.0 END",
                          "label IS NOT NULL AND actual_label IS NOT NULL"),
           "regression": (f"CAST({_ERROR} AS DOUBLE)",
                          "value IS NOT NULL AND actual_value IS NOT NULL")}


def error_stream(model: str, version: str, span: TimeRange | None, role: str | None,
                 task: str, d: Dialect = DUCKDB) -> Statement:
    """``t_us, e, k``: labelled rows of one version as value counts of (time, error).

    ``e`` is 1.0 for a misclassified multiclass row (else 0.0), the residual ``value -
    actual_value`` of a regression row; ``k`` counts the rows sharing both (merges exactly).
    """
    expr, present = _STREAM[task]
    where, params = where_clause(model, [version], span, role=role)
    sql = (f"SELECT {d.epoch_us.format(c='ts')} AS t_us, {expr} AS e, count(*) AS k "
           f"FROM {{src}} WHERE {where} AND {present} GROUP BY 1, 2")
    return Statement(sql, params, ("t_us", "e"))


def class_probability_sums(model: str, version: str, span: TimeRange | None, role: str | None,
                           d: Dialect = DUCKDB) -> Statement:
    """``predicted, actual, p_sum, p_sq_sum``: ``Σp``, ``Σp²`` of each listed class's probability.

    Over every row of one version with probabilities, labelled or not (``actual`` names the
    class whose probability is summed): the expected confusion sums of CBPE.
    """
    where, params = where_clause(model, [version], span, role=role)
    explode = EXPLODE.get(d.name, EXPLODE["duckdb"]).format(c="probabilities")
    sql = ("SELECT predicted, pr.label AS actual, sum(pr.p) AS p_sum, sum(pr.p * pr.p) AS "
           f"p_sq_sum FROM (SELECT label AS predicted, {explode} AS pr FROM {{src}} WHERE "
           f"{where} AND label IS NOT NULL AND probabilities IS NOT NULL) t GROUP BY 1, 2")
    return Statement(sql, params, ("predicted", "actual"))
