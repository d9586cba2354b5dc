"""Job bodies and their run context (see `mlmkit.services.jobs.runner` for the public face)."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from mlmkit._jsonable import JSONObject
from mlmkit._validation import check_choice, check_int, check_real
from mlmkit.catalogue import Task, Use, select
from mlmkit.exceptions import StateError
from mlmkit.services.jobs import _tuning
from mlmkit.services.jobs._drift import data_drift_step
from mlmkit.services.jobs._scoped import scoped_for_each
from mlmkit.services.jobs._snapshots import snapshot_values
from mlmkit.services.log import retention_floor
from mlmkit.store import jobs as _sql
from mlmkit.values import ModelMetadata, TimeRange, parse_window, resolve_range

if TYPE_CHECKING:
    from mlmkit.services.experiments.ab_test import ABTestingService
    from mlmkit.services.experiments.rollout import Rollout
    from mlmkit.services.monitor.service import PerformanceMonitor
    from mlmkit.services.tuning.engine import AutoTuningEngine
    from mlmkit.workspace import Workspace

_T = TypeVar("_T")
_O = TypeVar("_O")

#: What the performance-monitoring job snapshots of a binary model: every metric the monitor
#: reports per binary window (other tasks snapshot what their window reports, see _snapshots).
PERFORMANCE_METRICS = select(use=Use.WINDOW, task=Task.BINARY)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _ContextAdapter(logging.LoggerAdapter):
    """A LoggerAdapter that merges its context into each call's ``extra``."""

    def process(self, msg: object, kwargs: MutableMapping[str, object]
                ) -> tuple[object, MutableMapping[str, object]]:
        extra = kwargs.get("extra")
        kwargs["extra"] = {**(self.extra or {}), **(extra if isinstance(extra, Mapping) else {})}
        return msg, kwargs


class JobContext:
    """What a job body gets: the workspace, the run's time, a logger and outcome counters."""

    def __init__(self, ws: Workspace, job: str, run_id: int, now: datetime,
                 logger: logging.Logger) -> None:
        self.ws = ws
        self.job = job
        self.run_id = run_id
        self.now = now
        self._logger = logger
        self.log = _ContextAdapter(logger, {"job": job, "run_id": run_id})
        self.processed = 0
        self.changed = 0
        self.failed = 0
        self.first_error: str | None = None
        self.items: list[JSONObject] = []
        self.details: JSONObject = {}

    def model_log(self, model_name: str, version: str) -> logging.LoggerAdapter:
        """A logger carrying job, run, model and version context."""
        return _ContextAdapter(self._logger, {"job": self.job, "run_id": self.run_id,
                                              "model": model_name, "version": version})

    def _service(self, attr: str, get: Callable[[], _T]) -> _T:
        """Return ``get()`` (``ws.<attr>``); a service that fails to import is reported."""
        try:
            return get()
        except ImportError as err:
            raise StateError(f"job {self.job} needs the ws.{attr} service: {err}") from err

    @property
    def monitor(self) -> PerformanceMonitor:
        """The workspace's performance monitor."""
        return self._service("monitor", lambda: self.ws.monitor)

    @property
    def tuning(self) -> AutoTuningEngine:
        """The workspace's tuning engine."""
        return self._service("tuning", lambda: self.ws.tuning)

    @property
    def ab(self) -> ABTestingService:
        """The workspace's A/B testing service."""
        return self._service("ab", lambda: self.ws.ab)

    def production(self) -> list[ModelMetadata]:
        """Every version deployed to production."""
        return list(self.ws.registry.get_production_models())

    def for_each(self, models: Iterable[ModelMetadata],
                 body: Callable[[ModelMetadata, logging.LoggerAdapter], JSONObject]) -> None:
        """Run ``body`` per model; a failure is recorded and logged, the others still run."""
        self.for_each_entry(((m.model_name, str(m.version), m) for m in models), body)

    def for_each_entry(self, entries: Iterable[tuple[str, str, _O]],
                       body: Callable[[_O, logging.LoggerAdapter], JSONObject]) -> None:
        """`for_each` over ``(model_name, version, obj)`` triples (``body`` gets ``obj``)."""
        for name, version, obj in entries:
            log = self.model_log(name, version)
            item: JSONObject = {"model_name": name, "version": version}
            self.processed += 1
            try:
                item.update(body(obj, log))
            except Exception as err:
                self.failed += 1
                message = f"{type(err).__name__}: {err}"
                self.first_error = self.first_error or f"{name} {version}: {message}"
                item.update(status="error", error=message)
                log.exception("%s failed for %s %s: %s", self.job, name, version, message)
            else:
                if item.get("status") == "changed":
                    self.changed += 1
                log.info("%s %s %s: %s", self.job, name, version, item.get("status", "ok"))
            self.items.append(item)


def floor_time(at: datetime, period: timedelta) -> datetime:
    """The start of the period containing ``at`` (periods aligned to the Unix epoch)."""
    seconds = period.total_seconds()
    return _EPOCH + timedelta(seconds=math.floor((at - _EPOCH).total_seconds() / seconds)
                              * seconds)


def _snapshot_rows(ctx: JobContext, meta: ModelMetadata, period_start: datetime,
                   span: TimeRange, values: Mapping[str, float | None]) -> list[dict[str, object]]:
    return [{"job": ctx.job, "period_start": period_start, "model_name": meta.model_name,
             "version": str(meta.version), "environment": meta.environment or "none",
             "metric": metric, "value": value, "window_start": span.start,
             "window_end": span.end, "created_at": ctx.now} for metric, value in values.items()]


def _done_keys(ctx: JobContext, period_start: datetime) -> set[tuple[str, str, str]]:
    frame = _sql.snapshots(ctx.ws.db, job=ctx.job, since=period_start)
    frame = frame.filter(frame["period_start"] == period_start)
    return {(r["model_name"], r["version"], r["environment"]) for r in frame.iter_rows(named=True)}


def _key(meta: ModelMetadata) -> tuple[str, str, str]:
    return meta.model_name, str(meta.version), meta.environment or "none"


# ----------------------------------------------------------------------------- jobs
def performance_monitoring(ctx: JobContext, *, window: str | timedelta = "1h",
                           period: str | timedelta = "5m") -> None:
    """Metrics of every production model over ``window`` into ``metric_snapshots``.

    One snapshot per model and ``period``: a second run in the same period is a no-op. First
    the regression days a replaced label made stale are rebuilt.
    """
    span = resolve_range(window, now=ctx.now)
    period_start = floor_time(ctx.now, parse_window(period, "period"))
    monitor = ctx.monitor
    monitor.rebuild_regression_days()
    done = _done_keys(ctx, period_start)

    def body(meta: ModelMetadata, log: logging.LoggerAdapter) -> JSONObject:
        if _key(meta) in done:
            return {"status": "skipped", "reason": "snapshot exists for this period"}
        metrics = monitor.get_current_metrics(meta.model_name, meta.version,
                                              start=span.start, end=span.end, ci=False)
        values = snapshot_values(metrics, PERFORMANCE_METRICS)
        added = _sql.insert_snapshots(ctx.ws.db, _snapshot_rows(ctx, meta, period_start, span,
                                                                values))
        log.info("snapshot %s %s: accuracy=%s n=%s", meta.model_name, meta.version,
                 values.get("accuracy"), values.get("sample_count"))
        return {"status": "changed" if added else "skipped", "rows": added}

    scoped_for_each(ctx, ctx.production(), monitor.engine, span, body)


def degradation_check(ctx: JobContext, *, threshold_percent: float = 0.05,
                      metric: str | None = None, window: str | timedelta = "24h",
                      baseline: object = None, alpha: float = 0.01) -> None:
    """Degradation of every production model against its baseline; alerts on degradation.

    ``metric=None`` judges each model on its task's default metric (accuracy for binary and
    multiclass, mae for regression, flag_rate for score-only). The monitor fires the
    ``degradation`` alert through ``ws.alerts`` with a de-duplication key, so a second run
    right after raises nothing new. ``alpha`` is the level at which every model's
    worsening must also be significant: the check runs every hour, so 0.01 rather than 0.05.
    """
    check_real("threshold_percent", threshold_percent, low=0.0, low_open=True)
    span = resolve_range(window, now=ctx.now)
    monitor = ctx.monitor

    def body(meta: ModelMetadata, log: logging.LoggerAdapter) -> JSONObject:
        info = monitor.get_performance_degradation_info(
            meta.model_name, meta.version, threshold_percent, metric=metric, start=span.start,
            end=span.end, baseline=baseline, alpha=alpha, alert=True)
        severity = str(info.severity)
        item: JSONObject = {"severity": severity,
                            "degradation_percent": info.degradation_percent,
                            "insufficient": bool(info.insufficient)}
        if info.insufficient:  # the monitor cannot tell: nothing judged, nothing alerted
            return {**item, "status": "skipped", "reason": "insufficient labels to judge"}
        if not info.has_degraded:
            return {**item, "status": "ok"}
        new = info.alert_id is not None  # None: de-duplicated against an open alert
        log.warning("%s %s: %s degraded by %.2f%% (severity %s)%s", meta.model_name,
                    meta.version, info.metric, info.degradation_percent or 0.0, severity,
                    "" if new else " (alert already open)",
                    extra={"severity": severity, "alert_id": info.alert_id})
        return {**item, "status": "changed" if new else "unchanged",
                "alert_id": info.alert_id}

    ctx.for_each(ctx.production(), body)


def auto_tuning(ctx: JobContext, *, metric: str = "f1_score",
                threshold_range: tuple[float, float] = (0.5, 0.9), step: float = 0.05,
                window: str | timedelta = "7d", minimum_improvement: float = 3.0,
                min_samples: int = 100, holdout: float = 0.3, action: str = "rollout",
                deploy: bool | None = None) -> None:
    """Threshold grid search per production model, confirmed on held-out later rows.

    The threshold is tuned on the earlier ``1 - holdout`` of the window's labelled rows (by
    time) and must beat the current one on the later ``holdout`` too: by at least
    ``minimum_improvement`` percent (the seed's 3 %) with a bootstrap interval above 0, on
    both parts. Then a new patch version (``ws.tuning.apply``) is registered and, never
    deployed directly, ``action="rollout"`` starts a guarded gradual rollout to it (canary at
    10 %, advanced by ``rollout-advancement``) while ``action="propose"`` only raises an
    ``info`` alert. ``deploy`` is deprecated (``True`` is ``action="rollout"``, ``False``
    ``"propose"``). Skipped: fewer than ``min_samples`` labelled rows, a rollout of the model
    running, or the patch version already registered (so a second run is a no-op). See
    `mlmkit.services.jobs._tuning`.
    """
    check_real("minimum_improvement", minimum_improvement, low=0.0)
    check_int("min_samples", min_samples, low=1)
    holdout = check_real("holdout", holdout, low=0.0, high=1.0, low_open=True, high_open=True)
    if deploy is not None:
        action = "rollout" if deploy else "propose"
        note = (f"auto-tuning option deploy={deploy!r} is deprecated: it never deploys "
                f"directly any more; use action={action!r}")
        warnings.warn(note, DeprecationWarning, stacklevel=2)
        ctx.log.warning(note)
        ctx.details["deprecation"] = note
    action = check_choice("action", action, _tuning.ACTIONS)
    span = resolve_range(window, now=ctx.now)
    tuning = ctx.tuning  # a missing service fails the run, not each model

    def body(meta: ModelMetadata, log: logging.LoggerAdapter) -> JSONObject:
        return _tuning.tune_model(ctx, tuning, meta, log, metric=metric,
                                  threshold_range=threshold_range, step=step, span=span,
                                  minimum_improvement=minimum_improvement,
                                  min_samples=min_samples, holdout=holdout, action=action)

    ctx.for_each(ctx.production(), body)


def drift_detection(ctx: JobContext, *, window: str | timedelta = "24h",
                    reference: str | timedelta = "7d", period: str | timedelta = "1d",
                    min_samples: int = 100, min_effect: float = 0.1,
                    concept_alpha: float = 1e-4) -> None:
    """Concept and data drift of every production model: a snapshot per period, alerts.

    Concept drift runs the monitor's streaming detectors over the window's labelled error
    stream (a ``drift`` alert when found); data drift compares the window's logged features
    with the ``reference`` span before it (``drift_share`` = share of drifted features),
    when both sides hold at least ``min_samples`` predictions, and raises a ``data_drift``
    alert when a feature's values drifted with an effect of at least ``min_effect`` or its
    missing share drifted (the rule and its false-alarm rationale:
    `mlmkit.services.jobs._drift`).

    ``concept_alpha`` is the level of the concept-drift window test (the monitor's interactive
    default is 0.01, kept). A daily job makes 365 tests a year per model: at 0.01 that is
    about four false alarms a year per model, at 0.001 one in three years per model (still
    one every few months for a fleet of ten), at 1e-4 one in 27 years. The simulated
    stationary fortnight of ``tests/services/test_drift_alerts.py`` raised one at 0.01 and
    one at 0.001 (a day whose second half erred 16.9 % against 13.7 %, p = 0.00096). At
    5,000 labels a day 1e-4 still flags a rise of the error rate of about 4 points (15 % ->
    19 %) between the two halves of the day; the streaming detectors (DDM, ADWIN,
    Page-Hinkley, default settings, unchanged) catch larger and sustained changes, and none of
    them fired on 200 simulated stationary streams of 5,000 labels.
    """
    check_int("min_samples", min_samples, low=1)
    floor = check_real("min_effect", min_effect, low=0.0)
    concept_alpha = check_real("concept_alpha", concept_alpha, low=0.0, high=1.0,
                               low_open=True, high_open=True)
    span = resolve_range(window, now=ctx.now)
    ref = resolve_range(reference, now=span.start, name="reference")
    period_start = floor_time(ctx.now, parse_window(period, "period"))
    monitor = ctx.monitor
    done = _done_keys(ctx, period_start)

    def body(meta: ModelMetadata, log: logging.LoggerAdapter) -> JSONObject:
        if _key(meta) in done:
            return {"status": "skipped", "reason": "snapshot exists for this period"}
        # concept drift watches the error stream; a score-only model has no errors to watch
        result = None if meta.task is Task.SCORE_ONLY else monitor.detect_concept_drift(
            meta.model_name, meta.version, start=span.start, end=span.end,
            alpha=concept_alpha, alert=True)
        drifted = bool(result)
        values: dict[str, float | None] = {} if result is None else {
            "concept_drift": float(drifted)}
        values.update(data_drift_step(ctx, monitor, meta, ref, span, min_samples,
                                      min_effect=floor))
        added = _sql.insert_snapshots(ctx.ws.db, _snapshot_rows(ctx, meta, period_start, span,
                                                                values))
        if result is not None and drifted:
            log.warning("concept drift detected for %s %s (%s)", meta.model_name,
                        meta.version, result.detector)
        return {"status": "changed" if added else "skipped", "concept_drift": drifted,
                "drift_share": values.get("drift_share")}

    ctx.for_each(ctx.production(), body)


def retention(ctx: JobContext, *, days: float = 30, snapshot_days: float = 90,
              run_days: float = 90) -> None:
    """Delete predictions older than ``days``, snapshots and job runs past their retention.

    Predictions go as ``ws.log.apply_retention`` removes them: whole UTC days (the cut-off
    floored to midnight), each replaced by its daily summary in the same transaction.
    """
    spans = {"predictions": check_real("days", days, low=0.0, low_open=True),
             "snapshots": check_real("snapshot_days", snapshot_days, low=0.0, low_open=True),
             "job_runs": check_real("run_days", run_days, low=0.0, low_open=True)}
    removed: dict[str, int] = {}
    for key, span in spans.items():
        cutoff = ctx.now - timedelta(days=span)
        if key == "predictions":
            cutoff = retention_floor(ctx.now, span)
            removed[key] = ctx.ws.log.apply_retention(span, now=ctx.now)
        elif key == "snapshots":
            removed[key] = _sql.delete_snapshots_before(ctx.ws.db, cutoff)
        else:
            removed[key] = _sql.delete_runs_before(ctx.ws.db, cutoff)
        ctx.processed += 1
        ctx.changed += int(removed[key] > 0)
        ctx.items.append({"table": key, "removed": removed[key], "cutoff": cutoff.isoformat()})
    ctx.log.info("retention removed %s", removed)
    ctx.details["removed"] = {**removed}


def rollout_advancement(ctx: JobContext) -> None:
    """Advance every running gradual rollout (``Rollout.advance``): step, hold or roll back.

    A step younger than its ``min_duration`` holds, so a second run right after changes
    nothing. Each model's newest finished rollout is reconciled first
    ([`Rollout.reconcile`][mlmkit.services.experiments.Rollout.reconcile]: a crash between
    two steps is repaired on the next run).
    """
    ab = ctx.ab
    rollouts = ab.rollouts()
    running = [r for r in rollouts if r.status == "running"]
    newest = {r.model_name: r for r in rollouts}  # oldest first: the last one wins
    for rollout in newest.values():  # repair a finished rollout a crash left half-applied
        if rollout.status != "running" and (repaired := rollout.reconcile()):
            ctx.changed += 1
            ctx.items.append({"rollout_id": rollout.rollout_id, "status": "changed",
                              "action": "reconcile", "reason": "; ".join(repaired)})
            ctx.log.warning("rollout %s of %s reconciled: %s", rollout.rollout_id,
                            rollout.model_name, "; ".join(repaired))

    def body(rollout: Rollout, log: logging.LoggerAdapter) -> JSONObject:
        decision = rollout.advance(now=ctx.now)
        action = str(decision.action)
        item: JSONObject = {"rollout_id": rollout.rollout_id, "action": action,
                            "share_b": decision.share_b, "reason": decision.reason}
        if action == "hold":
            return {**item, "status": "unchanged"}
        level = logging.ERROR if action == "rollback" else logging.WARNING
        log.log(level, "rollout %s of %s: %s to share %s (%s)", rollout.rollout_id,
                rollout.model_name, action, item["share_b"], item["reason"])
        return {**item, "status": "changed"}

    ctx.for_each_entry([(r.model_name, str(r.version_b), r) for r in running], body)


def alert_delivery(ctx: JobContext, *, max_attempts: int | None = None,
                   retry_backoff: str | timedelta | None = None, limit: int = 1000) -> None:
    """Retry undelivered (alert, sink) pairs whose back-off has passed.

    Uses the sinks configured on ``ws.alerts`` in this process; a pair whose sink is not
    configured here counts as a failed attempt. Each failure moves the next attempt by
    exponential back-off; after ``max_attempts`` (default: the service's) the pair is
    ``failed``. A second run right after sends nothing (nothing is due), and a run with
    nothing pending is ``ok`` with ``processed = 0``.
    """
    report = ctx.ws.alerts.deliver_pending(now=ctx.now, max_attempts=max_attempts,
                                           retry_backoff=retry_backoff,
                                           limit=check_int("limit", limit, low=1))
    ctx.processed += report.attempted
    ctx.changed += report.sent
    ctx.failed += report.failed
    if report.first_error is not None:
        ctx.first_error = ctx.first_error or report.first_error
    ctx.items.extend(report.items)
    ctx.details["delivery"] = report.to_dict()
    ctx.log.info("alert delivery: %d attempted, %d sent, %d failed (%d given up)",
                 report.attempted, report.sent, report.failed, report.gave_up)
