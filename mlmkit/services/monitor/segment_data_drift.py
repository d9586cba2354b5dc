"""``ws.monitor.data_drift(..., segment=...)``: each segment's rows equal unsegmented data drift.

Every segment gets the frame `mlmkit.services.monitor.data_drift.data_drift` returns for that
segment's rows alone (same methods, statistics, sources, missing-share tests), from the same
reads grouped by the segment keys, so their number does not grow with the segments:

1. ``segment_side_stats`` (one statement of numeric statistics and one of category counts):
   each segment's ``side_stats``, hence its own histogram ranges and small-sample decisions;
2. ``segment_numeric_histograms`` (one statement): each (segment, column) on its own
   2,000 bins, the arithmetic of the unsegmented histogram;
3. ``segment_side_rows`` on each side (two statements, only when some segment needs exact
   tests: small samples, low-cardinality columns, or ``method`` other than ``"auto"``): the
   values of the union of those features, split per segment.

The segment features themselves are not tested (constant within a segment): a segment's rows
equal ``data_drift(..., features=<the other features>)`` on its rows. ``drift`` is the
unsegmented rule per segment; ``p_family`` / ``significant_family`` add Holm's correction
over every p-value of the frame (segments x features, where the method gives one), as
``compare_versions(segment=)`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, cast

import polars as pl

from mlmkit._validation import invalid
from mlmkit.analysis.stats import multiple_testing
from mlmkit.services.monitor.data_drift import (
    _BINS,
    PREDICTION_COLUMNS,
    Missing,
    drift_frame,
    exact_rows,
    split_columns,
    sql_plan,
    sql_value_rows,
)
from mlmkit.services.monitor.segments import drift_inputs
from mlmkit.store.engines import Side, StatisticsEngine
from mlmkit.store.engines.segment_drift import SegmentDriftEngine
from mlmkit.store.engines.segments import ResolvedSegment
from mlmkit.values import VersionLike

if TYPE_CHECKING:
    from mlmkit.store.predictions.writes import PredictionStore

__all__ = ["segment_data_drift"]

_Key = tuple[object, ...]


class _Rows:
    """One segment's values on both sides, answering ``side_rows`` as the engine would."""

    def __init__(self, ref: Side, parts: tuple[pl.DataFrame, pl.DataFrame]) -> None:
        self.ref, self.parts = ref, parts

    def side_rows(self, model_name: str, columns: Sequence[str], side: Side, *,
                  role: str | None = "served", finite: Sequence[str] = ()) -> pl.DataFrame:
        """The segment's values of ``columns`` on ``side``."""
        return self.parts[0 if side == self.ref else 1].select(columns)


def _holm(p_values: list[float], alpha: float) -> tuple[list[float | None], list[bool]]:
    adjusted: list[float | None] = [None] * len(p_values)
    reject = [False] * len(p_values)
    tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    if tested:
        adj = multiple_testing([p_values[i] for i in tested], method="holm", alpha=alpha)
        for i, (p, r) in zip(tested, adj.select("p_adjusted", "reject").iter_rows(),
                             strict=True):
            adjusted[i], reject[i] = float(p), bool(r)
    return adjusted, reject


def segment_data_drift(store: PredictionStore, engine: StatisticsEngine, model_name: str,
                       version: VersionLike | None, segment: object, *, reference: object,
                       current: object, features: Iterable[str] | None, prediction: bool,
                       method: str, task: str, alpha: float = 0.05) -> pl.DataFrame:
    """Each segment's `data_drift` frame, stacked (see the module).

    Columns: the segment features, the `data_drift` columns, ``p_family`` and
    ``significant_family``.
    """
    if not isinstance(engine, SegmentDriftEngine):
        raise invalid("engine", "an engine with per-segment drift aggregates (workspace, "
                      "Parquet or Spark)", engine)
    seg, ref, cur, cols = drift_inputs(store, engine, model_name, segment, version, reference,
                                       current, features, prediction, task)
    numeric, categorical = split_columns(cols)
    per = engine.segment_side_stats(model_name, seg, [*numeric.values()],
                                    [*categorical.values()], ref, cur)
    auto = method == "auto"
    plans = {key: sql_plan(cols, stats) for key, (stats, _) in per.items()} if auto else {}
    hist = engine.segment_numeric_histograms(model_name, seg, {k: p[2] for k, p in
                                                                plans.items()},
                                             ref, cur, bins=_BINS) if auto else {}
    rows, exact = {}, {}
    for key, (stats, cats) in per.items():
        if auto:
            missing, need, ranges = plans[key]
            rows[key] = sql_value_rows(cols, stats, cats, ranges, hist.get(key, {}), need)
            exact[key] = need
        else:
            rows[key], exact[key] = [], list(cols)
    frames = []
    parts = _exact_parts(engine, model_name, seg, cols, exact, ref, cur)
    for key in per:
        view = cast(StatisticsEngine, _Rows(ref, parts[key])) if exact[key] else engine
        found, counts = exact_rows(view, model_name, cols, exact[key], ref, cur, None, method)
        missing = plans[key][0] if auto else cast(Missing, counts)
        one = drift_frame(rows[key] + found, missing, cols,
                          prediction and task in PREDICTION_COLUMNS)
        frames.append(one.select(*[pl.lit(v).alias(k) for k, v in
                                   zip(seg.key_names(), key, strict=True)], pl.all()))
    return _stacked(seg, frames, alpha)


def _exact_parts(engine: SegmentDriftEngine, model: str, seg: ResolvedSegment,
                 cols: dict[str, tuple[str, str]], exact: dict[_Key, list[str]], ref: Side,
                 cur: Side) -> dict[_Key, tuple[pl.DataFrame, pl.DataFrame]]:
    """Each segment's values of the features some segment tests exactly (two reads).

    Only the segments with such a feature are read (all of them: no key filter).
    """
    need = [f for f in cols if any(f in e for e in exact.values())]
    keys = seg.key_names()
    if not need:
        return {}
    wanted = [key for key, e in exact.items() if e]
    columns = [cols[f][0] for f in need]
    finite = [cols[f][0] for f in need if cols[f][1] != "categorical"]
    sides = [engine.segment_side_rows(model, seg, columns, side, finite=finite,
                                      only=None if len(wanted) == len(exact) else wanted)
             for side in (ref, cur)]
    # one pass per side (a filter per segment read each side once per segment: O(S x rows))
    parts = [{tuple(k): part.drop(keys) for k, part in
              s.partition_by(keys, as_dict=True, maintain_order=True).items()} for s in sides]
    empty = [s.clear().drop(keys) for s in sides]
    return {key: (parts[0].get(key, empty[0]), parts[1].get(key, empty[1])) for key in wanted}


def _stacked(seg: ResolvedSegment, frames: list[pl.DataFrame], alpha: float) -> pl.DataFrame:
    keys = seg.key_names()
    if not frames:
        out = drift_frame([], {}, {}, False)
        out = out.select(*[pl.lit(None, pl.String).alias(k) for k in keys], pl.all())
    else:
        out = pl.concat(frames, how="vertical_relaxed")
    p = [math.nan if v is None else float(v) for v in out["p_value"].to_list()]
    adjusted, reject = _holm(p, alpha)
    out = out.with_columns(pl.Series("p_family", adjusted, pl.Float64),
                           pl.Series("significant_family", reject, pl.Boolean))
    return seg.named(out.sort(keys, nulls_last=True, maintain_order=True))
