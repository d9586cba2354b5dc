"""Core tables: models, deployment history, predictions with delayed labels, alerts.

Labels live on the prediction row (``actual``, ``labelled_at``) so window metrics aggregate one
table (a join with a separate labels table measured 6-10x slower); ``actuals`` keeps every label
as it arrived, append-only, for audit. ``prediction_id`` has no PRIMARY KEY (it made bulk inserts
~5x slower); uniqueness of caller-supplied ids is checked on insert. It is NULL for rows of a
batch logged without ids: storing 1e7 generated unique strings doubled the insert time, and a
row nobody can name cannot receive a delayed label anyway. Feature columns are added
on demand (``f_<name>`` numeric DOUBLE, ``s_<name>`` categorical VARCHAR) and listed in
``feature_columns``.
"""

VERSION = 1

SQL = """
CREATE TABLE models (
    model_name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    model_type VARCHAR NOT NULL,
    configuration JSON NOT NULL,
    performance_metrics JSON NOT NULL,
    metadata JSON NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    deployed_at TIMESTAMPTZ,
    environment VARCHAR,
    PRIMARY KEY (model_name, version)
);
CREATE SEQUENCE deployment_event_seq START 1;
CREATE TABLE deployments (
    event_id BIGINT PRIMARY KEY DEFAULT nextval('deployment_event_seq'),
    model_name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    environment VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    previous_version VARCHAR,
    reason VARCHAR,
    actor VARCHAR,
    event_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE predictions (
    prediction_id VARCHAR,
    model_name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    prediction BOOLEAN NOT NULL,
    score DOUBLE,
    confidence DOUBLE,
    unit_id VARCHAR,
    role VARCHAR NOT NULL DEFAULT 'served',
    actual BOOLEAN,
    labelled_at TIMESTAMPTZ
);
CREATE TABLE actuals (
    prediction_id VARCHAR NOT NULL,
    actual BOOLEAN NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE feature_columns (
    model_name VARCHAR NOT NULL,
    feature VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    PRIMARY KEY (model_name, feature)
);
CREATE SEQUENCE alert_id_seq START 1;
CREATE TABLE alerts (
    alert_id BIGINT PRIMARY KEY DEFAULT nextval('alert_id_seq'),
    created_at TIMESTAMPTZ NOT NULL,
    rule VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    model_name VARCHAR,
    version VARCHAR,
    message VARCHAR NOT NULL,
    details JSON,
    dedup_key VARCHAR NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'open',
    sent BOOLEAN NOT NULL DEFAULT false,
    sent_at TIMESTAMPTZ,
    send_error VARCHAR,
    acknowledged_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ
);
"""
