"""Notebook chart data reads its aggregates through the monitor's engine, not the workspace file."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

import mlmkit
from mlmkit.store.engines.parquet import ParquetEngine
from mlmkit.viz.data import calibration_frame, threshold_curve


@pytest.mark.parametrize("build", [
    lambda ws: threshold_curve(ws, "fraud", window=None, bins=200),
    lambda ws: calibration_frame(ws, "churn", "1.1.0", window=None, bins=8),
], ids=["threshold_curve", "calibration_frame"])
def test_chart_data_follows_the_engine(dataset: tuple[Path, Path], tmp_path: Path,
                                       build) -> None:
    db, root = dataset
    with mlmkit.open(db) as ws:
        expected = build(ws)
    # an empty workspace whose statistics come from the dataset: the rows are only there
    with ParquetEngine(root) as engine, mlmkit.open(tmp_path / "empty.duckdb",
                                                    engine=engine) as ws:
        assert ws.log.count() == 0
        assert_frame_equal(build(ws), expected, check_exact=False, rel_tol=1e-12)
