"""The simulation's per-task oracles against scikit-learn, and the repeated-alert rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from mlmkit.simulation.task_checks import repeated_alerts
from mlmkit.simulation.tasks import CLASSES, direct_metrics


def test_direct_multiclass_metrics_equal_scikit_learn() -> None:
    rng = np.random.default_rng(7)
    y = rng.choice(CLASSES[:3], 500)  # the fourth class only in the probabilities: not
    p = np.where(rng.random(500) < 0.7, y, rng.choice(CLASSES[:3], 500))  # averaged (as
    probabilities = [[{"label": c, "p": 0.25} for c in CLASSES]] * 500  # labels=None)
    rows = pl.DataFrame({"label": p, "actual_label": y, "probabilities": probabilities})
    got = direct_metrics("multiclass", rows)
    assert got["accuracy"] == accuracy_score(y, p)
    assert np.isclose(got["f1_macro"], f1_score(y, p, average="macro"), rtol=1e-12)


def test_direct_regression_metrics_equal_scikit_learn() -> None:
    rng = np.random.default_rng(8)
    y = rng.normal(30, 8, 400)
    v = y + rng.normal(0, 3, 400)
    keep = np.arange(400) % 5 != 0
    rows = pl.DataFrame({"value": v, "actual_value": [float(a) if k else None
                                                      for a, k in zip(y, keep, strict=True)]})
    got = direct_metrics("regression", rows)
    assert got["labelled_count"] == keep.sum()
    assert np.isclose(got["mae"], mean_absolute_error(y[keep], v[keep]), rtol=1e-12)
    assert np.isclose(got["rmse"], np.sqrt(mean_squared_error(y[keep], v[keep])), rtol=1e-12)


def test_an_alert_repeated_within_the_cooldown_is_reported_unless_it_escalates() -> None:
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    hits = pl.DataFrame({
        "alert_id": [1, 2, 3, 4], "dedup_key": ["k"] * 4,
        "created_at": [t0, t0 + timedelta(hours=1), t0 + timedelta(hours=2),
                       t0 + timedelta(hours=7)],
        "severity": ["warning", "critical", "warning", "critical"]})
    found = repeated_alerts(hits, timedelta(hours=4))
    assert len(found) == 1 and found[0].startswith("alert 3 ")
