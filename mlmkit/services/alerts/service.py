"""Alerting (``ws.alerts``): rules, severities, de-duplication with cool-down, sinks.

Every alert is first stored in the ``alerts`` table together with one ``pending`` outbox row
per configured sink (one transaction), then delivered to the sinks (outside any database
connection), each outcome recorded on its row. A pair that failed (or whose process died) is
retried only for that sink: by
[`AlertingService.retry_unsent`][mlmkit.services.alerts.AlertingService.retry_unsent] now,
or by the ``alert-delivery`` job with exponential back-off up to ``max_attempts`` (see
`mlmkit.services.alerts.delivery`). ``alerts.sent`` is true once every sink got it. A condition that
persists does not page every time a job sees it: an unresolved alert with the same ``dedup_key``
suppresses new ones of the same or lower severity for ``cooldown`` (the repeat interval, default 4
hours as Alertmanager's ``repeat_interval``), and for as long as it is acknowledged; an escalation
(warning → critical) always fires; a resolved alert suppresses nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from mlmkit._faults import fault_point
from mlmkit._jsonable import JSONObject
from mlmkit._validation import check_choice, check_int, check_name, invalid
from mlmkit.exceptions import StateError
from mlmkit.services.alerts import delivery as _delivery
from mlmkit.services.alerts.delivery import DeliveryPolicy, DeliveryReport
from mlmkit.services.alerts.rules import (
    RULES,
    SEVERITIES,
    AlertRule,
    Finding,
    RuleContext,
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
    sink_key,
)
from mlmkit.store import alerts as alert_sql
from mlmkit.values import Version, VersionLike, WindowLike, parse_window, utc, utcnow

if TYPE_CHECKING:
    from mlmkit.services.monitor.service import PerformanceMonitor
    from mlmkit.store.database import Database
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = [
    "RULES",
    "SEVERITIES",
    "AlertRule",
    "AlertingService",
    "CallbackSink",
    "Finding",
    "LoggingSink",
    "RuleContext",
    "SinkError",
    "WebhookSink",
    "available_rules",
    "make_rule",
    "register_rule",
]


class AlertingService:
    """Fire, store, de-duplicate and deliver alerts; evaluate configured rules.

    Rules read the performance monitor, and the monitor fires alerts through this service.
    To break that cycle the service gets the monitor as a *provider*: a function returning
    it, called only when [`check`][mlmkit.services.alerts.AlertingService.check] evaluates
    rules (so building either service never builds the other eagerly, and the workspace still
    creates each on first use).

    Parameters
    ----------
    db
        The database (alerts are stored in its ``alerts`` table).
    registry
        The model registry (the production version of a rule configured without one).
    monitor
        Returns the [`PerformanceMonitor`][mlmkit.services.monitor.PerformanceMonitor] that
        rules read; ``None`` for a service that only fires and stores alerts
        ([`check`][mlmkit.services.alerts.AlertingService.check] then raises
        [`StateError`][mlmkit.exceptions.StateError] if rules are configured).
    cooldown
        Default de-duplication window of
        [`fire`][mlmkit.services.alerts.AlertingService.fire].
    max_attempts
        Attempts per (alert, sink) before the ``alert-delivery`` job gives up on it.
    retry_backoff
        Wait before the job's first retry; doubled after each failure (at most 6 hours).
    lease
        How long a delivery in progress keeps its (alert, sink) pairs from other processes;
        a process that dies mid-delivery leaves them due again after it. Longer than any
        sink's worst case (``(retries + 1) * timeout`` plus back-off for a webhook).

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

    def __init__(self, db: Database, registry: ModelRegistry, *,
                 monitor: Callable[[], PerformanceMonitor] | None = None,
                 cooldown: WindowLike = "4h", max_attempts: int = 8,
                 retry_backoff: WindowLike = "1m", lease: WindowLike = "5m") -> None:
        self.db = db
        self.registry = registry
        self._monitor = monitor
        self.cooldown = parse_window(cooldown, "cooldown")
        self.sinks: list[AlertSink] = [LoggingSink()]
        self.rules: list[tuple[str, str | None, AlertRule]] = []
        self.delivery = DeliveryPolicy(
            max_attempts=check_int("max_attempts", max_attempts, low=1, high=1000),
            backoff=parse_window(retry_backoff, "retry_backoff"),
            lease=parse_window(lease, "lease"))

    # ------------------------------------------------------------------ sinks
    def add_sink(self, sink: AlertSink) -> AlertSink:
        """Deliver future alerts to ``sink`` too (anything with ``name`` and ``send``).

        A sink is identified by its ``key`` (`sink_key`):
        adding one whose key is already configured replaces that sink, and a pending delivery
        stored by another process reaches the sink with the same key here.
        """
        if not callable(getattr(sink, "send", None)):
            raise invalid("sink", "an object with a send(alert) method", sink)
        key = sink_key(sink)
        for i, present in enumerate(self.sinks):
            if sink_key(present) == key:
                self.sinks[i] = sink
                return sink
        self.sinks.append(sink)
        return sink

    def add_callback(self, callback: Callable[[JSONObject], object], *,
                     key: str | None = None) -> AlertSink:
        """Call ``callback(alert_dict)`` for every delivered alert."""
        return self.add_sink(CallbackSink(callback, key=key))

    def add_webhook(self, url: str, *, timeout: float = 5.0, retries: int = 2,
                    backoff: float = 0.5, headers: Mapping[str, str] | None = None,
                    key: str | None = None) -> AlertSink:
        """POST every alert as JSON to ``url`` (http/https only), with a deadline and retry."""
        return self.add_sink(WebhookSink(url, timeout=timeout, retries=retries,
                                         backoff=backoff, headers=headers, key=key))

    def clear_sinks(self) -> None:
        """Remove every sink (alerts are then stored but stay unsent)."""
        self.sinks = []

    # ------------------------------------------------------------------ firing
    def fire(self, rule: str, severity: str, model_name: str | None = None,
             version: VersionLike | None = None, message: str = "",
             details: Mapping[str, object] | None = None,
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
        sinks = list(self.sinks)
        keys = [sink_key(s) for s in sinks]
        alert_id = alert_sql.insert_alert(
            self.db, rule=rule, severity=severity, model_name=model_name, version=ver,
            message=message, details=clean, dedup_key=key, now=now, cooldown=window,
            sink_keys=keys, claim_until=now + self.delivery.lease)
        if alert_id is None:
            return None
        fault_point("alert.fire.after_store")  # stored with its outbox: delivered later
        alert: JSONObject = {
            "alert_id": alert_id, "created_at": now.isoformat(), "rule": rule,
            "severity": severity, "model_name": model_name, "version": ver,
            "message": message, "details": clean, "dedup_key": key,
            "idempotency_key": _delivery.idempotency_key(alert_id, now)}
        _delivery.deliver(self.db, sinks, [(alert_id, k, 1) for k in dict.fromkeys(keys)],
                          {alert_id: alert}, self.delivery)
        return alert_id

    def retry_unsent(self) -> int:
        """Deliver now every (alert, sink) pair not yet sent; returns how many alerts completed.

        Only sinks that have not received an alert get it again (a sink that succeeded
        before is skipped), ``failed`` pairs included and back-off ignored; pairs of sinks not
        configured in this process are left for a process that has them. Alerts stored with
        no sink are routed to the sinks configured now.
        """
        report = _delivery.redeliver(self.db, self.sinks, self.delivery, now=utcnow(),
                                     due_only=False)
        return len(report.completed)

    def deliver_pending(self, *, now: datetime | None = None, max_attempts: int | None = None,
                        retry_backoff: WindowLike | None = None,
                        limit: int | None = None) -> DeliveryReport:
        """Retry the (alert, sink) pairs whose back-off has passed (the ``alert-delivery`` job).

        A pair whose sink is not configured in this process counts as a failed attempt, so
        an alert nobody can deliver ends ``failed`` after ``max_attempts`` instead of
        waiting forever. ``now`` is the time the run counts as (back-off is computed from it).
        """
        policy = self.delivery
        if max_attempts is not None:
            policy = dataclasses.replace(policy, max_attempts=check_int(
                "max_attempts", max_attempts, low=1, high=1000))
        if retry_backoff is not None:
            policy = dataclasses.replace(policy, backoff=parse_window(retry_backoff,
                                                                      "retry_backoff"))
        if limit is not None:
            check_int("limit", limit, low=1)
        at = utcnow() if now is None else utc(now, "now")
        return _delivery.redeliver(self.db, self.sinks, policy, now=at, due_only=True,
                                   limit=limit)

    def outbox(self, alert_id: int | None = None, *, status: str | None = None
               ) -> pl.DataFrame:
        """Delivery state per (alert, sink): status, attempts, next attempt, last error."""
        if alert_id is not None:
            check_int("alert_id", alert_id, low=1)
        if status is not None:
            check_choice("status", status, ("pending", "sent", "failed"))
        return alert_sql.outbox(self.db, alert_id=alert_id, status=status)

    # ------------------------------------------------------------------ rules
    def add_rule(self, rule: str | AlertRule, model_name: str,
                 version: VersionLike | None = None, **params: object) -> AlertRule:
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
        context: RuleContext | None = None
        for name, ver, rule in self.rules:
            if model_name is not None and name != model_name:
                continue
            version = ver or self.registry.deployed_version(name)
            if version is None:
                continue
            context = context or self._rule_context()
            for finding in rule.evaluate(context, name, str(version)):
                alert_id = self.fire(rule.name, finding.severity, name, version,
                                     finding.message, finding.details,
                                     dedup_key=finding.dedup_key)
                if alert_id is not None:
                    fired.append(alert_id)
        return fired

    def _rule_context(self) -> RuleContext:
        if self._monitor is None:
            raise StateError("AlertingService.check: rules need a monitor; build the service "
                             "with monitor=... (ws.alerts has one)")
        return _RuleContext(self.db, self._monitor())

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
        return alert_sql.list_alerts(self.db, model_name=model_name, status=status,
                                     severity=severity, rule=rule, since=since, sent=sent,
                                     limit=limit)

    def acknowledge(self, alert_id: int) -> None:
        """Mark an alert acknowledged (someone is on it)."""
        alert_sql.set_status(self.db, check_int("alert_id", alert_id, low=1),
                             "acknowledged", utcnow())

    def resolve(self, alert_id: int) -> None:
        """Mark an alert resolved (a resolved alert no longer suppresses a new one)."""
        alert_sql.set_status(self.db, check_int("alert_id", alert_id, low=1),
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


@dataclasses.dataclass(frozen=True)
class _RuleContext:
    db: Database
    monitor: PerformanceMonitor


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
