"""Scheduled jobs: definitions, the runner and their history."""

from __future__ import annotations

from mlmkit.services.jobs.runner import (
    JOBS,
    Job,
    JobRun,
    job_history,
    job_names,
    job_summary,
    resolve_job,
    run_job,
    snapshots,
)

__all__ = [
    'JOBS',
    'Job',
    'JobRun',
    'job_history',
    'job_names',
    'job_summary',
    'resolve_job',
    'run_job',
    'snapshots',
]
