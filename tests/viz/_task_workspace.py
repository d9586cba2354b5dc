"""A workspace holding one model of each non-binary task, with seeded traffic and labels.

Imported by the per-task view tests (charts, report, Prometheus): ``sys.path`` gets this folder.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.values import utcnow

CLASSES = [f"c{i:02d}" for i in range(12)]
MULTICLASS, REGRESSION, SCORE = "mc-router", "reg-eta", "an-score"
FLAG_THRESHOLD = 6.0


def _stamps(rng: np.random.Generator, n: int, days: float) -> list:
    now = utcnow()
    ages = np.sort(rng.uniform(60.0, days * 86_400.0, n))[::-1]
    return [now - timedelta(seconds=float(a)) for a in ages]


def _multiclass(ws: mlmkit.Workspace, rng: np.random.Generator, n: int, days: float,
                versions: tuple[str, ...]) -> None:
    for k, version in enumerate(versions):
        ws.registry.register(ModelMetadata(MULTICLASS, "supervised", version, task="multiclass"))
        actual = rng.integers(0, len(CLASSES), n)
        right = rng.random(n) < 0.75 - 0.1 * k
        pred = np.where(right, actual, rng.integers(0, len(CLASSES), n))
        raw = rng.dirichlet(np.ones(len(CLASSES)), n)
        raw[np.arange(n), pred] += 2.0
        raw /= raw.sum(axis=1, keepdims=True)
        probs = [{c: float(p) for c, p in zip(CLASSES, row, strict=True)} for row in raw]
        ids = [f"mc-{version}-{i}" for i in range(n)]
        ws.log.track_batch(pl.DataFrame({
            "model_name": MULTICLASS, "version": version, "prediction_id": ids,
            "prediction": [CLASSES[p] for p in pred], "probabilities": probs,
            "timestamp": _stamps(rng, n, days)}))
        ws.log.record_actuals(ids, [CLASSES[a] for a in actual], model_name=MULTICLASS,
                              version=version)


def _regression(ws: mlmkit.Workspace, rng: np.random.Generator, n: int, days: float,
                versions: tuple[str, ...]) -> None:
    for k, version in enumerate(versions):
        ws.registry.register(ModelMetadata(REGRESSION, "supervised", version, task="regression"))
        actual = rng.normal(50.0, 10.0, n)
        pred = actual + rng.normal(1.0 * k, 3.0 + k, n)
        ids = [f"reg-{version}-{i}" for i in range(n)]
        ws.log.track_batch(pl.DataFrame({
            "model_name": REGRESSION, "version": version, "prediction_id": ids,
            "prediction": pred, "timestamp": _stamps(rng, n, days)}))
        ws.log.record_actuals(ids, actual.tolist(), model_name=REGRESSION, version=version)


def _score(ws: mlmkit.Workspace, rng: np.random.Generator, n: int, days: float) -> None:
    ws.registry.register(ModelMetadata(SCORE, "unsupervised", "1.0.0", task="score",
                                       configuration={"threshold": FLAG_THRESHOLD}))
    scores = rng.gamma(2.0, 1.5, n)
    ws.log.track_batch(pl.DataFrame({
        "model_name": SCORE, "version": "1.0.0", "score": scores,
        "prediction": scores > FLAG_THRESHOLD, "timestamp": _stamps(rng, n, days)}))


def build(path: Path, *, n: int = 1_500, days: float = 6.0, seed: int = 7) -> Path:
    """Write the workspace at ``path``: the three models, each deployed to production."""
    rng = np.random.default_rng(seed)
    with mlmkit.open(path) as ws:
        _multiclass(ws, rng, n, days, ("1.0.0", "1.1.0"))
        _regression(ws, rng, n, days, ("1.0.0", "1.1.0"))
        _score(ws, rng, n, days)
        for model in (MULTICLASS, REGRESSION):
            ws.registry.deploy(model, "1.0.0", reason="first")
        ws.registry.deploy(SCORE, "1.0.0", reason="first")
    return path
