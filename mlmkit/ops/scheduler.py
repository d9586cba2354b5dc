"""A long-running scheduler for the jobs (``mlmkit jobs schedule``), on APScheduler 3.

Every job runs with the seed's cadence (see :data:`mlmkit.services.jobs.JOBS`) unless a TOML
file overrides it::

    timezone = "UTC"                     # cron expressions are read in this zone

    [jobs.performance-monitoring]
    cron = "*/5 * * * *"                 # five-field crontab expression, or
    # interval = "30s"                   # a duration ("30s", "5m", "1h")
    options = { window = "1h" }          # keyword options of the job function

    [jobs.auto-tuning]
    enabled = false

Each run opens the workspace, runs the job, and closes it, so the scheduler holds the file
only while a job works; runs of one job never overlap (``max_instances=1``) and missed runs
coalesce. SIGTERM / SIGINT stop it cleanly: a running job finishes first.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import tomllib
from collections.abc import Mapping
from typing import Any

from mlmkit._validation import check_type, invalid
from mlmkit.exceptions import DependencyError, MlmkitError
from mlmkit.services.jobs.runner import JOBS, resolve_job, run_job
from mlmkit.values import parse_window

__all__ = ["JobSchedule", "build_scheduler", "load_schedule", "run_scheduler"]

logger = logging.getLogger("mlmkit.ops.scheduler")


@dataclasses.dataclass(frozen=True)
class JobSchedule:
    """When one job runs: a cron expression or an interval in seconds, plus its options."""

    job: str
    cron: str | None = None
    interval_s: float | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {"job": self.job, "cron": self.cron, "interval_s": self.interval_s,
                "options": dict(self.options)}


def load_schedule(config: str | os.PathLike[str] | Mapping[str, Any] | None = None
                  ) -> tuple[list[JobSchedule], str]:
    """Read the schedule (defaults overridden by a TOML file or mapping) and the time zone.

    Examples
    --------
    >>> plan, tz = load_schedule({"jobs": {"retention": {"interval": "10s"},
    ...                                    "auto-tuning": {"enabled": False}}})
    >>> [(s.job, s.cron, s.interval_s) for s in plan if s.job in ("retention", "drift-detection")]
    [('drift-detection', '0 3 * * *', None), ('retention', None, 10.0)]
    >>> "auto-tuning" in [s.job for s in plan], tz
    (False, 'UTC')
    """
    data: Mapping[str, Any]
    if config is None:
        data = {}
    elif isinstance(config, Mapping):
        data = config
    else:
        with open(config, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as err:
                raise invalid("config", "a valid TOML file", os.fspath(config)) from err
    overrides = check_type("jobs", data.get("jobs", {}), dict, "a table of job tables")
    resolved = {resolve_job(name).name: check_type(f"jobs.{name}", spec, dict, "a table")
                for name, spec in overrides.items()}
    plan = []
    for name, job in JOBS.items():
        spec = resolved.get(name, {})
        if not spec.get("enabled", True):
            continue
        options = check_type(f"jobs.{name}.options", spec.get("options", {}), dict, "a table")
        if "interval" in spec:
            seconds = parse_window(spec["interval"], f"jobs.{name}.interval").total_seconds()
            plan.append(JobSchedule(name, None, seconds, options))
        else:
            cron = spec.get("cron", job.cron)
            if not isinstance(cron, str) or len(cron.split()) != 5:
                raise invalid(f"jobs.{name}.cron", "a five-field crontab expression", cron)
            plan.append(JobSchedule(name, cron, None, options))
    return plan, str(data.get("timezone", "UTC"))


def _apscheduler() -> Any:
    try:
        from apscheduler.schedulers.background import BackgroundScheduler
    except ImportError as err:
        raise DependencyError("the scheduler needs APScheduler 3; install it with: "
                              "pip install 'mlmkit[ops]'") from err
    return BackgroundScheduler


def _run_once(path: str, name: str, options: Mapping[str, Any]) -> None:
    from mlmkit.workspace import open_workspace

    try:
        with open_workspace(path) as ws:
            run = run_job(ws, name, **options)
    except MlmkitError as err:  # e.g. LockedError: nothing written; the next tick retries
        logger.error("job %s could not run: %s", name, err, extra={"job": name})
        return
    logger.info("job %s: %s", name, run.status, extra={"job": name, "run_id": run.run_id})


def build_scheduler(path: str | os.PathLike[str],
                    config: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> Any:
    """A configured (not started) APScheduler ``BackgroundScheduler`` for the workspace."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler_cls = _apscheduler()
    plan, tz = load_schedule(config)
    scheduler = scheduler_cls(timezone=tz, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    for item in plan:
        trigger = (IntervalTrigger(seconds=item.interval_s, timezone=tz)
                   if item.interval_s is not None else CronTrigger.from_crontab(item.cron,
                                                                               timezone=tz))
        scheduler.add_job(_run_once, trigger, args=[os.fspath(path), item.job,
                                                    dict(item.options)],
                          id=item.job, name=item.job)
    return scheduler


def run_scheduler(path: str | os.PathLike[str],
                  config: str | os.PathLike[str] | Mapping[str, Any] | None = None, *,
                  stop: threading.Event | None = None) -> None:
    """Run the scheduler until SIGTERM / SIGINT (or ``stop`` is set); then stop cleanly."""
    from mlmkit.workspace import open_workspace

    open_workspace(path).close()  # create / migrate the file once, up front
    scheduler = build_scheduler(path, config)
    event = stop or threading.Event()

    def handle(signum: int, frame: Any) -> None:
        logger.info("signal %s: stopping the scheduler", signum)
        event.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
    scheduler.start()
    for job in scheduler.get_jobs():
        logger.info("scheduled %s: %s", job.id, job.trigger, extra={"job": job.id})
    print(f"mlmkit: scheduler running {len(scheduler.get_jobs())} job(s)", flush=True)
    while not event.wait(0.5):
        pass
    scheduler.shutdown(wait=True)
    logger.info("scheduler stopped")
    print("mlmkit: scheduler stopped", flush=True)
