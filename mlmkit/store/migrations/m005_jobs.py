"""Schema for issue-8: job runs and metric snapshots.

``job_runs`` records every run of a scheduled job (start, end, status, error, counts) so that
health checks and Prometheus can report the last success of each job. ``metric_snapshots`` is a
long table (one row per model, version, environment, period and metric) written by the
performance-monitoring and drift-detection jobs; the primary key makes a second run in the same
period a no-op (``INSERT ... ON CONFLICT DO NOTHING``).
"""

VERSION = 5

SQL = """
CREATE SEQUENCE job_run_seq START 1;
CREATE TABLE job_runs (
    run_id BIGINT PRIMARY KEY DEFAULT nextval('job_run_seq'),
    job VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    error VARCHAR,
    processed INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    details JSON,
    host VARCHAR,
    pid INTEGER
);
CREATE TABLE metric_snapshots (
    job VARCHAR NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    model_name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    environment VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    window_start TIMESTAMPTZ NOT NULL,
    window_end TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job, period_start, model_name, version, environment, metric)
);
"""
