"""Schema for issue-4 (monitoring, alerting, retention summaries).

``daily_summary`` keeps the additive sufficient statistics of every (model, version, role, UTC
day) so that long trends survive ``apply_retention``: it is refreshed from the raw rows before
they are deleted, and a refresh never replaces a summary with one built from fewer rows (a day
partly removed by retention keeps its full-day counts). The ``alerts`` table is defined in
``m001_core``; this migration adds the index used by de-duplication.
"""

VERSION = 2

SQL = """
CREATE TABLE daily_summary (
    model_name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    day DATE NOT NULL,
    n BIGINT NOT NULL,
    labelled BIGINT NOT NULL,
    tp BIGINT NOT NULL,
    fp BIGINT NOT NULL,
    tn BIGINT NOT NULL,
    fn BIGINT NOT NULL,
    scored BIGINT NOT NULL,
    brier_sum DOUBLE,
    log_loss_sum DOUBLE,
    predicted_positive BIGINT NOT NULL,
    score_sum DOUBLE,
    refreshed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (model_name, version, role, day)
);
CREATE INDEX alerts_dedup_idx ON alerts (dedup_key);
"""
