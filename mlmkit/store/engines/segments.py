"""Segments: the aggregates of the engines grouped by feature columns, in one scan each.

A *segment* argument names what to group by (`parse_segment`):

- a feature name (``"country"``): one group per value of that feature;
- a list or tuple of feature names (``("country", "device")``): one group per combination;
- a filter mapping (``{"country": ["DE", "FR"], "tier": "gold"}``): the rows whose features
  take one of the listed values, grouped by those features (``None`` among the values keeps
  the rows where the feature is missing).

Feature names resolve to their storage columns through the engine's feature map (the
workspace's ``feature_columns`` table, or the dataset manifest); an unknown name is a
`ValidationError` naming ``segment``. Filter values are always ``?`` parameters built with
`mlmkit.store._sql.Where`: no text of the caller reaches the SQL. A missing (NULL) feature
value forms a segment of its own, with the key NULL.

The statements are portable partials (`mlmkit.store.engines.portable`): the segment keys
``segment_0, segment_1, ...`` are extra ``GROUP BY`` keys, so partials of disjoint rows still
merge exactly. `SegmentAggregates` is the mixin that gives an engine with ``_merged``,
``_rows`` and ``_feature_map`` every method of `SegmentStatisticsEngine`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import polars as pl

from mlmkit._validation import invalid
from mlmkit.store._sql import Where
from mlmkit.store.engines import _finish as fin
from mlmkit.store.engines import portable_segments as ssql
from mlmkit.store.engines.portable import DUCKDB, Dialect, Statement
from mlmkit.store.engines.segment_drift import SegmentDriftAggregates
from mlmkit.store.engines.segment_limit import check_segments
from mlmkit.store.engines.segment_values import SegmentValueAggregates
from mlmkit.store.predictions.drift import Side
from mlmkit.values import TimeRange

__all__ = ["ResolvedSegment", "Segment", "SegmentAggregates", "SegmentLike",
           "SegmentStatisticsEngine", "SegmentTaskEngine", "parse_segment"]

#: What ``segment=`` accepts (see the module).
SegmentLike = str | Sequence[str] | Mapping[str, object]
_EXPECT = ("a feature name, a list of feature names, or a {feature: value or list of values} "
           "filter")
_SCALARS = (str, int, float)


@dataclass(frozen=True)
class Segment:
    """A canonical segment argument: the features grouped by, and the filter per feature."""

    features: tuple[str, ...]
    filters: tuple[tuple[str, tuple[Any, ...]], ...] = ()


@dataclass(frozen=True)
class ResolvedSegment:
    """A segment on storage columns: feature names, their columns and kinds, the filter."""

    features: tuple[str, ...]
    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    filters: tuple[tuple[str, str, tuple[Any, ...]], ...]  # (column, kind, values)

    def where(self, d: Dialect = DUCKDB) -> Where:
        """The filter as ``?``-parameter conditions (``TRUE`` without a filter)."""
        w = Where()
        for column, _, values in self.filters:
            present = [v for v in values if v is not None]
            ident = d.ident(column)
            parts = []
            if present:
                parts.append(f"{ident} IN ({', '.join('?' for _ in present)})")
            if len(present) < len(values):
                parts.append(f"{ident} IS NULL")
            w.add("(" + " OR ".join(parts) + ")", *present)
        return w

    def key_names(self) -> list[str]:
        """The key names of the statements: ``segment_0, segment_1, ...``."""
        return [f"segment_{i}" for i in range(len(self.columns))]

    def limited(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` (keyed ``segment_i``) if it holds at most the allowed segments."""
        return check_segments(frame, self.key_names(), self.features)

    def select(self, d: Dialect = DUCKDB) -> list[str]:
        """``<column> AS segment_i`` per feature."""
        return [f"{d.ident(c)} AS {k}" for c, k in zip(self.columns, self.key_names(), strict=True)]

    def named(self, frame: pl.DataFrame, taken: Collection[str] = ()) -> pl.DataFrame:
        """Rename the keys ``segment_i`` to the feature names (``segment_<name>`` on a clash).

        A feature whose name is another column of ``frame`` (or in ``taken``) keeps a prefix.
        """
        keys = self.key_names()
        used = {*taken, *(c for c in frame.columns if c not in keys)}
        return frame.rename({k: f"segment_{f}" if f in used else f for k, f in
                             zip(keys, self.features, strict=True) if k in frame.columns})


def _value(value: Any) -> Any:
    if value is None or (isinstance(value, _SCALARS) and not isinstance(value, bool)):
        if isinstance(value, float) and not math.isfinite(value):
            raise invalid("segment", "finite filter values", value)
        return value
    raise invalid("segment", "filter values that are text, numbers or None", value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise invalid("segment", _EXPECT, value)
    return value


def parse_segment(value: Any) -> Segment:
    """The canonical `Segment` of a ``segment=`` argument, or a ValidationError naming it.

    Examples
    --------
    >>> parse_segment("country")
    Segment(features=('country',), filters=())
    >>> parse_segment({"country": ["DE", "FR"]}).filters
    (('country', ('DE', 'FR')),)
    """
    if isinstance(value, Segment):
        return value
    if isinstance(value, str):
        return Segment((_name(value),))
    if isinstance(value, Mapping):
        if not value:
            raise invalid("segment", _EXPECT, value)
        filters = []
        for key, values in value.items():
            many = list(values) if isinstance(values, list | tuple | set | frozenset) \
                else [values]
            if not many:
                raise invalid("segment", f"at least one value for {key!r}", values)
            filters.append((_name(key), tuple(dict.fromkeys(_value(v) for v in many))))
        return Segment(tuple(k for k, _ in filters), tuple(filters))
    if isinstance(value, list | tuple) and value:
        names = tuple(_name(v) for v in value)
        if len(set(names)) != len(names):
            raise invalid("segment", "distinct feature names", value)
        return Segment(names)
    raise invalid("segment", _EXPECT, value)


def resolve(segment: Segment, features: Mapping[str, tuple[str, str]], model: str
            ) -> ResolvedSegment:
    """Storage columns of ``segment``'s features (``features``: ``{feature: (column, kind)}``)."""
    for name in segment.features:
        if name not in features:
            known = ", ".join(sorted(features)) or "none logged"
            raise invalid("segment", f"a feature of {model!r} ({known})", name)
    filters = []
    for name, values in segment.filters:
        column, kind = features[name]
        for v in values:
            if v is not None and (kind == "numeric") != (not isinstance(v, str)):
                raise invalid("segment", f"{kind} values for {name!r}", v)
        filters.append((column, kind, values))
    return ResolvedSegment(segment.features, tuple(features[f][0] for f in segment.features),
                           tuple(features[f][1] for f in segment.features), tuple(filters))


# ---------------------------------------------------------------------- engines
@runtime_checkable
class SegmentStatisticsEngine(Protocol):
    """Aggregates grouped by a segment: key columns ``segment_0..`` (`ResolvedSegment.named`)."""

    name: str

    def resolve_segment(self, model_name: str, segment: object) -> ResolvedSegment:
        """The storage columns of a ``segment=`` argument for ``model_name``."""
        ...

    def segment_confusion(self, model_name: str, segment: ResolvedSegment, *,
                          versions: Sequence[str] | None = None,
                          time_range: TimeRange | None = None,
                          interval: timedelta | None = None,
                          role: str | None = "served") -> pl.DataFrame:
        """``version, <features>[, bucket]`` and the `confusion_counts` columns."""
        ...

    def segment_totals(self, model_name: str, segment: ResolvedSegment, *,
                       versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None, role: str | None = "served",
                       scores: bool = True) -> pl.DataFrame:
        """``version, <features>`` and the window totals (``mean_score``, no latency).

        ``scores=False``: the confusion cells only (``scored`` 0), from a cheaper count.
        """
        ...

    def segment_histogram(self, model_name: str, segment: ResolvedSegment, *,
                          versions: Sequence[str] | None = None,
                          time_range: TimeRange | None = None, bins: int = 10_000,
                          role: str | None = "served") -> pl.DataFrame:
        """``version, <features>, bin, pos, neg``."""
        ...

    def segment_scores(self, model_name: str, segment: ResolvedSegment, *,
                       versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None,
                       role: str | None = "served") -> pl.DataFrame:
        """``<features>, score, actual`` of the labelled, scored rows."""
        ...

    def segment_drift_counts(self, model_name: str, segment: ResolvedSegment,
                             ranges: Mapping[str, tuple[float, float]],
                             categorical: Sequence[str], ref: Side, cur: Side, *,
                             bins: int = 2000, role: str | None = "served"
                             ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(numeric, categorical)`` long counts per segment and side (storage columns)."""
        ...

    def segment_error_stream(self, model_name: str, segment: ResolvedSegment, version: str, *,
                             task: str, time_range: TimeRange | None = None,
                             role: str | None = "served") -> pl.DataFrame:
        """``segment_i.., t_us, e, k`` sorted by segment, time and error (`error_stream`)."""
        ...


@runtime_checkable
class SegmentTaskEngine(Protocol):
    """The per-task aggregates grouped by a segment (``TaskAggregates`` with ``segment=``).

    Each returns the frame of its unsegmented form with the keys ``segment_0..`` after
    ``version``, over the rows the segment's filter selects.
    """

    def class_confusion(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, interval: timedelta | None = None,
                        role: str | None = "served", segment: ResolvedSegment | None = None
                        ) -> pl.DataFrame:
        """``version, segment_i..[, bucket], actual, predicted, count`` (multiclass)."""
        ...

    def regression_sums(self, model_name: str, *, versions: Sequence[str] | None = None,
                        time_range: TimeRange | None = None, interval: timedelta | None = None,
                        role: str | None = "served", segment: ResolvedSegment | None = None
                        ) -> pl.DataFrame:
        """``version, segment_i..[, bucket], total`` and the ``RegressionSums`` fields."""
        ...

    def score_totals(self, model_name: str, *, versions: Sequence[str] | None = None,
                     time_range: TimeRange | None = None, interval: timedelta | None = None,
                     role: str | None = "served", segment: ResolvedSegment | None = None
                     ) -> pl.DataFrame:
        """``version, segment_i..[, bucket]`` and the score-only volumes and sums."""
        ...

    def class_log_loss(self, model_name: str, *, versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None, interval: timedelta | None = None,
                       role: str | None = "served", segment: ResolvedSegment | None = None
                       ) -> pl.DataFrame:
        """``version, segment_i..[, bucket], n, sum_neg_log_p`` (multiclass probabilities)."""
        ...

    def class_score_histogram(self, model_name: str, *, versions: Sequence[str] | None = None,
                              time_range: TimeRange | None = None, bins: int = 1000,
                              role: str | None = "served",
                              segment: ResolvedSegment | None = None) -> pl.DataFrame:
        """``version, segment_i.., class, bin, positives, negatives`` (one-vs-rest)."""
        ...

    def regression_pairs(self, model_name: str, *, versions: Sequence[str] | None = None,
                         time_range: TimeRange | None = None, role: str | None = "served",
                         segment: ResolvedSegment | None = None) -> pl.DataFrame:
        """``version, segment_i.., actual, predicted, count`` (the row bootstrap's input)."""
        ...


def _cells(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``(version, keys.., actual, prediction, k)`` counts -> the confusion cells per group."""
    a, p, k = pl.col("actual"), pl.col("prediction"), pl.col("k")
    return frame.group_by(keys).agg(
        k.sum().alias("n"), k.filter(a.is_not_null()).sum().alias("labelled"),
        *[k.filter(cond).sum().alias(name) for name, cond in (
            ("tp", a & p), ("fp", ~a & p), ("tn", ~a & ~p), ("fn", a & ~p))],
        pl.lit(0, pl.Int64).alias("scored"), k.filter(p).sum().alias("predicted_positive"),
    ).sort(keys, nulls_last=True)


class SegmentAggregates(SegmentDriftAggregates, SegmentValueAggregates):
    """`SegmentStatisticsEngine` over an engine's ``_merged``, ``_rows`` and ``_feature_map``.

    The data-drift reads per segment come from `SegmentDriftAggregates`, the residual and
    score histograms from `SegmentValueAggregates`.
    """

    dialect: Dialect = DUCKDB

    def _merged(self, st: Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        raise NotImplementedError  # provided by the engine

    def _rows(self, st: Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        return self._merged(st, model, span)  # one part: the rows as they are

    def _feature_map(self, model: str) -> dict[str, tuple[str, str]]:
        raise NotImplementedError  # provided by the engine

    def resolve_segment(self, model_name: str, segment: object) -> ResolvedSegment:
        """The storage columns of a ``segment=`` argument (see `parse_segment`)."""
        if isinstance(segment, ResolvedSegment):
            return segment
        return resolve(parse_segment(segment), self._feature_map(model_name), model_name)

    def segment_confusion(self, model_name: str, segment: ResolvedSegment, *,
                          versions: Sequence[str] | None = None,
                          time_range: TimeRange | None = None,
                          interval: timedelta | None = None,
                          role: str | None = "served") -> pl.DataFrame:
        """See `SegmentStatisticsEngine.segment_confusion`."""
        origin = time_range.start if time_range is not None else datetime(1970, 1, 1,
                                                                          tzinfo=UTC)
        step = None if interval is None else int(interval / timedelta(microseconds=1))
        st = ssql.confusion(model_name, versions, time_range, role, segment, bucket_us=step,
                       origin_us=fin.epoch_us(origin), d=self.dialect)
        frame = segment.limited(self._merged(st, model_name, time_range))
        if interval is not None:
            start = pl.lit(origin).dt.cast_time_unit("us").dt.convert_time_zone("UTC")
            frame = frame.with_columns((start + pl.duration(
                microseconds=pl.col("bucket_index") * step)).alias("bucket")
            ).drop("bucket_index")
        return frame

    def segment_totals(self, model_name: str, segment: ResolvedSegment, *,
                       versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None, role: str | None = "served",
                       scores: bool = True) -> pl.DataFrame:
        """See `SegmentStatisticsEngine.segment_totals`."""
        if not scores:
            return _cells(segment.limited(self._merged(ssql.cells(
                model_name, versions, time_range, role, segment, self.dialect), model_name,
                time_range)), ["version", *segment.key_names()])
        st = ssql.totals(model_name, versions, time_range, role, segment, self.dialect)
        frame = segment.limited(self._merged(st, model_name, time_range)).with_columns(
            *[pl.col(c).fill_null(0.0) for c in fin._COALESCED],
            (pl.col("score_sum_all") / pl.col("scored_all")).alias("mean_score"))
        return frame

    def segment_histogram(self, model_name: str, segment: ResolvedSegment, *,
                          versions: Sequence[str] | None = None,
                          time_range: TimeRange | None = None, bins: int = 10_000,
                          role: str | None = "served") -> pl.DataFrame:
        """See `SegmentStatisticsEngine.segment_histogram`."""
        st = ssql.histogram(model_name, versions, time_range, role, segment, bins, self.dialect)
        return self._merged(st, model_name, time_range)

    def segment_scores(self, model_name: str, segment: ResolvedSegment, *,
                       versions: Sequence[str] | None = None,
                       time_range: TimeRange | None = None,
                       role: str | None = "served") -> pl.DataFrame:
        """See `SegmentStatisticsEngine.segment_scores`."""
        st = ssql.scores(model_name, versions, time_range, role, segment, self.dialect)
        return self._rows(st, model_name, time_range)

    def segment_drift_counts(self, model_name: str, segment: ResolvedSegment,
                             ranges: Mapping[str, tuple[float, float]],
                             categorical: Sequence[str], ref: Side, cur: Side, *,
                             bins: int = 2000, role: str | None = "served"
                             ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """See `SegmentStatisticsEngine.segment_drift_counts`."""
        span = TimeRange(min(ref.time_range.start, cur.time_range.start),
                         max(ref.time_range.end, cur.time_range.end))
        num, cat = pl.DataFrame(), pl.DataFrame()
        if ranges:
            st = ssql.feature_histograms(model_name, ranges, ref, cur, bins, role, segment,
                                    self.dialect)
            num = segment.limited(self._merged(st, model_name, span))
        if categorical:
            st = ssql.category_counts(model_name, categorical, ref, cur, role, segment,
                                 self.dialect)
            cat = segment.limited(self._merged(st, model_name, span))
        return num, cat

    def segment_error_stream(self, model_name: str, segment: ResolvedSegment, version: str, *,
                             task: str, time_range: TimeRange | None = None,
                             role: str | None = "served") -> pl.DataFrame:
        """See `SegmentStatisticsEngine.segment_error_stream`."""
        st = ssql.error_stream(model_name, version, time_range, role, segment, task,
                               self.dialect)
        keys = [*segment.key_names(), "t_us", "e"]
        return segment.limited(self._merged(st, model_name, time_range)).sort(keys,
                                                                              nulls_last=True)
