"""``segment=`` on degradation, compare_versions and concept drift over the Spark engine.

The frames equal the workspace's (counts exact, floats 1e-12) on the dataset exported from
the workspace of ``tests/services/test_segments_keyword.py`` (every task, 4 segments).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from mlmkit.store.engines.dataset import export_dataset

# the rows and workspace builder of the keyword tests (tests/services), loaded by path
_PATH = Path(__file__).parents[1] / "services" / "test_segments_keyword.py"
_SPEC = importlib.util.spec_from_file_location("_segments_keyword", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
kw = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(kw)  # (it put tests/services on sys.path)
from _counting import segment_workspace  # noqa: E402  (the builder beside those tests)


def _calls(model: str) -> dict[str, Callable[[Any], pl.DataFrame]]:
    calls: dict[str, Callable[[Any], pl.DataFrame]] = {
        "degradation": lambda mon: mon.get_performance_degradation_info(
            model, kw.V1, start=kw.MID, end=kw.END, baseline=(kw.T0, kw.MID), min_labels=20,
            alert=False, segment="country"),
        "compare": lambda mon: mon.compare_versions(
            model, [kw.V1, kw.V2], start=kw.T0, end=kw.END, min_labels=20, segment="country")}
    if model != "an":
        calls["concept"] = lambda mon: mon.detect_concept_drift(
            model, kw.V1, start=kw.T0, end=kw.END, min_labels=20, segment="country")
    return calls


def test_segment_verdicts_equal_on_spark(spark_session: Any, tmp_path: Path) -> None:
    from mlmkit.store.engines import SparkEngine

    ws = segment_workspace(tmp_path / "ws.duckdb", kw._rows(np.random.default_rng(15)),
                             kw.TASKS, kw.REGISTERED, (kw.V1, kw.V2))
    export_dataset(ws.db, tmp_path / "ds")
    with SparkEngine(tmp_path / "ds", spark=spark_session) as spark:
        for model in kw.TASKS:
            for name, call in _calls(model).items():
                on_spark = call(ws.monitor.using(spark))
                assert on_spark.height == len(kw.SEGMENTS) * (2 if name == "compare" else 1)
                assert_frame_equal(on_spark, call(ws.monitor), check_exact=False,
                                   rel_tol=1e-12)
    ws.close()


# the per-segment probability metrics, row bootstraps and data drift (tests/services)
_PROBS = Path(__file__).parents[1] / "services" / "test_segment_probs.py"
_PSPEC = importlib.util.spec_from_file_location("_segment_probs", _PROBS)
assert _PSPEC is not None and _PSPEC.loader is not None
pr = importlib.util.module_from_spec(_PSPEC)
_PSPEC.loader.exec_module(pr)


def test_segment_probabilities_bootstraps_and_drift_equal_on_spark(spark_session: Any,
                                                                   tmp_path: Path) -> None:
    """Grouped log-loss sums / OvR histograms / pairs / drift reads in the Spark dialect."""
    from mlmkit import ABTestConfig
    from mlmkit.store.engines import SparkEngine

    ws = segment_workspace(tmp_path / "ws.duckdb", pr._rows(np.random.default_rng(51)),
                             pr.TASKS, pr.REGISTERED, (pr.V1, pr.V2))
    export_dataset(ws.db, tmp_path / "ds")
    cfg = ABTestConfig.create("rg", pr.V1, pr.V2, primary_metric="rmse")
    span = {"start": pr.T0, "end": pr.END}
    sides = {"reference": (pr.T0, pr.MID), "current": (pr.MID, pr.END)}
    calls: dict[str, Callable[[Any, Any], pl.DataFrame]] = {
        "metrics": lambda mon, ab: mon.get_current_metrics("mc", pr.V1, segment="country",
                                                           **span),
        "compare": lambda mon, ab: mon.compare_versions("rg", [pr.V1, pr.V2], metric="r2",
                                                        segment="country", **span),
        "ab": lambda mon, ab: ab.run_test(cfg, segment="country", **span),
        "drift": lambda mon, ab: mon.data_drift("rg", pr.V1, segment="country", **sides),
        "drift_rows": lambda mon, ab: mon.data_drift("mc", pr.V1, segment=["country", "device"],
                                                     **sides),
        "drift_some_rows": lambda mon, ab: mon.data_drift("rg", pr.V1, segment="country",
                                                          features=["load", "device"], **sides)}
    with SparkEngine(tmp_path / "ds", spark=spark_session) as spark:
        for call in calls.values():
            assert_frame_equal(call(ws.monitor.using(spark), ws.ab.using(spark)),
                               call(ws.monitor, ws.ab), check_exact=False, rel_tol=1e-12)
    ws.close()
