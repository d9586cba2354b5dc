"""Scheduled jobs as plain functions over a workspace, each run journaled in ``job_runs``.

The seed's four scheduler jobs plus three housekeeping ones:

======================== =================== =================================================
job                      default cadence     what it does
======================== =================== =================================================
performance-monitoring   ``*/5 * * * *``     metrics of every production model → snapshots
degradation-check        ``0 * * * *``       degradation vs baseline → alerts
auto-tuning              ``0 2 * * 0``       threshold grid search → new patch version
drift-detection          ``0 3 * * *``       concept + data drift → snapshots and alerts
retention                ``30 3 * * *``      delete old predictions, snapshots and runs
rollout-advancement      ``*/5 * * * *``     advance (or roll back) gradual rollouts
alert-delivery           ``* * * * *``       retry undelivered alerts (back-off, attempt cap)
======================== =================== =================================================

[`run_job`][mlmkit.services.jobs.run_job] records the start, end, status (``ok``, ``partial``
when some models failed, ``error`` when the job itself failed) and error text of each run. Every job
is idempotent: a second run in the same period writes nothing new. One model's failure is recorded
and logged with its model/version context; the other models still run.

Examples
--------
>>> import mlmkit
>>> from mlmkit.services.jobs.runner import run_job
>>> with mlmkit.open() as ws:
...     run = run_job(ws, "retention")
...     run.status, run.processed
('ok', 3)
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import socket
import traceback
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from mlmkit._faults import fault_point
from mlmkit._html import dict_table
from mlmkit._jsonable import JSONObject, JSONValue
from mlmkit._validation import invalid
from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.services.jobs import bodies as _jobs
from mlmkit.services.jobs.bodies import JobContext
from mlmkit.store import jobs as _sql
from mlmkit.values import utc, utcnow

if TYPE_CHECKING:
    from mlmkit.workspace import Workspace

__all__ = ["CRASH_GRACE", "JOBS", "Job", "JobRun", "close_crashed_runs", "job_history",
           "job_names", "job_summary", "resolve_job", "run_job", "snapshots"]

logger = logging.getLogger("mlmkit.jobs")

#: A ``running`` run older than this is closed as crashed whatever its host (see
#: `close_crashed_runs`); on the same host a run whose process is gone is closed at once.
CRASH_GRACE = timedelta(hours=6)


@dataclasses.dataclass(frozen=True)
class Job:
    """A named job: its function, default cron cadence and a one-line description.

    ``func(ctx)`` runs the job; its options are keyword-only with defaults, and
    [`run_job`][mlmkit.services.jobs.run_job] checks the options it passes against ``func``'s
    signature.
    """

    name: str
    func: Callable[[JobContext], None]
    cron: str
    description: str


JOBS: Mapping[str, Job] = {j.name: j for j in (
    Job("performance-monitoring", _jobs.performance_monitoring, "*/5 * * * *",
        "metrics of every production model into metric_snapshots"),
    Job("degradation-check", _jobs.degradation_check, "0 * * * *",
        "performance degradation against the baseline; raises alerts"),
    Job("auto-tuning", _jobs.auto_tuning, "0 2 * * 0",
        "threshold optimisation, applied as a new patch version above the minimum improvement"),
    Job("drift-detection", _jobs.drift_detection, "0 3 * * *",
        "concept and data drift of every production model; snapshots and alerts"),
    Job("retention", _jobs.retention, "30 3 * * *",
        "delete predictions, snapshots and job runs past their retention"),
    Job("rollout-advancement", _jobs.rollout_advancement, "*/5 * * * *",
        "advance (or roll back) active gradual rollouts"),
    Job("alert-delivery", _jobs.alert_delivery, "* * * * *",
        "retry undelivered (alert, sink) pairs with exponential back-off and an attempt cap"),
)}


def job_names() -> list[str]:
    """Names of every job, in cadence-table order.

    Examples
    --------
    >>> job_names()[:2]
    ['performance-monitoring', 'degradation-check']
    """
    return list(JOBS)


def resolve_job(name: str) -> Job:
    """Find a job by name; ``ml-`` prefixes and underscores are accepted (seed names).

    Examples
    --------
    >>> resolve_job("ml_drift_detection").name
    'drift-detection'
    """
    key = str(name).strip().lower().replace("_", "-")
    key = key.removeprefix("ml-")
    if key not in JOBS:
        raise invalid("name", f"one of {', '.join(JOBS)}", name)
    return JOBS[key]


@dataclasses.dataclass(frozen=True)
class JobRun:
    """The outcome of one job run (also stored in ``job_runs``)."""

    job: str
    run_id: int
    status: str
    started_at: datetime
    finished_at: datetime
    processed: int
    changed: int
    failed: int
    error: str | None
    items: tuple[Mapping[str, JSONValue], ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the run finished without any failure."""
        return self.status == "ok"

    @property
    def duration_s(self) -> float:
        """Wall-clock seconds the run took."""
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> JSONObject:
        """Return a JSON-friendly dict."""
        return {"job": self.job, "run_id": self.run_id, "status": self.status,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat(), "duration_s": self.duration_s,
                "processed": self.processed, "changed": self.changed, "failed": self.failed,
                "error": self.error, "items": [dict(i) for i in self.items]}

    def _repr_html_(self) -> str:
        data = self.to_dict()
        data.pop("items")
        return dict_table(data, title=f"job {self.job} #{self.run_id}")


def run_job(ws: Workspace, name: str, *, now: datetime | None = None,
            **options: object) -> JobRun:
    """Run one job now, journal it in ``job_runs`` and return the `JobRun`.

    Parameters
    ----------
    ws
        The workspace.
    name
        A job name from `JOBS` (``ml-`` prefixes and underscores accepted).
    now
        The time the run counts as (UTC); defaults to the wall clock. Periods, windows and
        retention cut-offs are computed from it.
    **options
        Keyword options of the job function (e.g. ``window="1h"`` or ``days=30``).

    Returns
    -------
    JobRun
        ``status`` is ``ok``, ``partial`` (some models failed; see ``items``) or ``error``
        (the job could not run, e.g. a service is missing; see ``error``). The job never
        raises for a failure it recorded; bad ``options`` raise before a run is recorded.
    """
    job = resolve_job(name)
    if not hasattr(ws, "db"):
        raise invalid("ws", "a Workspace (mlmkit.open(...))", ws)
    try:
        inspect.signature(job.func).bind(None, **options)
    except TypeError as err:
        raise invalid("options", f"keyword options of job {job.name!r} ({err})",
                      options) from err
    started = utcnow()
    at = started if now is None else utc(now, "now")
    close_crashed_runs(ws, job.name, now=started)
    run_id = _sql.start_run(ws.db, job.name, started_at=started)
    fault_point("job.run.after_start")
    ctx = JobContext(ws, job.name, run_id, at, logger)
    error: str | None = None
    try:
        with warnings.catch_warnings():
            # a window without both classes is normal with delayed labels: the job records
            # NaN for the undefined metrics; the warning would only flood scheduler logs
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            job.func(ctx, **options)
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
        ctx.log.error("job %s failed: %s", job.name, error,
                      extra={"traceback": traceback.format_exc()})
    fault_point("job.run.before_finish")
    status = "error" if error else ("partial" if ctx.failed else "ok")
    return _finish(ws, ctx, job.name, run_id, started, status, error)


def close_crashed_runs(ws: Workspace, name: str, *, now: datetime | None = None,
                       grace: timedelta = CRASH_GRACE) -> list[int]:
    """Close the runs of job ``name`` that a killed process left ``running``; their ids.

    A run is crashed when its process (same host) is gone, or, whatever its host, when it
    started more than ``grace`` before ``now``. It is closed with status ``failed`` and
    the error ``crashed: ...``, so health checks and the journal never show a run that will
    not finish. [`run_job`][mlmkit.services.jobs.run_job] calls this before each run of that
    job.
    """
    at = utcnow() if now is None else utc(now, "now")
    host, closed = socket.gethostname(), []
    for run_id, started_at, run_host, pid in _sql.running_runs(ws.db, resolve_job(name).name):
        gone = run_host == host and pid is not None and not _alive(pid)
        if not gone and at - started_at <= grace:
            continue
        why = "its process ended" if gone else f"still running after {grace}"
        _sql.finish_run(ws.db, run_id, status="failed", finished_at=at,
                        error=f"crashed: {why} without finishing (pid {pid} on {run_host})")
        logger.error("job %s run %d crashed (%s); closed as failed", name, run_id, why)
        closed.append(run_id)
    return closed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _finish(ws: Workspace, ctx: JobContext, job: str, run_id: int, started: datetime,
            status: str, error: str | None) -> JobRun:
    finished = utcnow()
    if error is None and ctx.failed:
        error = f"{ctx.failed} model(s) failed; first: {ctx.first_error}"
    _sql.finish_run(ws.db, run_id, status=status, finished_at=finished, error=error,
                    processed=ctx.processed, changed=ctx.changed, failed=ctx.failed,
                    details={"items": ctx.items, **ctx.details})
    run = JobRun(job, run_id, status, started, finished, ctx.processed, ctx.changed,
                 ctx.failed, error, tuple(ctx.items))
    level = logging.INFO if status == "ok" else logging.ERROR
    ctx.log.log(level, "job %s finished: %s (processed=%d changed=%d failed=%d, %.3f s)",
                job, status, run.processed, run.changed, run.failed, run.duration_s)
    return run


def job_history(ws: Workspace, name: str | None = None, *, limit: int | None = None
                ) -> pl.DataFrame:
    """Recorded runs, newest first (optionally of one job)."""
    job = None if name is None else resolve_job(name).name
    return _sql.runs(ws.db, job=job, limit=limit)


def job_summary(ws: Workspace) -> pl.DataFrame:
    """One row per job that ever ran: last status, error, duration and last success."""
    return _sql.job_summary(ws.db)


def snapshots(ws: Workspace, *, model_name: str | None = None, metric: str | None = None,
              job: str | None = None, latest: bool = False) -> pl.DataFrame:
    """Metric snapshots written by the jobs (long format: one row per metric)."""
    return _sql.snapshots(ws.db, job=None if job is None else resolve_job(job).name,
                          model_name=model_name, metric=metric, latest=latest)
