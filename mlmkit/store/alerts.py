"""SQL for the ``alerts`` table and its delivery outbox (``alert_outbox``, one row per sink).

Insert with cool-down check (and the outbox rows, in the same transaction), claim due rows for
delivery under a lease, record each attempt, list, state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from mlmkit._jsonable import finite
from mlmkit.exceptions import NotFoundError
from mlmkit.store._sql import Where
from mlmkit.store.database import Database
from mlmkit.store.predictions.aggregates import query

__all__ = ["adopt_unrouted", "alert_rows", "claim_deliveries", "insert_alert", "list_alerts",
           "mark_delivery", "outbox", "pending_deliveries", "record_attempt", "set_status",
           "unsent_alerts"]

_COLUMNS = ("alert_id, created_at, rule, severity, model_name, version, message, details, "
            "dedup_key, status, sent, sent_at, send_error, acknowledged_at, resolved_at")


_RANK = "(CASE {} WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END)"


def insert_alert(db: Database, *, rule: str, severity: str, model_name: str | None,
                 version: str | None, message: str, details: dict[str, Any],
                 dedup_key: str, now: datetime, cooldown: timedelta,
                 sink_keys: Sequence[str] = (), claim_until: datetime | None = None
                 ) -> int | None:
    """Insert an alert unless an unresolved one with ``dedup_key`` already covers it.

    An earlier alert with the same key suppresses this one while it is not resolved, is at
    least as severe (info < warning < critical: an escalation always gets through), and was
    either created within ``cooldown`` (the repeat interval of a condition that persists) or
    acknowledged (someone is on it: quiet until resolved). Returns the new ``alert_id``, or
    ``None`` when suppressed.
    The check, the insert and one ``pending`` outbox row per ``sink_keys`` entry run in one
    transaction. With ``claim_until`` the rows are claimed for an immediate first attempt
    (``attempts = 1``) until then; without sinks the alert is stored unsent (``no sinks``).
    """
    payload = json.dumps(finite(details), default=str, allow_nan=False) if details else None
    with db.transaction() as conn:
        recent = conn.execute(
            f"SELECT alert_id FROM alerts WHERE dedup_key = ? AND status <> 'resolved' "
            f"AND (created_at > ? OR status = 'acknowledged') "
            f"AND {_RANK.format('severity')} >= {_RANK.format('?')} LIMIT 1",
            [dedup_key, now - cooldown, severity]).fetchone()
        if recent is not None:
            return None
        row = conn.execute(
            "INSERT INTO alerts (created_at, rule, severity, model_name, version, message, "
            "details, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING alert_id",
            [now, rule, severity, model_name, version, message, payload, dedup_key]).fetchone()
        assert row is not None
        alert_id = int(row[0])
        if not sink_keys:
            conn.execute("UPDATE alerts SET send_error = 'no sinks' WHERE alert_id = ?",
                         [alert_id])
        claimed = claim_until is not None
        for key in dict.fromkeys(sink_keys):
            conn.execute(
                "INSERT INTO alert_outbox (alert_id, sink_key, status, attempts, created_at, "
                "next_attempt_at, claimed_until, last_attempt_at) "
                "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)",
                [alert_id, key, int(claimed), now, now, claim_until, now if claimed else None])
    return alert_id


def mark_delivery(db: Database, alert_id: int, *, sent: bool, at: datetime,
                  error: str | None) -> None:
    """Record the outcome of delivering an alert to its sinks."""
    db.execute("UPDATE alerts SET sent = ?, sent_at = CASE WHEN ? THEN ?::TIMESTAMPTZ END, "
               "send_error = ? WHERE alert_id = ?", [sent, sent, at, error, alert_id])


def set_status(db: Database, alert_id: int, status: str, at: datetime) -> None:
    """Set ``status`` to ``acknowledged`` or ``resolved`` (stamping the matching time)."""
    column = "acknowledged_at" if status == "acknowledged" else "resolved_at"
    with db.transaction() as conn:
        found = conn.execute("SELECT 1 FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
        if found is None:
            raise NotFoundError(f"alert {alert_id} does not exist")
        conn.execute(f"UPDATE alerts SET status = ?, {column} = ? WHERE alert_id = ?",
                     [status, at, alert_id])


def list_alerts(db: Database, *, model_name: str | None = None, status: str | None = None,
                severity: str | None = None, rule: str | None = None,
                since: datetime | None = None, sent: bool | None = None,
                ids: Sequence[int] | None = None, limit: int | None = None) -> pl.DataFrame:
    """Alerts as polars, newest first, filtered by the given fields."""
    where = Where().equals([("model_name", model_name), ("status", status),
                            ("severity", severity), ("rule", rule), ("sent", sent)]) \
        .at_least("created_at", since).among("alert_id", ids)
    sql = f"SELECT {_COLUMNS} FROM alerts WHERE {where} ORDER BY created_at DESC, alert_id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return query(db, sql, where.params)


def unsent_alerts(db: Database) -> list[dict[str, Any]]:
    """Alerts whose delivery failed or never happened, oldest first."""
    frame = query(db, f"SELECT {_COLUMNS} FROM alerts WHERE NOT sent ORDER BY alert_id")
    return list(frame.iter_rows(named=True))


_OUTBOX = ("alert_id, sink_key, status, attempts, created_at, next_attempt_at, claimed_until, "
           "last_attempt_at, sent_at, last_error")


def adopt_unrouted(db: Database, sink_keys: Sequence[str], now: datetime) -> int:
    """Route unsent alerts without outbox rows to ``sink_keys``; return the rows added.

    Such alerts were stored with no sink configured, or before the outbox existed.
    """
    if not sink_keys:
        return 0
    rows = db.execute(
        "INSERT INTO alert_outbox (alert_id, sink_key, status, attempts, created_at, "
        "next_attempt_at) SELECT a.alert_id, k.key, 'pending', 0, ?, ? FROM alerts a "
        "CROSS JOIN (SELECT unnest(?::VARCHAR[]) AS key) k WHERE NOT a.sent AND NOT EXISTS "
        "(SELECT 1 FROM alert_outbox o WHERE o.alert_id = a.alert_id) "
        "ON CONFLICT DO NOTHING RETURNING alert_id", [now, now, list(dict.fromkeys(sink_keys))])
    return len(rows)


def claim_deliveries(db: Database, *, now: datetime, claim_until: datetime,
                     sink_keys: Sequence[str] | None = None, due_only: bool = True,
                     limit: int | None = None) -> list[tuple[int, str, int]]:
    """Claim outbox rows for an attempt: ``(alert_id, sink_key, attempts)``, oldest first.

    Rows not ``sent`` and not claimed by someone else (``claimed_until`` passed) qualify; with
    ``due_only`` only ``pending`` rows whose ``next_attempt_at`` has come (the back-off), else
    ``failed`` rows too and regardless of back-off. Claiming counts the attempt (a process that
    dies mid-delivery used it up) and is one statement, so two processes never claim one row.
    """
    where = Where().add("status <> 'sent'").add("(claimed_until IS NULL OR claimed_until <= ?)",
                                                now)
    if due_only:
        where.add("status = 'pending' AND next_attempt_at <= ?", now)
    if sink_keys is not None:
        where.add("list_contains(?::VARCHAR[], sink_key)", list(sink_keys))
    pick = f"SELECT rowid FROM alert_outbox WHERE {where} " \
           "ORDER BY next_attempt_at, alert_id, sink_key"
    if limit is not None:
        pick += f" LIMIT {int(limit)}"
    rows = db.execute(
        "UPDATE alert_outbox SET attempts = attempts + 1, claimed_until = ?, "
        f"last_attempt_at = ? WHERE rowid IN ({pick}) RETURNING alert_id, sink_key, attempts",
        [claim_until, now, *where.params])
    return sorted((int(a), str(k), int(n)) for a, k, n in rows)


def record_attempt(db: Database, alert_id: int, sink_key: str, *, at: datetime,
                   error: str | None, next_attempt_at: datetime | None) -> bool:
    """Record one attempt, release its claim and refresh the alert's delivery summary.

    ``error=None`` means sent; otherwise the pair is pending until ``next_attempt_at``, or
    ``failed`` when that is ``None``. ``alerts.sent`` / ``send_error`` are recomputed from the
    outbox. Returns whether every sink of the alert has now received it.
    """
    status = "sent" if error is None else ("pending" if next_attempt_at is not None
                                            else "failed")
    with db.transaction() as conn:
        conn.execute(
            "UPDATE alert_outbox SET status = ?, last_error = ?, claimed_until = NULL, "
            "sent_at = CASE WHEN ? = 'sent' THEN ?::TIMESTAMPTZ END, "
            "next_attempt_at = coalesce(?::TIMESTAMPTZ, next_attempt_at) "
            "WHERE alert_id = ? AND sink_key = ?",
            [status, error, status, at, next_attempt_at, alert_id, sink_key])
        row = conn.execute(
            "SELECT count(*) > 0 AND bool_and(status = 'sent'), max(sent_at), "
            "string_agg(sink_key || ': ' || coalesce(last_error, status), '; ' "
            "ORDER BY sink_key) FILTER (WHERE status <> 'sent') "
            "FROM alert_outbox WHERE alert_id = ?", [alert_id]).fetchone()
        assert row is not None
        done = bool(row[0])
        conn.execute("UPDATE alerts SET sent = ?, sent_at = CASE WHEN ? THEN ?::TIMESTAMPTZ END, "
                     "send_error = ? WHERE alert_id = ?",
                     [done, done, row[1], None if done else row[2], alert_id])
    return done


def alert_rows(db: Database, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The stored alerts with these ids (as dicts, ``details`` a JSON string)."""
    frame = list_alerts(db, ids=list(ids))
    return list(frame.iter_rows(named=True))


def pending_deliveries(db: Database) -> int:
    """How many (alert, sink) pairs are not delivered and may still be retried."""
    rows = db.execute("SELECT count(*) FROM alert_outbox WHERE status = 'pending'")
    return int(rows[0][0])


def outbox(db: Database, *, alert_id: int | None = None,
           status: str | None = None) -> pl.DataFrame:
    """Outbox rows as polars, by alert then sink key."""
    where = Where().equal("alert_id", alert_id).equal("status", status)
    return query(db, f"SELECT {_OUTBOX} FROM alert_outbox WHERE {where} "
                     "ORDER BY alert_id, sink_key", where.params)
