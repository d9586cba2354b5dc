"""One row of a multiclass, regression or score-only model's metrics from one group's aggregate.

Shared by the trend (`mlmkit.services.monitor.task_trend`: a group is a (version, bucket)) and
the segments (`mlmkit.services.monitor.segment_tasks`: a (version, segment[, bucket])), so a
segment's row is the row of its rows alone. ``COLUMNS`` names each task's metric columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeAlias

import polars as pl

from mlmkit.analysis.metrics import (
    RegressionSums,
    flag_rate,
    multiclass_metrics,
    regression_metrics,
    score_moments,
)
from mlmkit.analysis.metrics.multiclass.confusion import AVERAGED
from mlmkit.catalogue import Kind, Task, select
from mlmkit.services.monitor.tasks import class_labels

__all__ = ["COLUMNS", "COUNTS", "multiclass_row", "regression_row", "score_row"]

_Row: TypeAlias = dict[str, object]
_NAN = math.nan

_REGRESSION = select(kind=Kind.REGRESSION)
_CLASS_COUNT = select(kind=Kind.CLASS_COUNT)
#: The averages of the unsegmented window that are not catalogue metrics (micro averages,
#: which equal accuracy for single-label rows, and the weighted precision and recall).
_AVERAGED = tuple(name for name in AVERAGED if name not in _CLASS_COUNT)


def _bounded(metric: str) -> tuple[str, str, str]:
    """``metric`` and the bounds of its interval, as the rows name them."""
    return metric, f"{metric}_low", f"{metric}_high"


#: The metric columns of each task's row (after ``n, labelled``): the task's default metric
#: with its interval, then its other metrics from the catalogue (multiclass adds the other
#: averages of the unsegmented window, regression the mean error ``bias``). The score-only
#: row is a column schema, not a metric selection: scored rows, score moments, flag counts,
#: then the flag rate with its interval.
COLUMNS: dict[Task, tuple[str, ...]] = {
    Task.MULTICLASS: (*_bounded("accuracy"), *_CLASS_COUNT, *_AVERAGED),
    Task.REGRESSION: (*_bounded("mae"), *(m for m in _REGRESSION if m != "mae"), "bias"),
    Task.SCORE_ONLY: ("scored", "mean_score", "std_score", "flagged", "flag_count",
                      *_bounded("flag_rate")),
}
#: The integer columns among them (0, not NaN, in an empty group).
COUNTS = ("n", "labelled", "scored", "flagged", "flag_count")


def multiclass_row(part: pl.DataFrame, confidence: float) -> _Row:
    """``n, labelled`` and the multiclass columns of one group's ``actual, predicted, count``."""
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
        row.update({"accuracy": m.accuracy, "accuracy_low": ci.low, "accuracy_high": ci.high})
        averages = m.to_dict()
        row.update({k: averages[k] for k in (*_CLASS_COUNT, *_AVERAGED)})
    return row


def regression_row(rec: Mapping[str, float], confidence: float) -> _Row:
    """``n, labelled`` and the regression columns of one group's ``regression_sums`` row."""
    row: _Row = {"n": int(rec["total"]), "labelled": int(rec["n"])}
    if rec["n"]:
        sums = RegressionSums.from_row(rec)
        m = regression_metrics(sums, confidence=confidence)
        row.update({"mae": m.mae, "mae_low": m.mae_interval.low,
                    "mae_high": m.mae_interval.high, "rmse": m.rmse, "mape": m.mape,
                    "r2": m.r2, "bias": m.bias})
    return row


def score_row(rec: Mapping[str, float], confidence: float) -> _Row:
    """``n, labelled`` and the score-only columns of one group's ``score_totals`` row."""
    get = {k: int(rec[k]) for k in ("total", "labelled", "n", "flagged", "flag_n")}
    n = get["n"]
    row: _Row = {"n": get["total"], "labelled": get["labelled"], "scored": n,
                 "flagged": get["flagged"], "flag_count": get["flag_n"]}
    if n:
        mean, std = score_moments(n, float(rec["sum_score"]), float(rec["sum_squared_score"]),
                                  shift=float(rec["shift_score"]),  # (`centred`)
                                  span=float(rec["hi"]) - float(rec["lo"]))
        row.update({"mean_score": mean, "std_score": std})
    if get["flag_n"]:
        ci = flag_rate(get["flagged"], get["flag_n"], confidence=confidence)
        row.update({"flag_rate": ci.estimate, "flag_rate_low": ci.low,
                    "flag_rate_high": ci.high})
    return row
