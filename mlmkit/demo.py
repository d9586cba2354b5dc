"""A realistic demo workspace: the seed's three models, 30 days of traffic, delayed labels.

Injected episodes, so that monitoring has something to find:

- ``n1-detector`` 1.1.0 serves production; over the last three days its labels drift away from
  its scores (concept drift: accuracy drops by roughly a fifth).
- ``waf-behavioral`` 2.0.0 sees a covariate shift in ``request_rate`` and ``path_entropy``
  over the last five days (data drift).
- ``queue-anomaly`` 1.2.0 is stable in production; 1.3.0 is a challenger (staging) that takes
  20 % of the traffic.

Labels arrive 1 hour to 4 days after the prediction; those not due yet stay unlabelled.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from mlmkit.values import ModelMetadata, utcnow
from mlmkit.workspace import Workspace

__all__ = ["DEMO_MARKER", "DemoSummary", "build_demo", "is_demo_workspace"]

_DAY = 86_400
DEMO_MARKER = "initial release (mlmkit demo)"  # a deployment reason: `mlmkit demo` built it


@dataclasses.dataclass(frozen=True)
class DemoSummary:
    """What :func:`build_demo` wrote."""

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


def _register(ws: Workspace) -> int:
    reg = ws.registry
    metas = [
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
    for meta in metas:
        if not reg.exists(meta.model_name, meta.version):
            reg.register(meta)
    reg.deploy("n1-detector", "1.0.0", reason=DEMO_MARKER)
    reg.deploy("n1-detector", "1.1.0", reason="better offline F1")
    reg.deploy("waf-behavioral", "2.0.0", reason="initial release")
    reg.deploy("queue-anomaly", "1.2.0", reason="initial release")
    reg.deploy("queue-anomaly", "1.3.0", "staging", reason="challenger")
    return len(metas)


def is_demo_workspace(ws: Workspace) -> bool:
    """True when :func:`build_demo` filled ``ws`` (its first deployment carries the marker)."""
    return DEMO_MARKER in ws.registry.history(None)["reason"].to_list()


def _traffic(rng: np.random.Generator, model: str, versions: list[tuple[str, float, float]],
             n: int, start: datetime, days: int) -> pl.DataFrame:
    """Simulate ``n`` predictions; each version is (name, quality, traffic share)."""
    offsets = np.sort(rng.uniform(0, days * _DAY, n))
    age_days = offsets / _DAY
    names = [v[0] for v in versions]
    shares = np.array([v[2] for v in versions])
    version = rng.choice(len(versions), n, p=shares / shares.sum())
    quality = np.array([v[1] for v in versions])[version]
    x1 = rng.normal(0, 1, n)
    x2 = rng.normal(0, 1, n)
    category = rng.choice(["GET", "POST", "PUT"], n, p=[0.6, 0.3, 0.1])
    if model == "waf-behavioral":  # covariate shift over the last five days
        late = age_days > days - 5
        x1 = np.where(late, x1 + 0.8, x1)
        x2 = np.where(late, x2 * 1.5, x2)
    logit = quality * 2.4 * (1.2 * x1 - 0.8 * x2 + 0.5 * (category == "POST")) - 0.4
    prob = 1 / (1 + np.exp(-logit))
    actual = rng.random(n) < prob
    if model == "n1-detector":  # concept drift: labels decouple from scores at the end
        late = (age_days > days - 3) & (np.array(names)[version] == "1.1.0")
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
        "version": np.array(names)[version],
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


def build_demo(ws: Workspace, *, days: int = 30, per_model: int = 60_000, seed: int = 7,
               now: datetime | None = None) -> DemoSummary:
    """Fill ``ws`` with the demo models and traffic (idempotent on a fresh workspace)."""
    rng = np.random.default_rng(seed)
    end = (now or utcnow()).replace(microsecond=0)
    start = end - timedelta(days=days)
    versions = _register(ws)
    plans = {
        "n1-detector": [("1.0.0", 1.0, 0.5), ("1.1.0", 1.25, 0.5)],
        "waf-behavioral": [("2.0.0", 1.1, 1.0)],
        "queue-anomaly": [("1.2.0", 1.0, 0.8), ("1.3.0", 1.1, 0.2)],
    }
    total = labelled = 0
    for model, plan in plans.items():
        frame = _traffic(rng, model, plan, per_model, start, days)
        ws.log.track_batch(frame.drop("actual", "label_at"))
        due = frame.filter(pl.col("label_at") <= end).with_columns(
            pl.col("label_at").dt.truncate("1d").alias("day"))
        for day, part in due.group_by("day", maintain_order=True):
            ws.log.record_actuals(part["prediction_id"], part["actual"],
                                  at=min(day[0] + timedelta(days=1), end))
        total += frame.height
        labelled += due.height
    return DemoSummary(len(plans), versions, total, labelled, start, end)
