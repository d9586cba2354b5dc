"""A long-running scheduler for the jobs (``mlmkit jobs schedule``), on APScheduler 3.

Every job runs with the seed's cadence (see `mlmkit.services.jobs.JOBS`) unless a TOML
file overrides it::

    timezone = "UTC"                     # cron expressions are read in this zone

    [jobs.performance-monitoring]
    cron = "*/5 * * * *"                 # standard crontab expression (mlmkit.ops.cron), or
    # interval = "30s"                   # a duration ("30s", "5m", "1h")
    options = { window = "1h" }          # keyword options of the job function

    [jobs.auto-tuning]
    enabled = false

Cron expressions have standard (Vixie) cron semantics, computed by
`mlmkit.ops.cron.next_fire_times` (0 and 7 are Sunday), not by
APScheduler's own cron syntax, which numbers weekdays from Monday. Each run opens the workspace,
runs the job, and closes it, so the scheduler holds the file only while a job works; runs of one job
never overlap (``max_instances=1``) and missed runs coalesce. SIGTERM / SIGINT stop it cleanly: a
running job finishes first.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from mlmkit._lazy import require
from mlmkit._validation import check_type, invalid
from mlmkit.exceptions import MlmkitError
from mlmkit.ops.cron import CronSchedule, next_fire_times, parse_cron
from mlmkit.services.jobs.runner import JOBS, resolve_job, run_job
from mlmkit.values import parse_window

__all__ = ["JobSchedule", "build_scheduler", "load_schedule", "next_fire_times",
           "run_scheduler"]

logger = logging.getLogger("mlmkit.ops.scheduler")
_TICK = timedelta(microseconds=1)  # APScheduler asks for a time at or after ``now``


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
    tz = check_type("timezone", data.get("timezone", "UTC"), str, "an IANA time zone name")
    parse_cron("* * * * *", tz)  # check the zone once
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
            parse_cron(cron, tz, name=f"jobs.{name}.cron")
            plan.append(JobSchedule(name, cron, None, options))
    return plan, tz


def _apscheduler() -> Any:
    return require("apscheduler.schedulers.background", "ops").BackgroundScheduler


def _cron_trigger(schedule: CronSchedule) -> Any:
    """An APScheduler 3 trigger firing at ``schedule``'s standard cron times."""
    from apscheduler.triggers.base import BaseTrigger

    class StandardCronTrigger(BaseTrigger):
        def get_next_fire_time(self, previous_fire_time: datetime | None,
                               now: datetime) -> datetime:
            # APScheduler's contract: the first fire at or after min(now, previous + tick)
            after = now - _TICK
            if previous_fire_time is not None:
                after = previous_fire_time if now == previous_fire_time else min(
                    after, previous_fire_time)
            return schedule.next_after(after)

        def __str__(self) -> str:
            return f"cron[{schedule.expr}]"

    return StandardCronTrigger()


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
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler_cls = _apscheduler()
    plan, tz = load_schedule(config)
    scheduler = scheduler_cls(timezone=tz, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    for item in plan:
        trigger = (IntervalTrigger(seconds=item.interval_s, timezone=tz)
                   if item.cron is None else _cron_trigger(parse_cron(item.cron, tz)))
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
