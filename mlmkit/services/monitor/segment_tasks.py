"""Per-segment window metrics and trends of multiclass, regression and score-only models.

`segment_task_metrics` (``ws.monitor.segment_metrics``) and `segment_task_trend`
(``ws.monitor.get_performance_trend(segment=...)``) read the task's one grouped aggregate with
the segment keys as extra ``GROUP BY`` keys (``class_confusion``, ``regression_sums`` or
``score_totals`` with ``segment=``: one scan), then compute each group's row with the functions
of `mlmkit.services.monitor.task_rows`, so a segment's row equals the task's trend row of its
rows alone. Columns after the segment features:

- multiclass: ``accuracy`` (Wilson ``accuracy_low`` / ``accuracy_high``), ``f1_macro``,
  ``precision_macro``, ``recall_macro``, ``f1_weighted``, then ``precision_micro``,
  ``precision_weighted``, ``recall_micro``, ``recall_weighted``, ``f1_micro`` (averages over
  the classes present in the segment, actual or predicted, as scikit-learn's on the segment's
  rows);
- regression: ``mae`` (normal ``mae_low`` / ``mae_high``), ``rmse``, ``mape``, ``r2``, ``bias``;
- score-only: ``scored``, ``mean_score``, ``std_score``, ``flagged``, ``flag_count``,
  ``flag_rate`` (Wilson bounds).

With ``scores`` (multiclass ``segment_metrics`` only) each segment's row also has
``probability_count``, ``log_loss`` and ``roc_auc_ovr`` (macro) from two more grouped scans
(log-loss sums, ``bins``-bin one-vs-rest histograms), through the unsegmented window code on
the segment's part: equal to ``get_current_metrics`` on the segment's rows alone.

Residual (regression, with ``scores``) and score (score-only) quantiles per segment, as the
unsegmented call's ``residual_q<pct>`` / ``score_q<pct>`` (5, 25, 50, 75, 95 %), each with
its bracket ``<name>_low`` / ``<name>_high`` (the exact sample quantile lies in it): one more
scan for every segment, each segment's ``bins``-bin histogram on its own ``[lo, hi]`` (from
the grouped sums), so a segment's quantiles equal ``get_current_metrics`` on its rows alone
(`mlmkit.store.engines.segment_values`: one grouped count in the engine); the quantiles of all
segments come from one numpy pass (`mlmkit.analysis.metrics.summaries.histogram_quantiles_many`,
bit for bit `histogram_quantiles`). A regression window's whole days read their grouped sums
from the days stored by an earlier read (m012, `mlmkit.store.predictions.segment_days`), as
the unsegmented call reads ``regression_daily``. Measured with ``benchmarks/bench_segments.py``
(1e6 rows, 21 segments, 10 000 bins, 2 shared cores): the regression breakdown of a whole day
costs 1.6-1.7x the unsegmented call (2.3-2.6x before m012: the grouped sums scanned), of a
rolling 24 h 1.4-1.5x; score-only 1.6-1.8x.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import TypeAlias, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from mlmkit._bins import bin_edges
from mlmkit._validation import invalid
from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.analysis.metrics.summaries import (
    DEFAULT_QUANTILES,
    histogram_quantiles_many,
    refined_histograms,
)
from mlmkit.catalogue import Task
from mlmkit.services.monitor.segment_views import (
    SegmentView,
    segment_view,
    task_segment_frames,
)
from mlmkit.services.monitor.task_results import MulticlassWindowMetrics
from mlmkit.services.monitor.task_rows import (
    COLUMNS,
    COUNTS,
    multiclass_row,
    regression_row,
    score_row,
)
from mlmkit.services.monitor.tasks import task_window_metrics
from mlmkit.services.monitor.trend import grid
from mlmkit.store.engines import StatisticsEngine
from mlmkit.store.engines.segment_values import SegmentValueEngine
from mlmkit.store.engines.segments import (
    ResolvedSegment,
    SegmentStatisticsEngine,
    SegmentTaskEngine,
)
from mlmkit.values import TimeRange

__all__ = ["segment_task_metrics", "segment_task_trend", "task_segment_frame"]

_Row: TypeAlias = dict[str, object]
_NAN = math.nan


def _engine(engine: StatisticsEngine, task: Task) -> tuple[SegmentStatisticsEngine,
                                                           SegmentTaskEngine]:
    if not (isinstance(engine, SegmentStatisticsEngine) and isinstance(engine,
                                                                       SegmentTaskEngine)):
        raise invalid("engine", f"an engine with per-task segment aggregates for a {task} "
                      f"model (workspace, Parquet or Spark; {type(engine).__name__} does not "
                      "support segment= yet)", engine)
    return engine, engine


def task_segment_frame(engine: SegmentTaskEngine, task: Task, model: str,
                       seg: ResolvedSegment, versions: list[str] | None,
                       span: TimeRange | None, interval: timedelta | None, role: str
                       ) -> pl.DataFrame:
    """The task's grouped aggregate with the segment keys (one scan)."""
    read = {Task.MULTICLASS: engine.class_confusion, Task.REGRESSION: engine.regression_sums,
            Task.SCORE_ONLY: engine.score_totals}.get(task)
    if read is None:
        raise invalid("task", "multiclass, regression or score-only", task)
    return read(model, versions=versions, time_range=span, interval=interval, role=role,
                segment=seg)


def _rows(task: Task, frame: pl.DataFrame, keys: list[str], confidence: float
          ) -> dict[tuple[object, ...], _Row]:
    """Each group's row (``keys`` the group keys of ``frame``)."""
    out: dict[tuple[object, ...], _Row] = {}
    if frame.height == 0:
        return out
    with warnings.catch_warnings():  # a small segment's undefined metric speaks for itself
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if task is Task.MULTICLASS:
            for key, part in frame.group_by(keys):
                out[tuple(key)] = multiclass_row(part, confidence)
            return out
        one = regression_row if task is Task.REGRESSION else score_row
        for row in frame.iter_rows(named=True):  # one row per group: a group's first row
            key = tuple(row[k] for k in keys)
            if key not in out:
                out[key] = one(cast(Mapping[str, float], row), confidence)
    return out


def _schema(seg: ResolvedSegment, frame: pl.DataFrame) -> dict[str, pl.DataType]:
    return {k: frame.schema[k] if k in frame.columns else pl.String()
            for k in seg.key_names()}


def _metric_columns(task: Task) -> dict[str, pl.DataType]:
    return {c: pl.Int64() if c in COUNTS else pl.Float64() for c in COLUMNS[task]}


def segment_task_metrics(engine: StatisticsEngine, task: Task, model: str, version: str,
                         span: TimeRange, segment: object, *, min_labels: int,
                         confidence: float, role: str, scores: bool = False, bins: int = 1000
                         ) -> pl.DataFrame:
    """One row per segment of ``version``'s window (columns: the module's, see there).

    Also ``version, task, start, end, sample_count, labelled_count, label_coverage,
    min_labels, insufficient`` (score-only: below ``min_labels`` scored rows, as its window).
    """
    seg_eng, eng = _engine(engine, task)
    seg = seg_eng.resolve_segment(model, segment)
    keys = seg.key_names()
    probs = scores and task is Task.MULTICLASS
    frames = task_segment_frames(eng, task, model, seg, [version], span, role=role,
                                 probabilities=probs, bins=bins)
    frame = next(iter(frames.values()))
    rows = _rows(task, frame, ["version", *keys], confidence)
    if probs:
        for key, row in rows.items():
            row.update(_probability_columns(segment_view(frames, keys, key[1:]), model,
                                            version, span, bins, role))
    quantiles = _quantiled(task, scores)
    if quantiles:
        for key, extra in _quantile_columns(engine, task, model, seg, frame, span, bins,
                                            role).items():
            rows[key].update(extra)
    records = []
    for key, row in rows.items():
        n, labelled = int(cast(int, row.pop("n"))), int(cast(int, row.pop("labelled")))
        backing = int(cast(int, row.get("scored", 0))) if task is Task.SCORE_ONLY else labelled
        records.append({**dict(zip(keys, key[1:], strict=True)), "version": version,
                        "task": str(task), "start": span.start, "end": span.end,
                        "sample_count": n, "labelled_count": labelled,
                        "label_coverage": labelled / n if n else _NAN, "min_labels": min_labels,
                        "insufficient": backing < min_labels,
                        **{c: row.get(c, 0 if c in COUNTS else _NAN) for c in COLUMNS[task]}})
        if probs:
            records[-1].update({c: row[c] for c in _PROBABILITY})
        records[-1].update({c: row.get(c, _NAN) for c in quantiles})
    schema = {**_schema(seg, frame), "version": pl.String(), "task": pl.String(),
              "start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC"),
              "sample_count": pl.Int64(), "labelled_count": pl.Int64(),
              "label_coverage": pl.Float64(), "min_labels": pl.Int64(),
              "insufficient": pl.Boolean(), **_metric_columns(task),
              **(_PROBABILITY if probs else {}), **dict.fromkeys(quantiles, pl.Float64())}
    out = pl.DataFrame(records, schema=schema)
    return seg.named(out.sort(keys, nulls_last=True))


def _quantiled(task: Task, scores: bool) -> list[str]:
    """The quantile columns of a segment row: as the unsegmented call reads them.

    Regression with ``scores``: ``residual_q5, residual_q5_low, residual_q5_high, ...``;
    score-only always: ``score_q5, ...``; none otherwise.
    """
    prefix = {Task.REGRESSION: "residual" if scores else None,
              Task.SCORE_ONLY: "score"}.get(task)
    if prefix is None:
        return []
    names = [f"{prefix}_q{100 * q:g}" for q in DEFAULT_QUANTILES]
    return [c for n in names for c in (n, f"{n}_low", f"{n}_high")]


def _quantile_columns(engine: StatisticsEngine, task: Task, model: str, seg: ResolvedSegment,
                      frame: pl.DataFrame, span: TimeRange, bins: int, role: str
                      ) -> dict[tuple[object, ...], _Row]:
    """Each (version, segment)'s quantile columns from one grouped histogram scan.

    ``frame``: the grouped ``regression_sums`` / ``score_totals`` (``n``, ``lo``, ``hi`` per
    group): a group with ``n`` rows gets the unsegmented call's histogram on its own range.
    """
    if not isinstance(engine, SegmentValueEngine):
        raise invalid("engine", "an engine with per-segment residual and score histograms "
                      f"(workspace, Parquet or Spark; {type(engine).__name__} has none)", engine)
    keys = ["version", *seg.key_names()]
    live = frame.filter(pl.col("n") > 0)
    ranges = {tuple(r[:-2]): (float(r[-2]), float(r[-1]))
              for r in live.select(*keys, "lo", "hi").iter_rows()}
    if not ranges:
        return {}
    score = task is Task.SCORE_ONLY

    def counted(spans: Mapping[tuple[object, ...], tuple[float, float]]
                ) -> dict[tuple[object, ...], npt.NDArray[np.int64]]:
        return engine.segment_value_histograms(model, seg, spans,
                                               values="score" if score else "residual",
                                               time_range=span, bins=bins, role=role)

    # the unsegmented call's histograms (its refinements too: one statement per level for
    # every segment refined at it), then every segment of one size in one numpy pass
    hists = refined_histograms(counted, {k: bin_edges(lo, hi, bins)
                                         for k, (lo, hi) in ranges.items()},
                               counted(ranges), DEFAULT_QUANTILES)
    prefix = "score" if score else "residual"
    names = [f"{prefix}_q{100 * q:g}" for q in DEFAULT_QUANTILES]
    columns = [c for n in names for c in (n, f"{n}_low", f"{n}_high")]
    sizes: dict[int, list[tuple[object, ...]]] = {}
    for key in ranges:
        sizes.setdefault(hists[key][1].size, []).append(key)
    out: dict[tuple[object, ...], _Row] = {}
    for keys_ in sizes.values():
        value, low, high = histogram_quantiles_many(
            np.vstack([hists[k][0] for k in keys_]), np.vstack([hists[k][1] for k in keys_]),
            DEFAULT_QUANTILES)
        table = np.stack([value, low, high], axis=2).reshape(len(keys_), -1).tolist()
        out.update({key: dict(zip(columns, row, strict=True))
                    for key, row in zip(keys_, table, strict=True)})
    return out


_PROBABILITY: dict[str, pl.DataType] = {"probability_count": pl.Int64(),
                                        "log_loss": pl.Float64(), "roc_auc_ovr": pl.Float64()}


def _probability_columns(view: SegmentView, model: str, version: str, span: TimeRange,
                         bins: int, role: str) -> _Row:
    """A segment's log loss and macro one-vs-rest AUC, by the unsegmented window code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        res = task_window_metrics(cast(StatisticsEngine, view), Task.MULTICLASS, model,
                                  version, span, min_labels=0, confidence=0.95, bins=bins,
                                  scores=True, role=role)
    out = cast(MulticlassWindowMetrics, res).to_dict()
    return {"probability_count": int(cast(int, out["probability_count"])),
            "log_loss": _NAN if out["log_loss"] is None else out["log_loss"],
            "roc_auc_ovr": _NAN if out["roc_auc_ovr"] is None else out["roc_auc_ovr"]}


def segment_task_trend(engine: StatisticsEngine, task: Task, model: str,
                       versions: list[str] | None, span: TimeRange, step: timedelta,
                       segment: object, *, confidence: float, role: str) -> pl.DataFrame:
    """One row per (version, segment, bucket): `task_trend`'s columns per segment.

    Every (version, segment) seen in the window gets every bucket (empty ones ``n = 0``, NaN
    metrics), like the binary segmented trend.
    """
    seg_eng, eng = _engine(engine, task)
    seg = seg_eng.resolve_segment(model, segment)
    keys = seg.key_names()
    frame = task_segment_frame(eng, task, model, seg, versions, span, step, role)
    rows = _rows(task, frame, ["version", *keys, "bucket"], confidence)
    pairs = sorted({k[:-1] for k in rows}, key=lambda k: tuple((v is None, str(v)) for v in k))
    buckets = grid(["-"], span, step)["bucket"].to_list()
    records = []
    for pair in pairs:
        for bucket in buckets:
            row = rows.get((*pair, bucket), {})
            n, labelled = int(cast(int, row.get("n", 0))), int(cast(int, row.get("labelled", 0)))
            records.append({"version": pair[0], **dict(zip(keys, pair[1:], strict=True)),
                            "bucket": bucket, "bucket_end": bucket + step, "n": n,
                            "labelled": labelled, "label_coverage": labelled / n if n else _NAN,
                            **{c: row.get(c, 0 if c in COUNTS else _NAN)
                               for c in COLUMNS[task]}})
    schema = {"version": pl.String(), **_schema(seg, frame),
              "bucket": pl.Datetime("us", "UTC"), "bucket_end": pl.Datetime("us", "UTC"),
              "n": pl.Int64(), "labelled": pl.Int64(), "label_coverage": pl.Float64(),
              **_metric_columns(task)}
    out = pl.DataFrame(records, schema=schema)
    return seg.named(out.sort(["version", *keys, "bucket"], nulls_last=True))
