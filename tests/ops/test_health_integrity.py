"""Readiness refuses a truncated workspace file (a copy cut at 50 % or 90 %).

Before the check, such a copy opened, ``count(*)`` answered from metadata and
``/health/ready`` said 200; only a full read failed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.ops.health import health_report, readiness


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("integrity") / "whole.duckdb"
    rng = np.random.default_rng(3)
    n = 200_000
    with mlmkit.open(path) as ws:
        ws.log.track_batch(pl.DataFrame({
            "model_name": "m", "version": "1.0.0", "prediction": rng.random(n) < 0.5,
            "score": rng.random(n), "prediction_id": [f"p{i}" for i in range(n)]}))
    return path


def test_a_whole_file_is_ready(whole: Path) -> None:
    assert readiness(whole).status_code == 200


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_a_truncated_copy_is_not_ready(whole: Path, tmp_path: Path, fraction: float) -> None:
    data = whole.read_bytes()
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(data[: int(len(data) * fraction)])
    ready = readiness(cut)
    assert ready.status_code == 503
    assert "StoreError" in ready.body["error"]
    assert "truncated" in ready.body["error"] or "read enough bytes" in ready.body["error"]
    report = health_report(cut)
    assert report.status_code == 503 and report.body["database"]["ok"] is False
