"""A batch may add at most MLMKIT_MAX_NEW_FEATURES feature columns (hostile sweep, issue 14).

Each new feature is an ``ALTER TABLE ADD COLUMN`` in the batch's transaction; one HTTP row
with 10,000 new feature names took 24 GB and the machine down. Beyond the limit the batch is
refused whole (a ValidationError naming ``features``), before any column is added; features
already logged do not count, and the variable raises the limit.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit import ModelMetadata, ValidationError
from mlmkit.store.predictions.writes import MAX_NEW_FEATURES, NEW_FEATURES_ENV


def _batch(names: list[str], rows: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame({"model_name": "m", "version": "1.0.0",
                         "prediction": [True] * rows, "score": rng.random(rows),
                         **{name: rng.normal(size=rows) for name in names}})


def _columns(ws: mlmkit.Workspace) -> int:
    return int(ws.db.execute("SELECT count(*) FROM information_schema.columns "
                             "WHERE table_name = 'predictions'")[0][0])


def test_too_many_new_features_are_refused_whole(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(NEW_FEATURES_ENV, raising=False)
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        ws.registry.register(ModelMetadata("m", "supervised", "1.0.0"))
        before = _columns(ws)
        wide = [f"f{i}" for i in range(MAX_NEW_FEATURES + 1)]
        with pytest.raises(ValidationError, match=r"features must be at most 500 features new"):
            ws.log.track_batch(_batch(wide))
        assert _columns(ws) == before  # nothing added, nothing written
        assert ws.db.execute("SELECT count(*) FROM predictions")[0][0] == 0
        ws.log.track_batch(_batch(wide[:MAX_NEW_FEATURES]))  # over two batches: fine
        ws.log.track_batch(_batch(wide))  # (one new: under the limit; the rest are known)
        assert _columns(ws) == before + MAX_NEW_FEATURES + 1
        assert ws.db.execute("SELECT count(*) FROM predictions")[0][0] == 6


def test_the_variable_raises_the_limit_and_a_bad_value_is_named(tmp_path, monkeypatch
                                                                 ) -> None:
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        ws.registry.register(ModelMetadata("m", "supervised", "1.0.0"))
        monkeypatch.setenv(NEW_FEATURES_ENV, "zero")
        with pytest.raises(ValidationError, match=NEW_FEATURES_ENV):
            ws.log.track_batch(_batch(["a", "b"]))
        monkeypatch.setenv(NEW_FEATURES_ENV, "2000")
        assert ws.log.track_batch(_batch([f"f{i}" for i in range(600)], rows=2)) == 2
