"""Exact ROC AUC aggregated in DuckDB (Mann-Whitney over distinct scores) against sklearn."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

import mlmkit
from mlmkit.store.predictions.aggregates import exact_roc_auc


def test_exact_roc_auc_equals_sklearn_with_ties_per_version(tmp_path) -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    frames, truth = [], {}
    for version, shift in (("1.0.0", 0.2), ("1.1.0", 0.05)):
        y = rng.random(n) < 0.3
        s = np.clip(rng.normal(0.4 + shift * y, 0.2), 0, 1).round(2)  # heavy ties
        truth[version] = roc_auc_score(y, s)
        frames.append(pl.DataFrame({"model_name": "m", "version": version, "prediction": s >= 0.5,
                                    "score": s, "actual": y}))
    one_class = pl.DataFrame({"model_name": "m", "version": "2.0.0", "prediction": [True] * 5,
                              "score": [0.9] * 5, "actual": [True] * 5})
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        ws.log.track_batch(pl.concat([*frames, one_class]))
        got = exact_roc_auc(ws.db, "m", versions=["1.0.0", "1.1.0", "2.0.0"])
    assert set(got) == {"1.0.0", "1.1.0"}  # one class: undefined, absent
    for version, expected in truth.items():
        assert got[version] == pytest.approx(expected, abs=1e-12, rel=0)
