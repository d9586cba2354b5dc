"""One verdict per model: severity, one sentence, drifted features, open alerts, next step.

The verdict is what a report, ``mlmkit demo``, the monitor panel and the Prometheus exporter
show first. It judges with the **same rules** as the alerts: the ``degradation`` rule (its
threshold, metric, window and baseline; by default the hourly ``degradation-check``'s 5 % drop
of accuracy over the last 24 h against the registered baseline) and the ``drift`` rule (7 days
against the last 24 h). A rule configured for the model with ``ws.alerts.add_rule`` is used
instead of the default. The severity is the worst of

- the degradation rule's severity (``warning`` from the threshold, ``critical`` from twice it);
- ``warning`` (the drift rule's severity) when input features drifted;
- the severity of every alert of the model version that is not resolved.

So a verdict never says ``ok`` next to an open critical alert. Too few labels to judge makes
the verdict at least ``warning`` with "collect labels" as the next step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import polars as pl

from mlmkit._jsonable import JSONObject
from mlmkit._validation import check_name
from mlmkit.exceptions import NotFoundError
from mlmkit.services.alerts.rules import Degradation, Drift
from mlmkit.values import Version, VersionLike, parse_window, utcnow

if TYPE_CHECKING:
    from mlmkit.services.alerts.service import AlertingService
    from mlmkit.services.monitor.results import DegradationInfo
    from mlmkit.services.monitor.service import PerformanceMonitor
    from mlmkit.store.database import Database
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = ["VERDICT_SEVERITIES", "ModelVerdict", "model_verdict", "model_verdicts"]

#: Verdict severities, least to most severe.
VERDICT_SEVERITIES = ("ok", "warning", "critical")
_RANK = {"info": 0, "ok": 0, "warning": 1, "critical": 2}


class VerdictContext(Protocol):
    """What a verdict reads (a [`Workspace`][mlmkit.workspace.Workspace] is one)."""

    @property
    def db(self) -> Database:
        """The workspace database."""
        ...

    @property
    def registry(self) -> ModelRegistry:
        """The model registry."""
        ...

    @property
    def monitor(self) -> PerformanceMonitor:
        """The performance monitor."""
        ...

    @property
    def alerts(self) -> AlertingService:
        """The alerting service."""
        ...


@dataclass(frozen=True)
class ModelVerdict:
    """The verdict on one model version serving one environment.

    Attributes
    ----------
    severity : str
        ``"ok"``, ``"warning"`` or ``"critical"`` (see the module docstring for the rule).
    sentence : str
        One sentence naming the model, the severity and the reasons.
    action : str
        What to do next (``"no action"`` when all is well).
    degradation : DegradationInfo
        The degradation rule's result (same window, baseline and threshold as the alert).
    drifted : tuple of str
        Input features the drift rule flags.
    alerts : polars.DataFrame
        The model version's alerts that are not resolved, newest first, messages in full.
    """

    model_name: str
    version: str
    environment: str
    severity: str
    sentence: str
    action: str
    degradation: DegradationInfo
    drifted: tuple[str, ...]
    alerts: pl.DataFrame
    window: str
    judged_at: datetime

    @property
    def insufficient(self) -> bool:
        """True when too few labels were there to judge the metric."""
        return bool(self.degradation.insufficient)

    def __str__(self) -> str:
        return self.sentence

    def to_dict(self) -> JSONObject:
        """Plain values (alerts as a list of dicts)."""
        return {"model_name": self.model_name, "version": self.version,
                "environment": self.environment, "severity": self.severity,
                "sentence": self.sentence, "action": self.action,
                "drifted": list(self.drifted), "window": self.window,
                "judged_at": self.judged_at.isoformat(),
                "degradation_percent": _finite(self.degradation.degradation_percent),
                "insufficient": self.insufficient,
                "alerts": [{k: (v.isoformat() if isinstance(v, datetime) else v)
                            for k, v in row.items()}
                           for row in self.alerts.select(
                               "alert_id", "created_at", "rule", "severity", "status",
                               "message").iter_rows(named=True)]}

    def _repr_html_(self) -> str:
        from mlmkit._html import cell

        return (f"<div class='mlmkit-verdict mlmkit-{cell(self.severity)}'><p><b>"
                f"{cell(self.sentence)}</b></p><p>Next: {cell(self.action)}</p></div>")


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def span_text(window: str | timedelta) -> str:
    """``"24h"`` -> ``"24 h"``, ``"7d"`` -> ``"7 days"`` (the words of a verdict)."""
    seconds = parse_window(window, "window").total_seconds()
    if seconds % 86_400 == 0 and seconds >= 2 * 86_400:
        return f"{seconds / 86_400:g} days"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min"


def _rules(ctx: VerdictContext, model_name: str, version: str) -> tuple[Degradation, Drift]:
    """The degradation and drift rules configured for the model, else the defaults."""
    degradation, drift = Degradation(), Drift()
    for name, ver, rule in getattr(ctx.alerts, "rules", []):
        if name != model_name or ver not in (None, version):
            continue
        if isinstance(rule, Degradation):
            degradation = rule
        elif isinstance(rule, Drift):
            drift = rule
    return degradation, drift


def _open_alerts(ctx: VerdictContext, model_name: str, version: str) -> pl.DataFrame:
    alerts = ctx.alerts.list(model_name)
    return alerts.filter((pl.col("status") != "resolved")
                         & (pl.col("version").is_null() | (pl.col("version") == version)))


def _previous(ctx: VerdictContext, model_name: str, environment: str) -> str | None:
    """The version the environment would roll back to (the one the last deploy replaced)."""
    history = ctx.registry.history(model_name, environment=environment).filter(
        pl.col("action").is_in(["deploy", "rollback"]))
    if history.height == 0:
        return None
    previous = history["previous_version"][-1]
    return None if previous is None else str(previous)


def _degradation_text(info: DegradationInfo, span: str) -> str:
    if info.insufficient:
        return (f"too few labels to judge {info.metric} over the last {span} "
                f"({info.current_n:,} labelled)")
    if info.has_degraded:
        word = {"lower_is_better": "rose", "either": "moved"}.get(
            str(info.details.get("direction")), "dropped")
        return (f"{info.metric} {word} {info.degradation_percent:.1f}% vs baseline "
                f"({info.baseline_value:.3f} -> {info.current_value:.3f}) over the last {span}")
    return (f"{info.metric} {info.current_value:.3f} vs baseline {info.baseline_value:.3f} "
            f"over the last {span}")


def _alerts_text(alerts: pl.DataFrame) -> str:
    if alerts.height == 0:
        return "no open alerts"
    parts = []
    for level in ("critical", "warning", "info"):
        n = alerts.filter(pl.col("severity") == level).height
        if n:
            parts.append(f"{n} open {level} alert{'s' if n > 1 else ''}")
    return ", ".join(parts)


def _action(ctx: VerdictContext, model_name: str, environment: str, severity: str,
            info: DegradationInfo, drifted: tuple[str, ...], alerts: pl.DataFrame, *,
            min_labels: int) -> str:
    steps = []
    critical_drop = info.severity == "critical" or (
        alerts.height and alerts.filter((pl.col("rule") == "degradation")
                                        & (pl.col("severity") == "critical")).height)
    if critical_drop:
        previous = _previous(ctx, model_name, environment)
        steps.append(f"roll back to {previous} with `mlmkit registry rollback {model_name}"
                     + (f" --environment {environment}`" if environment != "production"
                        else "`")
                     if previous else "retrain or replace the model (no earlier version to "
                     "roll back to)")
    elif info.severity == "warning":
        steps.append(f"investigate the {info.metric} change and watch the next window"
                     if info.details.get("direction") in ("lower_is_better", "either") else
                     f"investigate the {info.metric} drop and watch the next window")
    if info.insufficient:
        steps.append(f"collect labels ({info.current_n:,} labelled in the window, "
                     f"{min_labels:,} needed to judge {info.metric})")
    if drifted:
        steps.append(f"check the inputs {', '.join(drifted)} for an upstream change; "
                     "retrain if the shift persists")
    others = alerts.filter(~pl.col("rule").is_in(["degradation", "drift"]))
    if others.height:  # degradation and drift alerts are covered by the steps above
        ids = ", ".join(str(i) for i in others["alert_id"].to_list()[:5])
        steps.append(f"review and resolve alert{'s' if others.height > 1 else ''} {ids}")
    return "; ".join(steps) if steps or severity != "ok" else "no action"


def model_verdict(ctx: VerdictContext, model_name: str, version: VersionLike | None = None, *,
                  environment: str = "production") -> ModelVerdict:
    """The verdict on ``model_name`` (default: the version serving ``environment``).

    Parameters
    ----------
    ctx
        A workspace (registry, monitor, alerts).
    model_name
        A registered model.
    version
        The version to judge; default: the one deployed in ``environment``.
    environment
        The environment named in the sentence and whose history gives the roll-back target.

    Returns
    -------
    ModelVerdict
    """
    check_name("model_name", model_name)
    check_name("environment", environment)
    if version is None:
        deployed = ctx.registry.deployed_version(model_name, environment)
        if deployed is None:
            raise NotFoundError(f"model_name={model_name!r} has no version deployed in "
                                f"environment={environment!r}; pass version=")
        version = deployed
    ver = str(Version.parse(version))
    degradation_rule, drift_rule = _rules(ctx, model_name, ver)
    info = degradation_rule.info(ctx, model_name, ver)
    drifted, _ = drift_rule.drifted(ctx, model_name, ver)
    alerts = _open_alerts(ctx, model_name, ver)
    rank = max([0 if info.insufficient else _RANK[info.severity],
                1 if info.insufficient else 0,
                _RANK[drift_rule.severity] if drifted else 0,
                *[_RANK.get(s, 0) for s in alerts["severity"].to_list()]])
    severity = VERDICT_SEVERITIES[rank]
    span = span_text(degradation_rule.window)
    drift_text = (f"drift in {len(drifted)} feature{'s' if len(drifted) > 1 else ''}: "
                  f"{', '.join(drifted)}" if drifted else "no input drift")
    sentence = (f"{model_name} {ver} ({environment}): {severity} — "
                f"{_degradation_text(info, span)}; {drift_text}; {_alerts_text(alerts)}")
    action = _action(ctx, model_name, environment, severity, info, tuple(drifted), alerts,
                     min_labels=degradation_rule.min_labels)
    return ModelVerdict(model_name=model_name, version=ver, environment=environment,
                        severity=severity, sentence=sentence, action=action, degradation=info,
                        drifted=tuple(drifted), alerts=alerts,
                        window=str(degradation_rule.window), judged_at=utcnow())


def model_verdicts(ctx: VerdictContext, *, environment: str = "production"
                   ) -> list[ModelVerdict]:
    """The verdict on every model deployed in ``environment``, by model name."""
    check_name("environment", environment)
    found = []
    for name in sorted(ctx.registry.get_all_model_names()):
        deployed = ctx.registry.deployed_version(name, environment)
        if deployed is not None:
            found.append(model_verdict(ctx, name, deployed, environment=environment))
    return found
