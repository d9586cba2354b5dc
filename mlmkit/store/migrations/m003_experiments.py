"""Schema for issue-5 (A/B tests, rollouts).

``rollouts`` holds the current state of each guarded gradual rollout (one row, updated with
an optimistic check on ``step``/``status`` so two processes cannot both advance it);
``rollout_events`` is its append-only log (start, hold, advance, rollback, complete). Every
transition is also written to the registry's ``deployments`` history.
"""

VERSION = 3

SQL = """
CREATE SEQUENCE rollout_id_seq START 1;
CREATE TABLE rollouts (
    rollout_id BIGINT PRIMARY KEY DEFAULT nextval('rollout_id_seq'),
    model_name VARCHAR NOT NULL,
    version_a VARCHAR NOT NULL,
    version_b VARCHAR NOT NULL,
    environment VARCHAR NOT NULL,
    config JSON NOT NULL,
    plan JSON NOT NULL,
    guardrails JSON NOT NULL,
    step INTEGER NOT NULL,
    share_b DOUBLE NOT NULL,
    status VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    step_started_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    reason VARCHAR
);
CREATE TABLE rollout_events (
    rollout_id BIGINT NOT NULL,
    event_at TIMESTAMPTZ NOT NULL,
    action VARCHAR NOT NULL,
    step INTEGER NOT NULL,
    share_b DOUBLE NOT NULL,
    reason VARCHAR,
    details JSON
);
"""
