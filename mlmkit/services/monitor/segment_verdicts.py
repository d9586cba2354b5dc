"""Degradation, version comparison and concept drift per segment (the monitor's ``segment=``).

``get_performance_degradation_info(..., segment=...)`` and ``compare_versions(...,
segment=...)`` read **one grouped scan per window** (the baseline window and the current one;
all versions at once for a comparison) with the segment keys as extra ``GROUP BY`` keys, then
run each segment through the code of the unsegmented call: a segment's row equals the call on
that segment's rows alone. Binary models read ``segment_totals`` (plus, for ROC AUC, one
pairs or histogram scan per version); multiclass ``class_confusion``, regression
``regression_sums`` and score-only ``score_totals`` with ``segment=`` (multiclass ``log_loss``
/ ``roc_auc_ovr`` add the grouped log-loss sums and one-vs-rest histograms; a regression
comparison of ``rmse`` / ``r2`` the grouped pairs its row bootstrap resamples), which a
`SegmentView` hands to the code of the unsegmented call as the aggregates of the segment
alone (`mlmkit.services.monitor.segment_views`).

Where a test runs per segment the family is corrected with Holm's method: degradation adds
``p_adjusted`` / ``significant_adjusted`` over the segments' p-values, the comparison adds
``p_family`` / ``significant_family`` over every (segment, version) comparison (its
``p_adjusted`` stays Holm across the versions of one segment, as unsegmented).

Concept drift reads ``segment_error_stream`` (value counts of segment, time and error: one
scan) and runs each segment's stream through `mlmkit.services.monitor.concept`; the window
tests are Holm-corrected (``p_adjusted`` / ``significant_adjusted``), the detectors are not.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from mlmkit._validation import check_probability, check_real, invalid
from mlmkit.analysis.metrics import UndefinedMetricWarning, flag_rate
from mlmkit.analysis.stats import multiple_testing
from mlmkit.catalogue import Kind, Significance, Task, Use, select
from mlmkit.services.monitor.compare import comparison_frame
from mlmkit.services.monitor.degradation import (
    HIGHER_IS_BETTER,
    Baseline,
    assess,
    message,
    with_alert,
)
from mlmkit.services.monitor.results import DegradationInfo, WindowMetrics
from mlmkit.services.monitor.segment_views import (
    SegmentView,
    segment_view,
    segment_window,
    task_segment_frames,
)
from mlmkit.services.monitor.segments import _aucs, segment_engine
from mlmkit.services.monitor.task_compare import task_comparison_frame
from mlmkit.services.monitor.task_degradation import (
    PROBABILITY_METRICS,
    baseline_span,
    metric_value,
    task_metric,
    task_verdict,
    window_source,
)
from mlmkit.services.monitor.task_results import ScoreWindowMetrics
from mlmkit.services.monitor.tasks import TaskResult, task_window_metrics
from mlmkit.services.monitor.window import RocAuc
from mlmkit.store.engines import StatisticsEngine
from mlmkit.store.engines.segments import ResolvedSegment, SegmentTaskEngine
from mlmkit.values import TimeRange

if TYPE_CHECKING:
    from mlmkit.services.alerts.service import AlertingService

__all__ = ["segment_comparison_frame", "segment_concept_drift", "segment_degradation"]

_Key = tuple[object, ...]
_Floats = npt.NDArray[np.float64]
_Result = WindowMetrics | TaskResult
_ROW_BOOTSTRAP = select(task=Task.REGRESSION, test=Significance.BOOTSTRAP)
_BINARY_COMPARED = select(use=Use.WINDOW, kind=(Kind.COUNT, Kind.SCORE))  # compare_versions'


def _order(keys: set[_Key]) -> list[_Key]:
    return sorted(keys, key=lambda k: tuple((v is None, str(v)) for v in k))


def _score_result(part: pl.DataFrame, model: str, version: str, span: TimeRange,
                  min_labels: int, confidence: float) -> ScoreWindowMetrics:
    """A score-only window from its totals alone (no distribution: that is a histogram)."""
    rows = part.filter(pl.col("version") == version)
    row = rows.row(0, named=True) if rows.height else None

    def get(k: str) -> int:
        return int(row[k]) if row else 0
    flags = flag_rate(get("flagged"), get("flag_n"), confidence=confidence) \
        if get("flag_n") else None
    return ScoreWindowMetrics(model, version, span.start, span.end, get("total"), get("labelled"),
                              min_labels, None, get("n"), get("flagged"), get("flag_n"),
                              get("confirmed"), flags, pl.DataFrame())


class _Grouped:
    """One window's grouped aggregates (one scan each), read per (segment, version).

    ``scores``: binary, the scores (ROC AUC); multiclass, the probabilities (log loss and
    one-vs-rest AUC). ``pairs``: a regression model's labelled pairs (the row bootstrap).
    """

    def __init__(self, engine: StatisticsEngine, task: Task, model: str, seg: ResolvedSegment,
                 versions: list[str], span: TimeRange, *, min_labels: int, confidence: float,
                 scores: bool, ci: bool = True, pairs: bool = False) -> None:
        self.task, self.model, self.span, self.names = task, model, span, seg.key_names()
        self.min_labels, self.confidence, self.ci = min_labels, confidence, ci
        self.scores = scores
        self.rows: dict[tuple[str, _Key], dict[str, object]] = {}
        self.aucs: dict[str, dict[_Key, RocAuc]] = {}
        if task is Task.BINARY:
            eng = segment_engine(engine)
            totals = eng.segment_totals(model, seg, versions=versions, time_range=span,
                                        role="served", scores=scores)
            for row in totals.iter_rows(named=True):
                self.rows[(row["version"], tuple(row[k] for k in self.names))] = row
            self.keys = {k for _, k in self.rows}
            for v in versions if scores else ():
                scored = sum(int(cast(int, r["scored"])) for (rv, _), r in self.rows.items()
                             if rv == v)
                self.aucs[v] = _aucs(eng, model, seg, v, span, scored, bins=10_000,
                                     role="served")
            return
        if not isinstance(engine, SegmentTaskEngine):
            raise invalid("engine", f"an engine with per-task segment aggregates for a {task} "
                          "model (workspace, Parquet or Spark)", engine)
        self.frames = task_segment_frames(engine, task, model, seg, versions, span,
                                          role="served", probabilities=scores, pairs=pairs)
        base = next(iter(self.frames.values()))  # the task's counts or sums: every row
        self.keys = set(base.select(self.names).iter_rows())

    def view(self, key: _Key) -> SegmentView:
        """Segment ``key``'s aggregates as an engine (non-binary tasks)."""
        return segment_view(self.frames, self.names, key)

    def result(self, key: _Key, version: str) -> _Result:
        """The window metrics of ``version`` in segment ``key`` (empty when it has no rows)."""
        span, model = self.span, self.model
        if self.task is Task.BINARY:
            return segment_window(model, version, span, self.rows.get((version, key)),
                                  self.aucs.get(version, {}).get(key),
                                  min_labels=self.min_labels, ci=self.ci,
                                  confidence=self.confidence)
        view = self.view(key)
        if self.task is Task.SCORE_ONLY:
            return _score_result(view.score_totals(model), model, version, span,
                                 self.min_labels, self.confidence)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            res = task_window_metrics(cast(StatisticsEngine, view), self.task, model, version,
                                      span, min_labels=self.min_labels,
                                      confidence=self.confidence, bins=1000,
                                      scores=self.scores, role="served")
        assert res is not None  # a non-binary task
        return res


def _segment_metric(task: Task, metric: str | None) -> str:
    if task is Task.BINARY:
        metric = "accuracy" if metric is None else metric
        if metric not in HIGHER_IS_BETTER:
            raise invalid("metric", f"one of {', '.join(HIGHER_IS_BETTER)}", metric)
        return metric
    return task_metric(task, metric)


def _reads(task: Task, metric: str) -> bool:
    """Whether ``metric`` reads scores (binary ROC AUC) or probabilities (multiclass)."""
    return (task is Task.BINARY and metric == "roc_auc") or (
        task is Task.MULTICLASS and metric in PROBABILITY_METRICS)


def _holm(p_values: list[float], alpha: float) -> list[tuple[float, bool]]:
    """Holm over the finite p-values; ``(NaN, False)`` for the others."""
    out = [(math.nan, False)] * len(p_values)
    tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    if tested:
        adj = multiple_testing([p_values[i] for i in tested], method="holm", alpha=alpha)
        for i, (p, reject) in zip(tested, adj.select("p_adjusted", "reject").iter_rows(),
                                  strict=True):
            out[i] = (float(p), bool(reject))
    return out


def segment_degradation(engine: StatisticsEngine, task: Task, model: str, version: str,
                        metric: str | None, span: TimeRange, seg: ResolvedSegment, *,
                        threshold: float, alpha: float, baseline: object, min_labels: int,
                        registered: Mapping[str, float], alerts: AlertingService | None
                        ) -> pl.DataFrame:
    """One verdict per segment (columns: see the public method); ``alerts``: fire them.

    A segment alerts when it degraded (``warning`` / ``critical``) and, where it has a
    p-value, that p-value is significant after Holm's correction across the segments.
    """
    metric = _segment_metric(task, metric)
    threshold = check_real("threshold_percent", threshold, low=0.0, high=1.0, low_open=True)
    alpha = check_probability("alpha", alpha, open_interval=True)
    scores = _reads(task, metric)
    found = baseline_span(metric, baseline, span, registered)
    current = _Grouped(engine, task, model, seg, [version], span, min_labels=min_labels,
                       confidence=0.95, scores=scores, ci=False)  # as the unsegmented check
    ref = _Grouped(engine, task, model, seg, [version], found, min_labels=min_labels,
                   confidence=0.95, scores=scores, ci=False) if isinstance(found, TimeRange) \
        else None
    order = _order(current.keys | (ref.keys if ref is not None else set()))
    infos = [_verdict(task, metric, span, found, current.result(key, version),
                      None if ref is None else ref.result(key, version),
                      threshold=threshold, alpha=alpha) for key in order]
    adjusted = _holm([math.nan if i.insufficient else i.p_value for i in infos], alpha)
    records = []
    for key, info, (p_adj, reject) in zip(order, infos, adjusted, strict=True):
        if alerts is not None and info.has_degraded and (math.isnan(p_adj) or reject):
            info = _fire(alerts, info, seg, key)
        rec = {k: v for k, v in info.to_dict().items() if k != "details"}
        records.append({**dict(zip(seg.key_names(), key, strict=True)), **rec,
                        "p_adjusted": p_adj, "significant_adjusted": reject})
    return _frame(seg, records, _DEGRADATION)


def _fire(alerts: AlertingService, info: DegradationInfo, seg: ResolvedSegment, key: _Key
          ) -> DegradationInfo:
    """The segment's ``degradation`` alert (deduplicated per model, version, metric, segment)."""
    label = ", ".join(f"{f}={v}" for f, v in zip(seg.features, key, strict=True))
    alert_id = alerts.fire(
        "degradation", info.severity, info.model_name, info.version,
        f"{message(info)} in segment {label}",
        {**info.to_dict(), "segment": dict(zip(seg.features, key, strict=True))},
        dedup_key=f"degradation:{info.model_name}:{info.version}:{info.metric}:{label}")
    return with_alert(info, alert_id)


def _verdict(task: Task, metric: str, span: TimeRange, found: tuple[float, str] | TimeRange,
             cur: _Result, base: _Result | None, *, threshold: float, alpha: float
             ) -> DegradationInfo:
    if task is Task.BINARY:
        assert isinstance(cur, WindowMetrics)
        if isinstance(found, TimeRange):
            assert isinstance(base, WindowMetrics)
            value = getattr(base, metric)
            ref = Baseline(math.nan if value is None else float(value), window_source(found),
                           base)
        else:
            ref = Baseline(*found)
        return assess(cur.model_name, cur.version, metric, cur, ref, threshold=threshold,
                      alpha=alpha)
    assert not isinstance(cur, WindowMetrics) and not isinstance(base, WindowMetrics)
    if isinstance(found, TimeRange):
        assert base is not None
        value, source = metric_value(base, metric), window_source(found)
    else:
        value, source = found
    return task_verdict(task, metric, span, cur, value, source, base, threshold=threshold,
                        alpha=alpha)


_DEGRADATION: dict[str, pl.DataType] = {
    "model_name": pl.String(), "version": pl.String(), "metric": pl.String(),
    "baseline_value": pl.Float64(), "current_value": pl.Float64(),
    "relative_drop": pl.Float64(), "threshold": pl.Float64(), "severity": pl.String(),
    "baseline_source": pl.String(), "current_n": pl.Int64(), "baseline_n": pl.Int64(),
    "p_value": pl.Float64(), "significant": pl.Boolean(), "insufficient": pl.Boolean(),
    "alert_id": pl.Int64(), "has_degraded": pl.Boolean(), "degradation_percent": pl.Float64(),
    "p_adjusted": pl.Float64(), "significant_adjusted": pl.Boolean()}


def _frame(seg: ResolvedSegment, records: list[dict[str, object]],
           schema: Mapping[str, pl.DataType] | None) -> pl.DataFrame:
    keys = seg.key_names()
    key_types: dict[str, pl.DataType] = {k: pl.String() for k in keys}
    if records:
        probe = pl.DataFrame([{k: r[k] for k in keys} for r in records],
                             infer_schema_length=None)
        key_types = {k: probe.schema[k] for k in keys}
    if schema is None:
        frame = pl.DataFrame(records, infer_schema_length=None) if records else \
            pl.DataFrame(schema=key_types)
        frame = frame.with_columns(*[pl.col(k).cast(t) for k, t in key_types.items()])
    else:
        frame = pl.DataFrame(records, schema={**key_types, **schema})
    return seg.named(frame.sort(keys, nulls_last=True, maintain_order=True))


def segment_comparison_frame(engine: StatisticsEngine, task: Task, model: str,
                             versions: list[str], span: TimeRange, seg: ResolvedSegment, *,
                             metric: str | None, min_labels: int, alpha: float,
                             confidence: float) -> pl.DataFrame:
    """``compare_versions`` per segment: its frame per segment, stacked, plus the family."""
    if task is Task.BINARY:
        metric = "accuracy" if metric is None else metric
        if metric not in _BINARY_COMPARED:
            raise invalid("metric", f"one of {', '.join(_BINARY_COMPARED)}", metric)
    else:
        metric = _segment_metric(task, metric)
    grouped = _Grouped(engine, task, model, seg, versions, span, min_labels=min_labels,
                       confidence=confidence, scores=task is Task.BINARY or _reads(task, metric),
                       pairs=task is Task.REGRESSION and metric in _ROW_BOOTSTRAP)
    keys = seg.key_names()
    parts = []
    for key in _order(grouped.keys):
        results = [grouped.result(key, v) for v in versions]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            frame = comparison_frame(cast(list[WindowMetrics], results), metric, alpha) \
                if task is Task.BINARY else task_comparison_frame(
                    cast(StatisticsEngine, grouped.view(key)), task, model, span, metric,
                    cast(list[TaskResult], results), alpha)
        parts.append(frame.select(*[pl.lit(v).alias(k) for k, v in zip(keys, key, strict=True)],
                                  pl.all()))
    if not parts:
        return seg.named(pl.DataFrame(schema={**{k: pl.String for k in keys},
                                              "version": pl.String}))
    out = pl.concat(parts, how="vertical_relaxed")
    first = pl.col("version") == versions[0]
    p = out.select(pl.when(first).then(None).otherwise(pl.col("p_value")).fill_nan(None)
                   .alias("p"))["p"].to_list()
    family = _holm([math.nan if v is None else float(v) for v in p], alpha)
    return seg.named(out.with_columns(
        pl.Series("p_family", [f for f, _ in family], pl.Float64),
        pl.Series("significant_family", [r for _, r in family], pl.Boolean)))


# ---------------------------------------------------------------------- concept drift
class _StreamView(SegmentView):
    """One segment's error stream, answering as the unsegmented engine's stream."""

    def __init__(self, part: pl.DataFrame) -> None:
        super().__init__({})
        k = part["k"].cast(pl.Int64).to_numpy()
        self.ts = np.repeat(part["t_us"].cast(pl.Float64).to_numpy() / 1e6, k)
        self.errors = np.repeat(part["e"].cast(pl.Float64).to_numpy(), k)

    def error_stream(self, *_: object, **__: object) -> tuple[_Floats, _Floats]:
        """The segment's ``(ts as epoch seconds, error)`` in time order."""
        return self.ts, self.errors

    def task_error_stream(self, *_: object, **__: object) -> tuple[_Floats, _Floats]:
        """The same stream (multiclass: misclassified 0/1; regression: the residuals)."""
        return self.ts, self.errors


def segment_concept_drift(engine: StatisticsEngine, task: Task, model: str, version: str,
                          span: TimeRange, seg: ResolvedSegment, *, detectors: list[str],
                          alpha: float, min_labels: int, alerts: AlertingService | None
                          ) -> pl.DataFrame:
    """``detect_concept_drift`` per segment from one grouped scan of the error stream."""
    from mlmkit.services.monitor.concept import concept_drift, task_concept_drift

    eng = segment_engine(engine)
    keys = seg.key_names()
    stream = eng.segment_error_stream(model, seg, version, task=task.value, time_range=span)
    results = []
    for key in _order(set(stream.select(keys).iter_rows())):
        match = pl.all_horizontal([pl.col(k).eq_missing(v) for k, v in
                                   zip(keys, key, strict=True)])
        view = cast(StatisticsEngine, _StreamView(stream.filter(match)))
        results.append((key, concept_drift(
            view, model, version, span, detectors=detectors, alpha=alpha,
            min_labels=min_labels) if task is Task.BINARY else task_concept_drift(
            view, task, model, version, span, detectors=detectors, alpha=alpha,
            min_labels=min_labels)))
    adjusted = _holm([math.nan if r.insufficient else r.p_value for _, r in results], alpha)
    records = []
    for (key, res), (p_adj, reject) in zip(results, adjusted, strict=True):
        row = res.to_dict()
        fired = cast(dict[str, object], row.pop("detectors"))
        row.update({f"fired_{name}": at for name, at in fired.items()})
        alert_id = None
        if alerts is not None and res.drift_detected and (res.detector != "window_test"
                                                          or reject):
            label = ", ".join(f"{f}={v}" for f, v in zip(seg.features, key, strict=True))
            alert_id = alerts.fire(
                "drift", "warning", model, version,
                f"concept drift in {model} {version} ({res.detector}) in segment {label}",
                {**res.to_dict(), "segment": dict(zip(seg.features, key, strict=True))},
                dedup_key=f"concept:{model}:{version}:{label}")
        records.append({**dict(zip(keys, key, strict=True)), **row, "p_adjusted": p_adj,
                        "significant_adjusted": reject, "alert_id": alert_id})
    return _frame(seg, records, None)
