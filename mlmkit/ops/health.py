"""Health checks of a workspace: liveness, readiness and a detailed JSON report.

=================== ======= ==================================================================
endpoint            status  meaning
=================== ======= ==================================================================
``/health/live``    200     the process answers (no I/O)
``/health/ready``   200     the workspace file opens and its schema is this mlmkit's
                    503     missing, unreadable, truncated (shorter than the blocks its
                            header uses), locked, not mlmkit's, or a newer/older schema
``/health``         200     report: database, last run/status of each job, open critical
                            alerts, staleness of the newest prediction (``status`` is
                            ``ok`` or ``degraded``)
                    503     the database part failed (``status`` is ``error``)
=================== ======= ==================================================================

Each check opens the file briefly and closes it again (see
[`generate_metrics`][mlmkit.ops.generate_metrics]).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mlmkit._html import dict_table
from mlmkit.exceptions import MlmkitError
from mlmkit.ops._access import check_schema_current, short_db
from mlmkit.store import jobs as _sql
from mlmkit.store import migrations
from mlmkit.store.database import Database
from mlmkit.values import WindowLike, parse_window, utcnow

__all__ = ["HealthResult", "health_report", "liveness", "readiness"]


Via = Callable[[Callable[[Database], Any]], Any]
"""``via(read)``: run ``read(db)`` on an open database and return its result."""


@dataclasses.dataclass(frozen=True)
class HealthResult:
    """An HTTP status code and the JSON body of a health endpoint."""

    status_code: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the check passed (status 200)."""
        return self.status_code == 200

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"status_code": ..., **body}``."""
        return {"status_code": self.status_code, **self.body}

    def _repr_html_(self) -> str:
        return dict_table(self.to_dict(), title="health")


def liveness() -> HealthResult:
    """The process is up.

    Examples
    --------
    >>> liveness().status_code
    200
    """
    return HealthResult(200, {"status": "ok"})


def readiness(path: str | os.PathLike[str], *, lock_timeout: float = 5.0) -> HealthResult:
    """200 when the workspace file opens and its schema is current, else 503 with the reason.

    Examples
    --------
    >>> readiness("/nonexistent/ws.duckdb").status_code
    503
    """
    try:
        with short_db(path, lock_timeout=lock_timeout):
            pass
    except (MlmkitError, OSError) as err:
        return HealthResult(503, {"status": "error", "error": f"{type(err).__name__}: {err}"})
    return HealthResult(200, {"status": "ok", "schema_version": migrations.latest_version()})


def health_report(path: str | os.PathLike[str], *, max_staleness: WindowLike | None = None,
                  lock_timeout: float = 5.0, via: Via | None = None) -> HealthResult:
    """The detailed report behind ``/health``.

    Parameters
    ----------
    path
        Workspace file.
    max_staleness
        When given, a newest prediction older than this marks the report ``degraded``.
    lock_timeout
        Seconds to wait for the file.
    via
        ``via(read)`` runs ``read(db)`` where the caller's open database lives (``mlmkit
        serve``: its writer thread) instead of opening the file.

    Returns
    -------
    HealthResult
        503 when the database cannot be read; otherwise 200 with ``status`` ``ok`` or
        ``degraded`` (a job whose last run failed, an open critical alert, stale data).
    """
    limit = None if max_staleness is None else parse_window(max_staleness, "max_staleness")
    now = utcnow()
    database: dict[str, Any] = {"path": os.fspath(path),
                                "supported_schema_version": migrations.latest_version()}
    try:
        def read(db: Database, *, check: bool = True) -> tuple[Any, Any, Any]:
            if check:  # (short_db has checked it)
                check_schema_current(db, path)
            return _sql.job_summary(db), _sql.open_alert_counts(db), _sql.newest_prediction(db)

        if via is not None:
            jobs, alerts, newest = via(read)
        else:
            with short_db(path, lock_timeout=lock_timeout) as db:
                jobs, alerts, newest = read(db, check=False)
    except (MlmkitError, OSError) as err:
        database.update(ok=False, error=f"{type(err).__name__}: {err}")
        return HealthResult(503, {"status": "error", "checked_at": now.isoformat(),
                                  "database": database})
    database.update(ok=True, schema_version=migrations.latest_version())
    job_info = {r["job"]: _job_entry(r) for r in jobs.iter_rows(named=True)}
    critical = int(alerts.filter(alerts["severity"] == "critical")["n"].sum()) \
        if alerts.height else 0
    staleness = None if newest is None else (now - newest).total_seconds()
    problems = [f"job {name} last run {info['last_status']}" for name, info in job_info.items()
                if info["last_status"] not in ("ok", "running")]
    if critical:
        problems.append(f"{critical} open critical alert(s)")
    if limit is not None and staleness is not None and staleness > limit.total_seconds():
        problems.append(f"newest prediction is {timedelta(seconds=round(staleness))} old")
    return HealthResult(200, {
        "status": "degraded" if problems else "ok", "problems": problems,
        "checked_at": now.isoformat(), "database": database, "jobs": job_info,
        "open_alerts": int(alerts["n"].sum()) if alerts.height else 0,
        "open_critical_alerts": critical,
        "newest_prediction": {"ts": None if newest is None else newest.isoformat(),
                              "staleness_s": staleness},
    })


def _job_entry(row: dict[str, Any]) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return {"last_status": row["last_status"], "last_error": row["last_error"],
            "last_started_at": iso(row["last_started_at"]),
            "last_finished_at": iso(row["last_finished_at"]),
            "last_duration_s": row["last_duration_s"],
            "last_success_at": iso(row["last_success_at"]), "runs": row["runs"],
            "errors": row["errors"]}
