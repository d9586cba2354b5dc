"""Alerting (``ws.alerts``): rules, severities, de-duplication with cool-down, sinks.

Every alert is first stored in the ``alerts`` table, then delivered to the sinks (outside any
database connection). An alert whose delivery failed stays in the table with ``sent = false``
and the error; :meth:`AlertingService.retry_unsent` tries again. The same ``dedup_key`` is not
fired again within ``cooldown`` (default 1 hour) unless the earlier alert was resolved.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from mlmkit._validation import check_choice, check_int, check_name, invalid
from mlmkit.services.alerts.rules import (
    RULES,
    SEVERITIES,
    AlertRule,
    Finding,
    available_rules,
    make_rule,
    register_rule,
)
from mlmkit.services.alerts.sinks import (
    AlertSink,
    CallbackSink,
    LoggingSink,
    SinkError,
    WebhookSink,
)
from mlmkit.store import alerts as alert_sql
from mlmkit.values import Version, WindowLike, parse_window, utc, utcnow

if TYPE_CHECKING:
    from mlmkit.workspace import Workspace

__all__ = [
    "RULES",
    "SEVERITIES",
    "AlertRule",
    "AlertingService",
    "CallbackSink",
    "Finding",
    "LoggingSink",
    "SinkError",
    "WebhookSink",
    "available_rules",
    "make_rule",
    "register_rule",
]


class AlertingService:
    """Fire, store, de-duplicate and deliver alerts; evaluate configured rules.

    Parameters
    ----------
    ws
        The workspace (alerts are stored in its ``alerts`` table).

    Examples
    --------
    >>> import mlmkit
    >>> with mlmkit.open() as ws:
    ...     got = []
    ...     _ = ws.alerts.add_callback(got.append)
    ...     first = ws.alerts.fire("metric_below", "warning", "m", "1.0.0", "accuracy low")
    ...     again = ws.alerts.fire("metric_below", "warning", "m", "1.0.0", "accuracy low")
    ...     first, again, len(got), ws.alerts.list()["sent"].to_list()
    (1, None, 1, [True])
    """

    def __init__(self, ws: Workspace, *, cooldown: WindowLike = "1h") -> None:
        self.ws = ws
        self.cooldown = parse_window(cooldown, "cooldown")
        self.sinks: list[AlertSink] = [LoggingSink()]
        self.rules: list[tuple[str, str | None, AlertRule]] = []

    # ------------------------------------------------------------------ sinks
    def add_sink(self, sink: AlertSink) -> AlertSink:
        """Deliver future alerts to ``sink`` too (anything with ``name`` and ``send``)."""
        if not callable(getattr(sink, "send", None)):
            raise invalid("sink", "an object with a send(alert) method", sink)
        self.sinks.append(sink)
        return sink

    def add_callback(self, callback: Callable[[dict[str, Any]], Any]) -> AlertSink:
        """Call ``callback(alert_dict)`` for every delivered alert."""
        return self.add_sink(CallbackSink(callback))

    def add_webhook(self, url: str, *, timeout: float = 5.0, retries: int = 2,
                    backoff: float = 0.5) -> AlertSink:
        """POST every alert as JSON to ``url`` (http/https only), with timeout and retry."""
        return self.add_sink(WebhookSink(url, timeout=timeout, retries=retries,
                                         backoff=backoff))

    def clear_sinks(self) -> None:
        """Remove every sink (alerts are then stored but stay unsent)."""
        self.sinks = []

    # ------------------------------------------------------------------ firing
    def fire(self, rule: str, severity: str, model_name: str | None = None,
             version: Any = None, message: str = "", details: dict[str, Any] | None = None,
             *, dedup_key: str | None = None, cooldown: WindowLike | None = None
             ) -> int | None:
        """Store an alert and deliver it; returns its id, or ``None`` if de-duplicated.

        ``dedup_key`` defaults to ``"rule:model:version"``; an alert with the same key created
        less than ``cooldown`` ago (and not resolved) suppresses this one. Other services (A/B
        rollouts, jobs) call this entry point.
        """
        check_name("rule", rule)
        check_choice("severity", severity, SEVERITIES)
        if model_name is not None:
            check_name("model_name", model_name)
        ver = None if version is None else str(Version.parse(version))
        if not isinstance(message, str) or not message:
            raise invalid("message", "a non-empty string", message)
        if details is not None and not isinstance(details, Mapping):
            raise invalid("details", "a mapping or None", details)
        key = dedup_key or f"{rule}:{model_name or ''}:{ver or ''}"
        window = self.cooldown if cooldown is None else parse_window(cooldown, "cooldown")
        now = utcnow()
        clean = json.loads(json.dumps(dict(details or {}), default=_jsonable))
        alert_id = alert_sql.insert_alert(
            self.ws.db, rule=rule, severity=severity, model_name=model_name, version=ver,
            message=message, details=clean, dedup_key=key, now=now, cooldown=window)
        if alert_id is None:
            return None
        self._deliver({"alert_id": alert_id, "created_at": now.isoformat(), "rule": rule,
                       "severity": severity, "model_name": model_name, "version": ver,
                       "message": message, "details": clean, "dedup_key": key})
        return alert_id

    def _deliver(self, alert: dict[str, Any]) -> bool:
        errors = []
        for sink in self.sinks:
            try:
                sink.send(alert)
            except Exception as err:
                errors.append(f"{getattr(sink, 'name', type(sink).__name__)}: {err}")
        sent = bool(self.sinks) and not errors
        alert_sql.mark_delivery(self.ws.db, int(alert["alert_id"]), sent=sent, at=utcnow(),
                                error="; ".join(errors) or (None if sent else "no sinks"))
        return sent

    def retry_unsent(self) -> int:
        """Deliver again every stored alert still unsent; returns how many now succeeded."""
        done = 0
        for row in alert_sql.unsent_alerts(self.ws.db):
            details = json.loads(row["details"]) if row["details"] else {}
            alert = {**row, "created_at": row["created_at"].isoformat(), "details": details}
            for key in ("sent", "sent_at", "send_error", "acknowledged_at", "resolved_at"):
                alert.pop(key, None)
            done += self._deliver(alert)
        return done

    # ------------------------------------------------------------------ rules
    def add_rule(self, rule: str | AlertRule, model_name: str, version: Any = None,
                 **params: Any) -> AlertRule:
        """Configure a rule (by registered name and parameters, or an instance) for a model.

        ``version=None`` evaluates the version deployed in production at check time.
        """
        check_name("model_name", model_name)
        built = rule if isinstance(rule, AlertRule) else make_rule(rule, **params)
        ver = None if version is None else str(Version.parse(version))
        self.rules.append((model_name, ver, built))
        return built

    def check(self, model_name: str | None = None) -> list[int]:
        """Evaluate configured rules (optionally for one model); returns ids of fired alerts."""
        if model_name is not None:
            check_name("model_name", model_name)
        fired: list[int] = []
        for name, ver, rule in self.rules:
            if model_name is not None and name != model_name:
                continue
            version = ver or self.ws.registry.deployed_version(name)
            if version is None:
                continue
            for finding in rule.evaluate(self.ws, name, str(version)):
                alert_id = self.fire(rule.name, finding.severity, name, version,
                                     finding.message, finding.details,
                                     dedup_key=finding.dedup_key)
                if alert_id is not None:
                    fired.append(alert_id)
        return fired

    # ------------------------------------------------------------------ table
    def list(self, model_name: str | None = None, *, status: str | None = None,
             severity: str | None = None, rule: str | None = None,
             since: datetime | None = None, sent: bool | None = None,
             limit: int | None = None) -> pl.DataFrame:
        """Stored alerts as polars, newest first (``details`` is a JSON string)."""
        for name, value in (("model_name", model_name), ("rule", rule)):
            if value is not None:
                check_name(name, value)
        if since is not None:
            since = utc(since, "since")
        if status is not None:
            check_choice("status", status, ("open", "acknowledged", "resolved"))
        if severity is not None:
            check_choice("severity", severity, SEVERITIES)
        if limit is not None:
            check_int("limit", limit, low=1)
        return alert_sql.list_alerts(self.ws.db, model_name=model_name, status=status,
                                     severity=severity, rule=rule, since=since, sent=sent,
                                     limit=limit)

    def acknowledge(self, alert_id: int) -> None:
        """Mark an alert acknowledged (someone is on it)."""
        alert_sql.set_status(self.ws.db, check_int("alert_id", alert_id, low=1),
                             "acknowledged", utcnow())

    def resolve(self, alert_id: int) -> None:
        """Mark an alert resolved (a resolved alert no longer suppresses a new one)."""
        alert_sql.set_status(self.ws.db, check_int("alert_id", alert_id, low=1),
                             "resolved", utcnow())

    def resolve_all(self, ids: Sequence[int]) -> None:
        """Resolve several alerts (all ids are checked before any is resolved)."""
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise invalid("ids", "a list of alert ids", ids)
        checked = [check_int("ids", alert_id, low=1) for alert_id in ids]
        for alert_id in checked:
            self.resolve(alert_id)

    @property
    def default_cooldown(self) -> timedelta:
        """The cool-down applied when ``fire`` gets none."""
        return self.cooldown


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
