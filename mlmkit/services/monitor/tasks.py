"""Window metrics of multiclass, regression and score-only models from the engine's aggregates.

`task_window_metrics` is what ``ws.monitor.get_current_metrics`` runs for a model whose
registered task is not binary: one grouped scan per aggregate
([`TaskStatisticsEngine`][mlmkit.store.engines.TaskStatisticsEngine]), then the pure
analysis functions. Scans per call: multiclass 1 (confusion) + 3 with probabilities (log
loss, per-class histograms and their per-class totals); regression 1 (sums) + 1 for residual
quantiles; score-only 2 (totals, histogram).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeAlias

import numpy as np
import polars as pl

from mlmkit._bins import bin_edges
from mlmkit._validation import invalid
from mlmkit.analysis.metrics import (
    OneVsRestAUC,
    RegressionSums,
    UndefinedMetricWarning,
    flag_rate,
    multiclass_log_loss_from_sums,
    multiclass_metrics,
    ovr_auc_from_bins,
    regression_metrics,
    residual_quantiles,
    score_summary,
)
from mlmkit.analysis.metrics.summaries import DEFAULT_QUANTILES, refined_histograms
from mlmkit.catalogue import Task
from mlmkit.services.monitor.task_results import (
    AnyWindowMetrics,
    MulticlassWindowMetrics,
    RegressionWindowMetrics,
    ScoreWindowMetrics,
)
from mlmkit.store.engines import StatisticsEngine, TaskStatisticsEngine
from mlmkit.values import TimeRange

__all__ = ["AnyWindowMetrics", "bin_edges", "class_labels", "task_engine", "task_window_metrics"]

_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
TaskResult: TypeAlias = MulticlassWindowMetrics | RegressionWindowMetrics | ScoreWindowMetrics


def task_engine(engine: object) -> TaskStatisticsEngine:
    """``engine`` as a `TaskStatisticsEngine`, or a ValidationError naming it."""
    if not isinstance(engine, TaskStatisticsEngine):
        raise invalid("engine", "an engine with per-task aggregates (workspace, Parquet or "
                      "Spark) for a multiclass, regression or score-only model", engine)
    return engine


def class_labels(labels: Sequence[str]) -> dict[str, object]:
    """Stored (text) label -> reported label: integers when every label is one, else text."""
    if labels and all(_INTEGER.fullmatch(v) for v in labels):
        return {v: int(v) for v in labels}
    return {v: v for v in labels}


_Floats: TypeAlias = "np.ndarray[tuple[int], np.dtype[np.float64]]"
_Ints: TypeAlias = "np.ndarray[tuple[int], np.dtype[np.int64]]"


def _dense(frame: pl.DataFrame, version: str, bins: int) -> tuple[_Floats, _Ints]:
    part = frame.filter(pl.col("version") == version)
    counts = np.zeros(bins, dtype=np.int64)
    np.add.at(counts, part["bin"].to_numpy(), part["n"].to_numpy())
    row = part.row(0, named=True) if part.height else {"lo": 0.0, "hi": 0.0}
    return bin_edges(float(row["lo"]), float(row["hi"]), bins), counts


def _refined(fetch: Callable[[dict[str, tuple[float, float]]], dict[str, _Ints]],
             version: str, span: tuple[float, float], bins: int,
             counts: _Ints | None = None) -> tuple[_Floats, _Ints]:
    """``version``'s histogram on ``span``, the bins of its quantiles refined.

    ``counts``: the first pass when already counted (else ``fetch`` counts it); see
    `mlmkit.analysis.metrics.refined_histograms`.
    """
    lo, hi = float(span[0]), float(span[1])
    first = fetch({version: (lo, hi)})[version] if counts is None else counts
    return refined_histograms(fetch, {version: bin_edges(lo, hi, bins)}, {version: first},
                              DEFAULT_QUANTILES)[version]


def task_window_metrics(engine: StatisticsEngine, task: Task, model_name: str, version: str,
                        span: TimeRange, *, min_labels: int, confidence: float, bins: int,
                        scores: bool, role: str) -> TaskResult | None:
    """Window metrics of ``version`` of a multiclass, regression or score-only model.

    ``None`` for a binary model (its metrics are `window_metrics`). Multiclass: accuracy
    (Wilson), per-class and macro / micro / weighted P / R / F1, the KxK matrix, and with
    logged probabilities (``scores``) log loss and one-vs-rest ROC AUC from ``bins``-bin
    per-class histograms. Regression: MAE, RMSE, MAPE (zero actuals left out and counted), R²,
    bias with normal intervals, and (``scores``) residual quantiles from a ``bins``-bin
    histogram on the window's error range. Score-only: count, mean, std and quantiles of the
    scores (``bins`` bins on their range) and the flag rate (Wilson).
    """
    if task is Task.BINARY:
        return None
    eng = task_engine(engine)
    head = (model_name, version, span.start, span.end)
    if task is Task.MULTICLASS:
        return _multiclass(eng, head, span, min_labels, confidence, bins, scores, role)
    if task is Task.REGRESSION:
        return _regression(eng, head, span, min_labels, confidence, bins, scores, role)
    if task is Task.SCORE_ONLY:
        return _score(eng, head, span, min_labels, confidence, bins, role)
    raise invalid("task", "multiclass, regression or score-only", task)


_Head = tuple[str, str, datetime, datetime]


def _ordered(names: dict[str, object]) -> list[object]:
    """Reported labels in order: numerically for integers, else as text."""
    values = list(names.values())
    if all(isinstance(v, int) for v in values):
        return sorted(values, key=lambda v: int(str(v)))
    return sorted(values, key=str)


def _multiclass(eng: TaskStatisticsEngine, head: _Head, span: TimeRange, min_labels: int,
                confidence: float, bins: int, scores: bool, role: str
                ) -> MulticlassWindowMetrics:
    model, version = head[0], head[1]
    conf = eng.class_confusion(model, versions=[version], time_range=span, role=role)
    labelled = conf.filter(pl.col("actual").is_not_null())
    total, n = int(conf["count"].sum() or 0), int(labelled["count"].sum() or 0)
    metrics = log_loss = auc = None
    proba_n = 0
    if n:
        seen = sorted(set(labelled["actual"].to_list()) | set(labelled["predicted"].to_list()))
        names = class_labels(seen)
        if scores:  # (the classes of the probabilities too: one way to report a label)
            hist = eng.class_score_histogram(model, versions=[version], time_range=span,
                                             bins=bins, role=role)
            names = class_labels(sorted(set(seen) | set(hist["class"].to_list())))
        frame = pl.DataFrame({
            "actual": [names[a] for a in labelled["actual"].to_list()],
            "predicted": [names[p] for p in labelled["predicted"].to_list()],
            "count": labelled["count"].cast(pl.Int64)}, strict=False)
        order = _ordered(names)
        # the averages over the classes actual or predicted (scikit-learn's labels=None, the
        # trend's, compare_versions', a segment's): a class only in the probabilities (top-k
        # lists name many) counted as a class with F1 0 and lowered F1-macro (1.0 -> 0.67)
        metrics = multiclass_metrics(frame, labels=_ordered({k: names[k] for k in seen}),
                                     confidence=confidence)
        if scores:
            sums = eng.class_log_loss(model, versions=[version], time_range=span, role=role)
            proba_n = int(sums["n"].sum() or 0)
            if proba_n:
                log_loss = multiclass_log_loss_from_sums(proba_n,
                                                         float(sums["sum_neg_log_p"].sum()))
                auc = _ovr(hist, names, order)
    return MulticlassWindowMetrics(*head, total, n, min_labels,
                                   metrics, proba_n, log_loss, auc)


def _ovr(hist: pl.DataFrame, names: dict[str, object], order: list[object]) -> OneVsRestAUC:
    """The one-vs-rest AUCs of the grouped (class, bin) rows (no K x bins array)."""
    rows = hist.with_columns(pl.col("class").replace_strict(names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return ovr_auc_from_bins(rows, labels=order)


def _regression(eng: TaskStatisticsEngine, head: _Head, span: TimeRange, min_labels: int,
                confidence: float, bins: int, scores: bool, role: str
                ) -> RegressionWindowMetrics:
    model, version = head[0], head[1]
    frame = eng.regression_sums(model, versions=[version], time_range=span, role=role)
    row = frame.row(0, named=True) if frame.height else None
    total = int(row["total"]) if row else 0
    n = int(row["n"]) if row else 0
    sums = metrics = None
    quantiles = residual_quantiles([0.0, 1.0], [0])
    if row is not None and n:
        sums = RegressionSums.from_row(row)
        metrics = regression_metrics(sums, confidence=confidence)
        if scores:
            def residuals(ranges: dict[str, tuple[float, float]]) -> dict[str, _Ints]:
                hist = eng.residual_histogram(model, versions=[version], time_range=span,
                                              bins=bins, ranges=ranges, role=role)
                return {version: _dense(hist, version, bins)[1]}

            edges, counts = _refined(residuals, version, (row["lo"], row["hi"]), bins)
            quantiles = residual_quantiles(edges, counts, DEFAULT_QUANTILES)
    return RegressionWindowMetrics(*head, total, n, min_labels,
                                   metrics, sums, quantiles)


def _score(eng: TaskStatisticsEngine, head: _Head, span: TimeRange, min_labels: int,
           confidence: float, bins: int, role: str) -> ScoreWindowMetrics:
    model, version = head[0], head[1]
    frame = eng.score_totals(model, versions=[version], time_range=span, role=role)
    row = frame.row(0, named=True) if frame.height else None
    get = (lambda k: int(row[k])) if row else (lambda k: 0)
    summary = None
    hist = pl.DataFrame(schema={"bin": pl.Int64, "n": pl.Int64, "lo": pl.Float64,
                                "hi": pl.Float64})
    if row is not None and get("n"):
        def scored(ranges: dict[str, tuple[float, float]]) -> pl.DataFrame:
            return eng.score_distribution(model, versions=[version], time_range=span,
                                          bins=bins, ranges=ranges, role=role)

        hist = scored({version: (row["lo"], row["hi"])})  # (also the window's histogram)
        edges, counts = _refined(lambda r: {version: _dense(scored(r), version, bins)[1]},
                                 version, (row["lo"], row["hi"]), bins,
                                 _dense(hist, version, bins)[1])
        summary = score_summary(edges, counts, sum_score=float(row["sum_score"]),
                                sum_squared_score=float(row["sum_squared_score"]),
                                shift=float(row["shift_score"]),
                                span=float(row["hi"]) - float(row["lo"]))
        hist = hist.drop("version")
    flags = flag_rate(get("flagged"), get("flag_n"), confidence=confidence) \
        if get("flag_n") else None
    return ScoreWindowMetrics(*head, get("total"), get("labelled"),
                              min_labels, summary, get("n"), get("flagged"), get("flag_n"),
                              get("confirmed"), flags, hist)
