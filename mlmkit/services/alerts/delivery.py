"""Delivering stored alerts to sinks through the outbox: attempts, back-off, give-up, reports.

One (alert, sink) pair is one ``alert_outbox`` row. A delivery claims rows (a lease, so
concurrent processes never deliver the same pair at once), sends, and records the outcome row
by row, so a crash at any point loses at most the claim of the pair in flight, which becomes
due again when its lease ends. A failed pair is retried after ``backoff * 2**(attempts-1)``
(at most ``max_backoff``) until ``max_attempts`` attempts were made; it is then ``failed`` and
only [`AlertingService.retry_unsent`][mlmkit.services.alerts.AlertingService.retry_unsent]
(an explicit request) tries it again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypedDict, cast

from mlmkit._jsonable import JSONObject, JSONValue
from mlmkit.services.alerts._http import redact_text
from mlmkit.services.alerts.sinks import AlertSink, SinkError, sink_key
from mlmkit.store import alerts as alert_sql
from mlmkit.store.database import Database
from mlmkit.values import utcnow

__all__ = ["DeliveryPolicy", "DeliveryReport", "alert_payload", "deliver", "idempotency_key",
           "redeliver"]

logger = logging.getLogger("mlmkit.alerts")


@dataclass(frozen=True)
class DeliveryPolicy:
    """How often and how long an undelivered (alert, sink) pair is retried.

    Examples
    --------
    >>> p = DeliveryPolicy(backoff=timedelta(minutes=1), max_backoff=timedelta(minutes=5))
    >>> now = datetime(2024, 1, 1, tzinfo=UTC)
    >>> [(p.retry_at(n, now) - now).seconds for n in (1, 2, 3, 4)]
    [60, 120, 240, 300]
    """

    max_attempts: int = 8
    backoff: timedelta = timedelta(minutes=1)
    max_backoff: timedelta = timedelta(hours=6)
    lease: timedelta = timedelta(minutes=5)

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after ``attempts`` failed attempts (``None``: give up)."""
        if attempts >= self.max_attempts:
            return None
        return now + min(self.backoff * 2 ** max(attempts - 1, 0), self.max_backoff)


@dataclass
class DeliveryReport:
    """What one delivery round did: per-pair items and counts."""

    attempted: int = 0
    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    completed: list[int] = field(default_factory=list)
    items: list[JSONObject] = field(default_factory=list)

    @property
    def first_error(self) -> str | None:
        """The first failure's text (credentials masked), if any."""
        return next((str(i["error"]) for i in self.items if i.get("error")), None)

    def to_dict(self) -> JSONObject:
        """Counts as a JSON-friendly dict."""
        return {"attempted": self.attempted, "sent": self.sent, "failed": self.failed,
                "gave_up": self.gave_up, "completed_alerts": list(self.completed)}


def idempotency_key(alert_id: int, created_at: datetime) -> str:
    """A key naming one alert of one workspace, the same on every re-delivery.

    Examples
    --------
    >>> idempotency_key(7, datetime(2024, 1, 1, tzinfo=UTC))
    'alert-7-1704067200000000'
    """
    micros = round(created_at.timestamp() * 1_000_000)
    return f"alert-{alert_id}-{micros}"


def alert_payload(row: Mapping[str, object]) -> JSONObject:
    """The JSON-friendly alert dict that sinks receive, from a stored ``alerts`` row."""
    stored = cast(_AlertRow, row)
    details = stored["details"]
    if isinstance(details, str):
        details = json.loads(details) if details else {}
    created = stored["created_at"]
    return {"alert_id": int(stored["alert_id"]),
            "created_at": created.astimezone(UTC).isoformat(), "rule": stored["rule"],
            "severity": stored["severity"], "model_name": stored["model_name"],
            "version": stored["version"], "message": stored["message"], "details": details or {},
            "dedup_key": stored["dedup_key"],
            "idempotency_key": idempotency_key(int(stored["alert_id"]), created)}


class _AlertRow(TypedDict):
    """A row of ``alerts`` as `mlmkit.store.alerts.alert_rows` returns it."""

    alert_id: int
    created_at: datetime
    rule: str
    severity: str
    model_name: str | None
    version: str | None
    message: str
    details: str | JSONObject | None  # JSON text as stored, or already parsed
    dedup_key: str | None


def _send(sink: AlertSink | None, key: str,
          alert: Mapping[str, JSONValue] | None) -> SinkError | None:
    if alert is None:
        return SinkError("the alert no longer exists")
    if sink is None:
        return SinkError(f"no sink with key {key!r} is configured in this process")
    try:
        sink.send(alert)
    except SinkError as err:
        return err
    except Exception as err:
        # A sink's own error (a user callback) is recorded as this pair's failure, with the
        # original chained; the other sinks still get the alert.
        failure = SinkError(f"{type(err).__name__}: {err}")
        failure.__cause__ = err
        return failure
    return None


def deliver(db: Database, sinks: Sequence[AlertSink], claims: Sequence[tuple[int, str, int]],
            alerts: Mapping[int, Mapping[str, JSONValue]], policy: DeliveryPolicy, *,
            now: datetime | None = None) -> DeliveryReport:
    """Attempt each claimed ``(alert_id, sink_key, attempts)`` pair and record the outcome.

    ``now`` fixes the clock (a job's run time); by default the wall clock at each record.
    """
    by_key = {sink_key(s): s for s in sinks}
    report = DeliveryReport()
    for alert_id, key, attempts in claims:
        failure = _send(by_key.get(key), key, alerts.get(alert_id))
        at = now or utcnow()
        error = None if failure is None else redact_text(str(failure))[:2000]
        retry = None if failure is None else policy.retry_at(attempts, at)
        done = alert_sql.record_attempt(db, alert_id, key, at=at, error=error,
                                        next_attempt_at=retry)
        report.attempted += 1
        item: JSONObject = {"alert_id": alert_id, "sink": key, "attempt": attempts}
        if failure is None:
            report.sent += 1
            item["status"] = "sent"
        else:
            report.failed += 1
            report.gave_up += retry is None
            item.update(status="pending" if retry else "failed", error=error,
                        next_attempt_at=retry.isoformat() if retry else None)
            logger.warning("alert %s: delivery to %s failed (attempt %d, %s): %s", alert_id,
                           key, attempts, f"retry at {retry:%Y-%m-%d %H:%M:%S}Z" if retry
                           else "giving up", error)
        if done:
            report.completed.append(alert_id)
        report.items.append(item)
    return report


def redeliver(db: Database, sinks: Sequence[AlertSink], policy: DeliveryPolicy, *,
              now: datetime, due_only: bool, limit: int | None = None) -> DeliveryReport:
    """Claim and deliver undelivered pairs.

    ``due_only=True`` (the ``alert-delivery`` job): ``pending`` pairs whose back-off has
    passed, for every sink key (a pair whose sink is not configured here counts as a failed
    attempt). ``due_only=False`` (``retry_unsent``): every pair not yet sent whose sink is
    configured here, ``failed`` ones too. Alerts stored without any outbox row are routed to
    the configured sinks first.
    """
    keys = [sink_key(s) for s in sinks]
    alert_sql.adopt_unrouted(db, keys, now)
    claims = alert_sql.claim_deliveries(db, now=now, claim_until=now + policy.lease,
                                        sink_keys=None if due_only else keys,
                                        due_only=due_only, limit=limit)
    if not claims:
        return DeliveryReport()
    rows = alert_sql.alert_rows(db, sorted({c[0] for c in claims}))
    alerts = {int(r["alert_id"]): alert_payload(r) for r in rows}
    return deliver(db, sinks, claims, alerts, policy, now=now if due_only else None)
