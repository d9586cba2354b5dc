"""A ``segment=`` column with a value per user is refused at once, not answered in minutes.

Before: 100,000 segments on 1e6 rows took 77 s in segment_metrics, 29 s in degradation and
more than 8 minutes in segment_drift, with no word of why. Now every segment call counts its
first grouped result and refuses more than ``MLMKIT_MAX_SEGMENTS`` (default 2,000) with a
`ValidationError` naming ``segment``, the count and what to do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit import ModelMetadata, ValidationError
from mlmkit.store.engines.segment_limit import DEFAULT_MAX_SEGMENTS, ENV, max_segments
from mlmkit.values import ABTestConfig

END = datetime(2026, 5, 1, tzinfo=UTC)
W = {"start": END - timedelta(days=2), "end": END}
USERS = 300


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = mlmkit.open(tmp_path_factory.mktemp("limit") / "ws.duckdb")
    rng = np.random.default_rng(0)
    n = 6_000
    stamps = pl.Series((END.timestamp() - rng.uniform(1, 86_000, n)) * 1e6).cast(
        pl.Int64).cast(pl.Datetime("us", "UTC"))
    users = [f"u{i:03d}" for i in rng.integers(0, USERS, n)]
    for v in ("1.0.0", "1.1.0"):
        ws.registry.register(ModelMetadata("bin", "supervised", v))
    ws.registry.register(ModelMetadata("rg", "supervised", "1.0.0", task="regression"))
    score = rng.random(n)
    version = np.where(rng.random(n) < 0.5, "1.0.0", "1.1.0")
    ws.log.track_batch(pl.DataFrame({
        "model_name": "bin", "version": version, "prediction": score > 0.5, "score": score,
        "actual": rng.random(n) < score, "user": users, "x": rng.normal(0, 1, n),
        "timestamp": stamps}))
    y = rng.normal(10, 2, n)
    ws.log.track_batch(pl.DataFrame({
        "model_name": "rg", "version": "1.0.0", "prediction": y + rng.normal(0, 1, n),
        "actual": y, "user": users, "timestamp": stamps}))
    yield ws
    ws.close()


def _calls(ws, segment):
    half = END - timedelta(hours=12)
    return {
        "segment_metrics": lambda: ws.monitor.segment_metrics("bin", "1.0.0", **W,
                                                              segment=segment),
        "task metrics": lambda: ws.monitor.get_current_metrics("rg", "1.0.0", **W,
                                                               segment=segment),
        "trend": lambda: ws.monitor.get_performance_trend("bin", "1.0.0", None, "6h", **W,
                                                          segment=segment),
        "degradation": lambda: ws.monitor.get_performance_degradation_info(
            "bin", "1.0.0", start=half, end=END, baseline=(W["start"], half), alert=False,
            segment=segment),
        "compare_versions": lambda: ws.monitor.compare_versions(
            "bin", ["1.0.0", "1.1.0"], **W, segment=segment),
        "concept drift": lambda: ws.monitor.detect_concept_drift("bin", "1.0.0", **W,
                                                                 segment=segment),
        "data drift": lambda: ws.monitor.data_drift("bin", "1.0.0", reference=(W["start"], half),
                                                    current=(half, END), segment=segment),
        "ab test": lambda: ws.ab.run_test(ABTestConfig("bin", "1.0.0", "1.1.0"),
                                          start=W["start"], end=W["end"], segment=segment),
    }


def test_every_segment_call_refuses_more_segments_than_allowed(ws, monkeypatch) -> None:
    monkeypatch.setenv(ENV, "100")
    for name, call in _calls(ws, "user").items():
        with pytest.raises(ValidationError, match=r"segment.*at most 100 segments.*user has "
                           r"\d{3}.*MLMKIT_MAX_SEGMENTS") as caught:
            call()
        assert "user" in str(caught.value), name


def test_a_filter_or_a_higher_limit_gets_the_answer(ws, monkeypatch) -> None:
    monkeypatch.setenv(ENV, "100")
    picked = {"user": [f"u{i:03d}" for i in range(20)]}
    for name, call in _calls(ws, picked).items():
        assert call() is not None, name
    assert ws.monitor.segment_metrics("bin", "1.0.0", **W, segment=picked).height == 20
    monkeypatch.setenv(ENV, str(USERS))
    assert ws.monitor.segment_metrics("bin", "1.0.0", **W, segment="user").height == USERS


def test_the_limit_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert max_segments() == DEFAULT_MAX_SEGMENTS == 2_000
    monkeypatch.setenv(ENV, " 50000 ")
    assert max_segments() == 50_000
    for bad in ("0", "-3", "many", "1.5"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(ValidationError, match=ENV):
            max_segments()
