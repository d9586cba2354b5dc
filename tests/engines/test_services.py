"""The services give the same answers on the workspace engine and on the Parquet engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from polars.testing import assert_frame_equal

import mlmkit
from mlmkit.store.engines.parquet import ParquetEngine
from mlmkit.workspace import Workspace

from .conftest import END, START

W = {"start": START + timedelta(days=1), "end": END}

RUNS: dict[str, Callable[[Workspace], Any]] = {
    "metrics": lambda ws: ws.monitor.get_current_metrics("fraud", "1.0.0", **W).to_dict(),
    "counts_only": lambda ws: ws.monitor.get_current_metrics(
        "churn", "1.1.0", scores=False, **W).to_dict(),
    "compare": lambda ws: ws.monitor.compare_versions("spam", ["1.0.0", "1.1.0"], **W),
    "trend": lambda ws: ws.monitor.get_performance_trend("churn", None, interval="1d", **W),
    "concept": lambda ws: ws.monitor.detect_concept_drift("spam", "1.0.0", **W).to_dict(),
    "drift": lambda ws: ws.monitor.data_drift(
        "churn", reference=(START, START + timedelta(days=4)),
        current=(START + timedelta(days=4), END)),
    "ab_split": lambda ws: ws.ab.run_test(mlmkit.ABTestConfig.create(
        "churn", "1.0.0", "1.1.0"), secondary_metrics=("roc_auc", "f1_score"), **W).to_dict(),
    "ab_shadow": lambda ws: ws.ab.run_test(mlmkit.ABTestConfig.create(
        "fraud", "1.0.0", "1.1.0"), **W).to_dict(),
    "tuning_grid": lambda ws: ws.tuning.optimize_threshold(
        "spam", "1.0.0", threshold_range=(0.3, 0.8), step=0.05, **W).to_dict(),
    "tuning_exact": lambda ws: ws.tuning.optimize_threshold(
        "spam", "1.1.0", threshold_range=None, step=None, **W).to_dict(),
}


def _same(a: Any, b: Any) -> None:
    if hasattr(a, "columns"):
        assert_frame_equal(a, b, rel_tol=1e-12, abs_tol=1e-12, check_exact=False)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a.keys() - {"run_id"}:  # a fresh id per stored tuning run
            _same(a[k], b[k])
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12, nan_ok=True)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


@pytest.mark.parametrize("name", sorted(RUNS))
def test_service_result_is_engine_independent(dataset: tuple[Path, Path], name: str) -> None:
    db, root = dataset
    with mlmkit.open(db) as ws:
        expected = RUNS[name](ws)
    with ParquetEngine(root) as engine, mlmkit.open(db, engine=engine) as ws:
        assert ws.monitor.engine is engine and ws.ab.engine is engine
        _same(expected, RUNS[name](ws))
