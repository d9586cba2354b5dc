"""Alert rules, sinks, de-duplication and the alert table."""

from __future__ import annotations

from mlmkit.services.alerts.service import (
    RULES,
    SEVERITIES,
    AlertingService,
    AlertRule,
    CallbackSink,
    Finding,
    LoggingSink,
    RuleContext,
    SinkError,
    WebhookSink,
    available_rules,
    make_rule,
    register_rule,
)

__all__ = [
    'AlertRule',
    'AlertingService',
    'CallbackSink',
    'Finding',
    'LoggingSink',
    'RULES',
    'RuleContext',
    'SEVERITIES',
    'SinkError',
    'WebhookSink',
    'available_rules',
    'make_rule',
    'register_rule',
]
