"""Seeded A/B traffic for the A/B and rollout tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def traffic(version: str, accuracy: float, n: int, *, seed: int, start: datetime = T0,
            span: timedelta = timedelta(days=3), model: str = "n1-detector",
            ids: Any = None, role: str = "served", actual: Any = None,
            prefix: str | None = None) -> pl.DataFrame:
    """``n`` labelled predictions of ``version`` that are right with probability ``accuracy``."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.4 if actual is None else np.asarray(actual)
    correct = rng.random(n) < accuracy
    pred = np.where(correct, truth, ~truth)
    score = np.clip(np.where(pred, 0.7, 0.3) + rng.normal(0, 0.15, n), 0, 1)
    offsets = np.sort(rng.integers(0, int(span.total_seconds()), n))
    frame = pl.DataFrame({
        "model_name": model, "version": version, "prediction": pred, "actual": truth,
        "score": score, "timestamp": [start + timedelta(seconds=int(s)) for s in offsets],
        "role": role,
    })
    if ids is not None:
        frame = frame.with_columns(pl.Series("prediction_id", list(ids), dtype=pl.String))
    elif prefix is not None:
        frame = frame.with_columns(pl.Series("prediction_id", [f"{prefix}{i}" for i in range(n)]))
    return frame
