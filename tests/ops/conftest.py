"""A small demo-like workspace file shared by the ops tests."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.values import utcnow


def build_demo(path, *, days: int = 3, per_day: int = 400, seed: int = 7):
    """n1-detector 1.0.0 in production, ``days`` of scored, labelled predictions."""
    rng = np.random.default_rng(seed)
    now = utcnow()
    n = days * per_day
    ts = [now - timedelta(seconds=float(s)) for s in rng.uniform(60, days * 86400, n)]
    actual = rng.random(n) < 0.4
    score = np.clip(np.where(actual, rng.beta(5, 3, n), rng.beta(2, 5, n)), 0, 1)
    frame = pl.DataFrame({"model_name": "n1-detector", "version": "1.0.0",
                          "prediction": score >= 0.7, "score": score, "actual": actual,
                          "timestamp": ts, "amount": rng.normal(0, 1, n)})
    with mlmkit.open(path) as ws:
        ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0", {"threshold": 0.7}))
        ws.registry.deploy("n1-detector", "1.0.0", "production")
        ws.log.track_batch(frame)
    return path


@pytest.fixture
def demo_db(tmp_path):
    return build_demo(tmp_path / "demo.duckdb")
