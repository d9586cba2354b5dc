"""SQL for the ``alerts`` table: insert with cool-down check, delivery status, list, state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from mlmkit.exceptions import NotFoundError
from mlmkit.store.database import Database
from mlmkit.store.predictions.aggregates import query

__all__ = ["insert_alert", "list_alerts", "mark_delivery", "set_status", "unsent_alerts"]

_COLUMNS = ("alert_id, created_at, rule, severity, model_name, version, message, details, "
            "dedup_key, status, sent, sent_at, send_error, acknowledged_at, resolved_at")


def insert_alert(db: Database, *, rule: str, severity: str, model_name: str | None,
                 version: str | None, message: str, details: dict[str, Any],
                 dedup_key: str, now: datetime, cooldown: timedelta) -> int | None:
    """Insert an alert unless one with ``dedup_key`` was created within ``cooldown``.

    Resolved alerts do not suppress. Returns the new ``alert_id``, or ``None`` when suppressed.
    The check and the insert run in one transaction.
    """
    payload = json.dumps(details, default=str, allow_nan=False) if details else None
    with db.transaction() as conn:
        recent = conn.execute(
            "SELECT alert_id FROM alerts WHERE dedup_key = ? AND created_at > ? "
            "AND status <> 'resolved' LIMIT 1", [dedup_key, now - cooldown]).fetchone()
        if recent is not None:
            return None
        row = conn.execute(
            "INSERT INTO alerts (created_at, rule, severity, model_name, version, message, "
            "details, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING alert_id",
            [now, rule, severity, model_name, version, message, payload, dedup_key]).fetchone()
    assert row is not None
    return int(row[0])


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
    conds: list[str] = ["TRUE"]
    params: list[Any] = []
    for column, value in (("model_name", model_name), ("status", status),
                          ("severity", severity), ("rule", rule), ("sent", sent)):
        if value is not None:
            conds.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        conds.append("created_at >= ?")
        params.append(since)
    if ids is not None:
        conds.append(f"alert_id IN ({', '.join('?' for _ in ids) or 'NULL'})")
        params.extend(ids)
    sql = f"SELECT {_COLUMNS} FROM alerts WHERE {' AND '.join(conds)} " \
          "ORDER BY created_at DESC, alert_id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return query(db, sql, params)


def unsent_alerts(db: Database) -> list[dict[str, Any]]:
    """Alerts whose delivery failed or never happened, oldest first."""
    frame = query(db, f"SELECT {_COLUMNS} FROM alerts WHERE NOT sent ORDER BY alert_id")
    return list(frame.iter_rows(named=True))
