"""A realistic demo workspace: three models, 30 days of traffic, delayed labels.

Each version serves only from its deployment on (the registry's history holds the real
deployment times, read from the simulated clock while the demo is built):

- ``n1-detector`` 1.0.0 serves production from the first day; 1.1.0 replaces it on day 12.
  Over the last three days the labels of 1.1.0 drift away from its scores (concept drift:
  accuracy drops by about a quarter), so the ``degradation`` rule fires a critical alert.
- ``waf-behavioral`` 2.0.0 sees a covariate shift in ``request_rate`` and ``path_entropy``
  over the last two days (data drift).
- ``queue-anomaly`` 1.2.0 is stable in production; 1.3.0 is a challenger deployed to staging
  on day 20 that takes 20 % of the traffic from then on.

Labels arrive 1 hour to 4 days after the prediction; those not due yet stay unlabelled. At the
end the demo evaluates the default ``degradation`` and ``drift`` alert rules once (what the
hourly jobs would do), so the alert table and the verdicts agree.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from mlmkit.clock import SimulatedClock, use_clock
from mlmkit.exceptions import StateError
from mlmkit.values import ModelMetadata, utcnow
from mlmkit.workspace import Workspace

__all__ = ["DEMO_MARKER", "DEPLOYMENTS", "DemoSummary", "build_demo", "check_alerts",
           "is_demo_workspace", "summary_lines"]

_DAY = 86_400
DEMO_MARKER = "initial release (mlmkit demo)"  # a deployment reason: `mlmkit demo` built it


@dataclasses.dataclass(frozen=True)
class DemoSummary:
    """What `build_demo` wrote."""

    models: int
    versions: int
    predictions: int
    labelled: int
    start: datetime
    end: datetime

    def __str__(self) -> str:
        return (f"{self.models} models, {self.versions} versions, {self.predictions:,} "
                f"predictions ({self.labelled:,} labelled) from {self.start:%Y-%m-%d} "
                f"to {self.end:%Y-%m-%d}")


@dataclasses.dataclass(frozen=True)
class Deployment:
    """One planned deployment: ``version`` serves ``environment`` from day ``day`` on."""

    version: str
    environment: str
    day: float
    quality: float  # how well scores separate the classes (1.0: the baseline model)
    share: float  # staging: the share of traffic it takes; production: the rest
    reason: str


#: The demo's deployment plan per model, in deployment order.
DEPLOYMENTS: dict[str, tuple[Deployment, ...]] = {
    "n1-detector": (
        Deployment("1.0.0", "production", 0, 1.0, 1.0, DEMO_MARKER),
        Deployment("1.1.0", "production", 12, 1.25, 1.0, "better offline F1"),
    ),
    "waf-behavioral": (
        Deployment("2.0.0", "production", 0, 1.1, 1.0, "initial release"),
    ),
    "queue-anomaly": (
        Deployment("1.2.0", "production", 0, 1.0, 1.0, "initial release"),
        Deployment("1.3.0", "staging", 20, 1.1, 0.2, "challenger"),
    ),
}


def _metadata() -> list[ModelMetadata]:
    return [
        ModelMetadata.for_n1_detector("1.0.0", {"threshold": 0.5, "window_size": 100})
        .with_performance_metrics({"accuracy": 0.86, "f1_score": 0.85}),
        ModelMetadata.for_n1_detector("1.1.0", {"threshold": 0.5, "window_size": 120})
        .with_performance_metrics({"accuracy": 0.88, "f1_score": 0.88}),
        ModelMetadata.for_waf_behavioral("2.0.0", {"threshold": 0.5, "window_size": 100})
        .with_performance_metrics({"accuracy": 0.87, "f1_score": 0.87}),
        ModelMetadata.for_queue_anomaly("1.2.0", {"threshold": 0.5, "min_cluster_size": 3})
        .with_performance_metrics({"accuracy": 0.86, "f1_score": 0.85}),
        ModelMetadata.for_queue_anomaly("1.3.0", {"threshold": 0.5, "min_cluster_size": 4})
        .with_performance_metrics({"accuracy": 0.87, "f1_score": 0.87}),
    ]


def _register(ws: Workspace, start: datetime) -> int:
    """Register every version at ``start``, deploy each at its planned time (clock moved)."""
    reg = ws.registry
    metas = _metadata()
    clock = SimulatedClock(start)
    with use_clock(clock):
        for meta in metas:
            if not reg.exists(meta.model_name, meta.version):
                reg.register(meta)
        plan = sorted(((d.day, model, d) for model, ds in DEPLOYMENTS.items() for d in ds),
                      key=lambda item: item[0])
        for day, model, dep in plan:
            clock.set(max(clock(), start + timedelta(days=day)))
            reg.deploy(model, dep.version, dep.environment, reason=dep.reason)
    return len(metas)


def is_demo_workspace(ws: Workspace) -> bool:
    """True when `build_demo` filled ``ws`` (its first deployment carries the marker)."""
    return DEMO_MARKER in ws.registry.history(None)["reason"].to_list()


def _serving(plan: tuple[Deployment, ...], age_days: np.ndarray, rng: np.random.Generator
             ) -> np.ndarray:
    """Index into ``plan`` of the version serving each request (never before its deploy)."""
    production = np.full(age_days.shape, -1)
    for i, dep in enumerate(plan):
        if dep.environment == "production":  # a later production deploy replaces the earlier
            production = np.where(age_days >= dep.day, i, production)
    serving = production
    for i, dep in enumerate(plan):
        if dep.environment != "production":
            takes = (age_days >= dep.day) & (rng.random(age_days.shape) < dep.share)
            serving = np.where(takes, i, serving)
    return serving


def _traffic(rng: np.random.Generator, model: str, plan: tuple[Deployment, ...], n: int,
             start: datetime, days: int) -> pl.DataFrame:
    """Simulate ``n`` predictions over ``days``, each served by the version deployed then."""
    offsets = np.sort(rng.uniform(0, days * _DAY, n))
    age_days = offsets / _DAY
    names = np.array([d.version for d in plan])
    version = _serving(plan, age_days, rng)
    if (version < 0).any():  # pragma: no cover - a plan without a day-0 production deploy
        raise StateError(f"demo plan of {model} leaves requests without a serving version")
    quality = np.array([d.quality for d in plan])[version]
    x1 = rng.normal(0, 1, n)
    x2 = rng.normal(0, 1, n)
    category = rng.choice(["GET", "POST", "PUT"], n, p=[0.6, 0.3, 0.1])
    if model == "waf-behavioral":  # covariate shift over the last two days
        late = age_days > days - 2
        x1 = np.where(late, x1 + 0.8, x1)
        x2 = np.where(late, x2 * 1.5, x2)
    logit = quality * 2.4 * (1.2 * x1 - 0.8 * x2 + 0.5 * (category == "POST")) - 0.4
    prob = 1 / (1 + np.exp(-logit))
    actual = rng.random(n) < prob
    if model == "n1-detector":  # concept drift: labels decouple from scores at the end
        late = (age_days > days - 3) & (names[version] == "1.1.0")
        flip = late & (rng.random(n) < 0.3)
        actual = np.where(flip, ~actual, actual)
    noise = rng.normal(0, 0.35, n)
    score = 1 / (1 + np.exp(-(logit + noise)))
    base = {"request_rate": "x1", "path_entropy": "x2", "method": "category"} \
        if model == "waf-behavioral" else \
        {"query_count": "x1", "latency_ms": "x2", "pattern": "category"}
    values = {"x1": x1, "x2": x2, "category": category}
    frame = pl.DataFrame({
        "prediction_id": [f"{model}-{i}" for i in range(n)],
        "model_name": model,
        "version": names[version],
        "timestamp": pl.Series([start + timedelta(seconds=float(s)) for s in offsets]),
        "prediction": score >= 0.5,
        "score": score,
        "unit_id": [f"u{u}" for u in rng.integers(0, 50_000, n)],
        **{feature: values[key] for feature, key in base.items()},
    })
    delay = rng.exponential(0.6 * _DAY, n) + 3600
    return frame.with_columns(
        pl.Series("actual", actual),
        (pl.col("timestamp") + pl.duration(seconds=pl.lit(pl.Series(delay)))).alias("label_at"),
    )


def check_alerts(ws: Workspace) -> list[int]:
    """Evaluate the default ``degradation`` and ``drift`` rules once for every production model.

    What the hourly ``degradation-check`` and ``drift-detection`` jobs would fire now; the
    verdicts (`mlmkit.services.monitor.model_verdict`) judge with the same rules. Returns the
    ids of the alerts fired (de-duplicated against open ones).
    """
    from mlmkit.services.alerts.rules import Degradation, Drift

    fired = []
    for meta in ws.registry.get_production_models():
        for rule in (Degradation(), Drift()):
            for finding in rule.evaluate(ws, meta.model_name, str(meta.version)):
                alert_id = ws.alerts.fire(rule.name, finding.severity, meta.model_name,
                                          meta.version, finding.message, finding.details,
                                          dedup_key=finding.dedup_key)
                if alert_id is not None:
                    fired.append(alert_id)
    return fired


def summary_lines(ws: Workspace) -> list[str]:
    """One line per production model for `mlmkit demo`: its verdict, then what to do next."""
    from mlmkit.services.monitor.verdict import model_verdicts

    lines = []
    for verdict in model_verdicts(ws):
        lines.append(f"  {verdict.sentence}")
        lines.append(f"      next: {verdict.action}")
    return lines


def build_demo(ws: Workspace, *, days: int = 30, per_model: int = 60_000, seed: int = 7,
               now: datetime | None = None, alerts: bool = True) -> DemoSummary:
    """Fill ``ws`` with the demo models and traffic (idempotent on a fresh workspace).

    ``alerts=True`` then evaluates the default alert rules once (`check_alerts`).
    """
    rng = np.random.default_rng(seed)
    end = (now or utcnow()).replace(microsecond=0)
    start = end - timedelta(days=days)
    versions = _register(ws, start)
    total = labelled = 0
    for model, plan in DEPLOYMENTS.items():
        frame = _traffic(rng, model, plan, per_model, start, days)
        ws.log.track_batch(frame.drop("actual", "label_at"))
        due = frame.filter(pl.col("label_at") <= end).with_columns(
            pl.col("label_at").dt.truncate("1d").alias("day"))
        for day, part in due.group_by("day", maintain_order=True):
            ws.log.record_actuals(part["prediction_id"], part["actual"],
                                  at=min(day[0] + timedelta(days=1), end))
        total += frame.height
        labelled += due.height
    if alerts:
        check_alerts(ws)
    return DemoSummary(len(DEPLOYMENTS), versions, total, labelled, start, end)
