"""Performance trend of multiclass, regression and score-only models, one row per bucket.

``ws.monitor.get_performance_trend`` runs `task_trend` for a model whose task is not binary:
one grouped scan of the engine's per-interval aggregate (``class_confusion``,
``regression_sums`` or ``score_totals`` with ``interval=``), then the analysis functions per
bucket. Every (version, bucket) of the window is present, empty buckets with ``n = 0`` and NaN
metrics. Columns after ``version, bucket, bucket_end, n, labelled, label_coverage``:

- multiclass: ``accuracy`` (Wilson ``accuracy_low`` / ``accuracy_high``), ``f1_macro``,
  ``precision_macro``, ``recall_macro``, ``f1_weighted``. Each bucket's averages run over the
  classes present in that bucket (actual or predicted), as scikit-learn's ``f1_score(...,
  average="macro")`` on the bucket's rows does;
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

from mlmkit.analysis.metrics import (
    RegressionSums,
    UndefinedMetricWarning,
    flag_rate,
    multiclass_metrics,
    regression_metrics,
)
from mlmkit.catalogue import Task
from mlmkit.services.monitor.tasks import class_labels, task_engine
from mlmkit.services.monitor.trend import grid
from mlmkit.store.engines import StatisticsEngine, TaskStatisticsEngine
from mlmkit.values import TimeRange

__all__ = ["task_trend"]

_REGRESSION_SUMS = ("n", "sum_error", "sum_abs_error", "sum_squared_error", "sum_actual",
                    "sum_squared_actual", "sum_abs_percentage_error", "zero_actuals",
                    "sum_squared_abs_percentage_error", "sum_fourth_error")
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
    out: dict[_Key, _Row] = {}
    for key, part in _groups(conf):
        labelled = part.filter(pl.col("actual").is_not_null())
        row: _Row = {"n": int(part["count"].sum()), "labelled": int(labelled["count"].sum())}
        if labelled.height:
            names = class_labels(sorted(set(labelled["actual"].to_list())
                                        | set(labelled["predicted"].to_list())))
            frame = pl.DataFrame({
                "actual": [names[a] for a in labelled["actual"].to_list()],
                "predicted": [names[p] for p in labelled["predicted"].to_list()],
                "count": labelled["count"].cast(pl.Int64)}, strict=False)
            m = multiclass_metrics(frame, confidence=confidence)
            ci = m.accuracy_interval
            row.update({"accuracy": m.accuracy, "accuracy_low": ci.low,
                        "accuracy_high": ci.high})
            row.update({k: m[k] for k in ("f1_macro", "precision_macro", "recall_macro",
                                          "f1_weighted")})
        out[key] = row
    return out


def _regression(eng: TaskStatisticsEngine, model: str, versions: list[str] | None,
                span: TimeRange, step: timedelta, confidence: float, role: str
                ) -> dict[_Key, _Row]:
    sums = eng.regression_sums(model, versions=versions, time_range=span, interval=step,
                               role=role)
    out: dict[_Key, _Row] = {}
    for key, part in _groups(sums):
        rec = part.row(0, named=True)
        row: _Row = {"n": int(rec["total"]), "labelled": int(rec["n"])}
        if rec["n"]:
            m = regression_metrics(RegressionSums(**{k: rec[k] for k in _REGRESSION_SUMS}),
                                   confidence=confidence)
            row.update({"mae": m.mae, "mae_low": m.mae_interval.low,
                        "mae_high": m.mae_interval.high, "rmse": m.rmse, "mape": m.mape,
                        "r2": m.r2, "bias": m.bias})
        out[key] = row
    return out


def _score(eng: TaskStatisticsEngine, model: str, versions: list[str] | None,
           span: TimeRange, step: timedelta, confidence: float, role: str
           ) -> dict[_Key, _Row]:
    totals = eng.score_totals(model, versions=versions, time_range=span, interval=step,
                              role=role)
    out: dict[_Key, _Row] = {}
    for key, part in _groups(totals):
        rec = part.row(0, named=True)
        n = int(rec["n"])
        row: _Row = {"n": int(rec["total"]), "labelled": int(rec["labelled"]), "scored": n,
                     "flagged": int(rec["flagged"]), "flag_count": int(rec["flag_n"])}
        if n:
            mean = float(rec["sum_score"]) / n
            var = max(float(rec["sum_squared_score"]) / n - mean * mean, 0.0) * n / (n - 1) \
                if n > 1 else _NAN
            row.update({"mean_score": mean, "std_score": math.sqrt(var)})
        if rec["flag_n"]:
            ci = flag_rate(int(rec["flagged"]), int(rec["flag_n"]), confidence=confidence)
            row.update({"flag_rate": ci.estimate, "flag_rate_low": ci.low,
                        "flag_rate_high": ci.high})
        out[key] = row
    return out


_Builder: TypeAlias = Callable[[TaskStatisticsEngine, str, "list[str] | None", TimeRange,
                                timedelta, float, str], "dict[_Key, _Row]"]
_BUILDERS: dict[Task, tuple[_Builder, tuple[str, ...]]] = {
    Task.MULTICLASS: (_multiclass, ("accuracy", "accuracy_low", "accuracy_high", "f1_macro",
                                    "precision_macro", "recall_macro", "f1_weighted")),
    Task.REGRESSION: (_regression, ("mae", "mae_low", "mae_high", "rmse", "mape", "r2",
                                    "bias")),
    Task.SCORE_ONLY: (_score, ("scored", "mean_score", "std_score", "flagged", "flag_count",
                               "flag_rate", "flag_rate_low", "flag_rate_high")),
}
_COUNTS = ("n", "labelled", "scored", "flagged", "flag_count")


def task_trend(engine: StatisticsEngine, task: Task, model_name: str,
               versions: list[str] | None, span: TimeRange, step: timedelta, *,
               confidence: float, role: str) -> pl.DataFrame:
    """One row per (version, bucket) of a non-binary model (module docstring)."""
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
