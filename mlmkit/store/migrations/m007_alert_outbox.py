"""Schema for issue-13: the alert delivery outbox (one row per alert and sink).

``fire`` writes an alert and one ``pending`` row per configured sink in one transaction, then
delivers; every attempt updates its row: ``sent``, ``pending`` again with ``next_attempt_at``
moved by exponential back-off, or ``failed`` once ``attempts`` reached the cap. A process that
starts an attempt first *claims* the row (``claimed_until``, a lease), so a concurrent retry in
another process skips it, and a process that died mid-delivery leaves a row that becomes due
again when the lease ends. ``sink_key`` is the sink's stable identity (``WebhookSink.key``);
``last_error`` is stored with credentials masked. ``alerts.sent`` / ``send_error`` remain the
per-alert summary (sent = every row sent). Alerts stored before this migration have no rows:
the first retry routes them to the sinks configured at that time.
"""

VERSION = 7

SQL = """
CREATE TABLE alert_outbox (
    alert_id BIGINT NOT NULL,
    sink_key VARCHAR NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until TIMESTAMPTZ,
    last_attempt_at TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    last_error VARCHAR,
    PRIMARY KEY (alert_id, sink_key)
);
"""
