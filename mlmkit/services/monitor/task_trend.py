"""Performance trend of multiclass, regression and score-only models, one row per bucket.

``ws.monitor.get_performance_trend`` runs `task_trend` for a model whose task is not binary:
one grouped scan of the engine's per-interval aggregate (``class_confusion``,
``regression_sums`` or ``score_totals`` with ``interval=``), then the analysis functions per
bucket. Every (version, bucket) of the window is present, empty buckets with ``n = 0`` and NaN
metrics. Columns after ``version, bucket, bucket_end, n, labelled, label_coverage``:

- multiclass: ``accuracy`` (Wilson ``accuracy_low`` / ``accuracy_high``), ``f1_macro``,
  ``precision_macro``, ``recall_macro``, ``f1_weighted``, then the other averages of the
  window (``precision_micro``, ``precision_weighted``, ``recall_micro``, ``recall_weighted``,
  ``f1_micro``). Each bucket's averages run over the classes present in that bucket (actual
  or predicted), as scikit-learn's ``f1_score(..., average="macro")`` on the bucket's rows
  does;
- regression: ``mae`` (normal ``mae_low`` / ``mae_high``), ``rmse``, ``mape``, ``r2``, ``bias``;
- score-only: ``scored``, ``mean_score``, ``std_score``, ``flagged``, ``flag_count``,
  ``flag_rate`` (Wilson ``flag_rate_low`` / ``flag_rate_high``); ``labelled`` counts rows with a
  confirmed / refuted label.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TypeAlias

import polars as pl

from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.catalogue import Task
from mlmkit.services.monitor.task_rows import (
    COLUMNS,
    COUNTS,
    multiclass_row,
    regression_row,
    score_row,
)
from mlmkit.services.monitor.tasks import task_engine
from mlmkit.services.monitor.trend import grid
from mlmkit.store.engines import StatisticsEngine, TaskStatisticsEngine
from mlmkit.values import TimeRange

__all__ = ["task_trend"]

_Row: TypeAlias = dict[str, object]
_Key: TypeAlias = tuple[str, datetime]
_NAN = math.nan


def _groups(frame: pl.DataFrame) -> Iterator[tuple[_Key, pl.DataFrame]]:
    if frame.height == 0:
        return
    for key, part in frame.group_by("version", "bucket"):
        yield (str(key[0]), key[1]), part


def _multiclass(eng: TaskStatisticsEngine, model: str, versions: list[str] | None,
                span: TimeRange, step: timedelta, confidence: float, role: str
                ) -> dict[_Key, _Row]:
    conf = eng.class_confusion(model, versions=versions, time_range=span, interval=step,
                               role=role)
    return {key: multiclass_row(part, confidence) for key, part in _groups(conf)}


def _regression(eng: TaskStatisticsEngine, model: str, versions: list[str] | None,
                span: TimeRange, step: timedelta, confidence: float, role: str
                ) -> dict[_Key, _Row]:
    sums = eng.regression_sums(model, versions=versions, time_range=span, interval=step,
                               role=role)
    return {key: regression_row(part.row(0, named=True), confidence)
            for key, part in _groups(sums)}


def _score(eng: TaskStatisticsEngine, model: str, versions: list[str] | None,
           span: TimeRange, step: timedelta, confidence: float, role: str
           ) -> dict[_Key, _Row]:
    totals = eng.score_totals(model, versions=versions, time_range=span, interval=step,
                              role=role)
    return {key: score_row(part.row(0, named=True), confidence)
            for key, part in _groups(totals)}


_Builder: TypeAlias = Callable[[TaskStatisticsEngine, str, "list[str] | None", TimeRange,
                                timedelta, float, str], "dict[_Key, _Row]"]
_BUILDERS: dict[Task, tuple[_Builder, tuple[str, ...]]] = {
    Task.MULTICLASS: (_multiclass, COLUMNS[Task.MULTICLASS]),
    Task.REGRESSION: (_regression, COLUMNS[Task.REGRESSION]),
    Task.SCORE_ONLY: (_score, COLUMNS[Task.SCORE_ONLY]),
}
_COUNTS = COUNTS


def task_trend(engine: StatisticsEngine, task: Task, model_name: str,
               versions: list[str] | None, span: TimeRange, step: timedelta, *,
               confidence: float, role: str, segment: object = None) -> pl.DataFrame:
    """One row per (version, bucket) of a non-binary model (module docstring).

    ``segment``: one row per (version, segment, bucket) instead
    (`mlmkit.services.monitor.segment_tasks.segment_task_trend`).
    """
    if segment is not None:
        from mlmkit.services.monitor.segment_tasks import segment_task_trend

        return segment_task_trend(engine, task, model_name, versions, span, step, segment,
                                  confidence=confidence, role=role)
    build, columns = _BUILDERS[task]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        rows = build(task_engine(engine), model_name, versions, span, step, confidence, role)
    seen = versions or sorted({v for v, _ in rows})
    cells = grid(list(seen), span, step)
    records = []
    for version, bucket in cells.iter_rows():
        row = rows.get((version, bucket), {})
        n, labelled = int(row.get("n", 0)), int(row.get("labelled", 0))  # type: ignore[call-overload]
        rec: _Row = {"version": version, "bucket": bucket, "bucket_end": bucket + step,
                     "n": n, "labelled": labelled,
                     "label_coverage": labelled / n if n else _NAN}
        rec.update({c: row.get(c, 0 if c in _COUNTS else _NAN) for c in columns})
        records.append(rec)
    schema = {"version": pl.String, "bucket": pl.Datetime("us", "UTC"),
              "bucket_end": pl.Datetime("us", "UTC"), "n": pl.Int64, "labelled": pl.Int64,
              "label_coverage": pl.Float64,
              **{c: pl.Int64 if c in _COUNTS else pl.Float64 for c in columns}}
    return pl.DataFrame(records, schema=schema).sort("version", "bucket")
