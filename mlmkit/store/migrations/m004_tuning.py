"""Schema for issue-6: every tuning trial and decision, append-only.

One row per trial (``kind`` = ``threshold``, ``tradeoff``, ``cost``, ``adaptive``,
``hyperparameters`` or ``apply``); the rows of one call share ``run_id``. The adaptive
controller reads its last row back for hysteresis, and ``apply`` records why a version was made.
"""

VERSION = 4

SQL = """
CREATE SEQUENCE tuning_run_seq START 1;
CREATE TABLE tuning_runs (
    row_id BIGINT PRIMARY KEY DEFAULT nextval('tuning_run_seq'),
    run_id VARCHAR NOT NULL,
    trial INTEGER NOT NULL,
    kind VARCHAR NOT NULL,
    model_name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    metric VARCHAR,
    value DOUBLE,
    threshold DOUBLE,
    params JSON,
    details JSON
);
"""
