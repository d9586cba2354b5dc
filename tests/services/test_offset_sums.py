"""R² and score spreads of values whose mean dwarfs their spread (ETA targets as epoch seconds).

R² came from the sums ``Σy`` and ``Σy²`` as ``1 - Σe² / (Σy² - (Σy)²/n)``: with actuals of
1e9 ± 1 the subtraction cancelled every digit (R² 0.998 where scikit-learn says 0.726), with
epoch seconds 1.7e9 ± 60 it gave 0.716 for 0.743. The engines now read a group's actual sums
again centred on the window's mean when they cancel (`mlmkit.store.engines.tasks.centred`):
checked against scikit-learn's ``r2_score`` on the same rows through the window (the
workspace's per-day sums and its rows), segments, the trend, compare_versions, the Parquet
engine (one process and two workers, whose partial sums merge) and `RegressionSums.__add__`
of differently centred sums. A score-only model's ``score_std`` had the same flaw (scores of
1e20: std 16392 instead of 0; 1e9 ± 1 lost half its digits) and the same remedy, checked
against numpy through the window, segments and the trend.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import r2_score

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.analysis.metrics import RegressionSums, UndefinedMetricWarning, regression_metrics
from mlmkit.store.engines import ParquetEngine
from mlmkit.store.engines.dataset import export_dataset

DAY = datetime(2026, 4, 2, tzinfo=UTC)
OFFSETS = [(1e9, 1.0), (1.7e9, 60.0), (1e6, 1.0), (0.0, 1.0)]


def _rows(offset: float, sd: float, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 2000
    y = offset + rng.normal(0, sd, n)
    return pl.DataFrame({"model_name": "eta", "version": "1.0.0",
                         "prediction": y + rng.normal(0, 0.5 * sd, n), "actual": y,
                         "seg": rng.choice(["a", "b"], n),
                         "timestamp": [DAY + timedelta(seconds=int(s))
                                       for s in rng.integers(0, 86_400, n)]})


@pytest.fixture(scope="module", params=OFFSETS, ids=lambda p: f"{p[0]:g}+-{p[1]:g}")
def logged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    offset, sd = request.param
    root = tmp_path_factory.mktemp("r2")
    rows = _rows(offset, sd, 3)
    ws = mlmkit.open(root / "w.duckdb")
    ws.registry.register(ModelMetadata("eta", "supervised", "1.0.0", task="regression"))
    ws.log.track_batch(rows)
    export_dataset(ws.db, root / "ds")
    yield ws, rows, root / "ds"
    ws.close()


def _r2(rows: pl.DataFrame) -> float:
    return float(r2_score(rows["actual"].to_numpy(), rows["prediction"].to_numpy()))


def test_the_window_and_its_days_match_scikit_learn(logged) -> None:
    ws, rows, _ = logged
    whole = ws.monitor.get_current_metrics("eta", "1.0.0", start=DAY,  # one whole day: the
                                           end=DAY + timedelta(days=1))  # per-day sums
    part = ws.monitor.get_current_metrics("eta", "1.0.0", start=DAY + timedelta(hours=3),
                                          end=DAY + timedelta(hours=20))  # the rows
    inside = rows.filter((pl.col("timestamp") >= DAY + timedelta(hours=3))
                         & (pl.col("timestamp") < DAY + timedelta(hours=20)))
    assert whole.r2 == pytest.approx(_r2(rows), rel=1e-9, abs=1e-12)
    assert part.r2 == pytest.approx(_r2(inside), rel=1e-9, abs=1e-12)


def test_segments_trend_and_comparison_match_scikit_learn(logged) -> None:
    ws, rows, _ = logged
    span = {"start": DAY, "end": DAY + timedelta(days=1)}
    seg = ws.monitor.get_current_metrics("eta", "1.0.0", **span, segment="seg").sort("seg")
    for name, r2 in zip(seg["seg"].to_list(), seg["r2"].to_list(), strict=True):
        assert r2 == pytest.approx(_r2(rows.filter(pl.col("seg") == name)), rel=1e-9)
    trend = ws.monitor.get_performance_trend("eta", "1.0.0", None, "6h", **span)
    for start, r2 in trend.select("bucket", "r2").iter_rows():
        part = rows.filter((pl.col("timestamp") >= start)
                           & (pl.col("timestamp") < start + timedelta(hours=6)))
        assert r2 == pytest.approx(_r2(part), rel=1e-9), start
    compared = ws.monitor.compare_versions("eta", ["1.0.0"], **span)
    assert compared.filter(pl.col("version") == "1.0.0")["r2"].item() == pytest.approx(
        _r2(rows), rel=1e-9)


def test_the_parquet_engine_merges_centred_partials(logged) -> None:
    ws, rows, root = logged
    span = {"start": DAY, "end": DAY + timedelta(days=1)}
    with ParquetEngine(root) as local, ParquetEngine(root, workers=2) as pool:
        for engine in (local, pool):
            got = ws.monitor.using(engine).get_current_metrics("eta", "1.0.0", **span)
            assert got.r2 == pytest.approx(_r2(rows), rel=1e-9)


def test_constant_actuals_far_from_zero_are_constant(tmp_path: Path) -> None:
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        ws.registry.register(ModelMetadata("eta", "supervised", "1.0.0", task="regression"))
        ws.log.track_batch(pl.DataFrame({"model_name": "eta", "version": "1.0.0",
                                         "prediction": 1.7e9 + np.arange(50.0),
                                         "actual": np.full(50, 1.7e9 + 0.1)}))
        with pytest.warns(UndefinedMetricWarning, match="constant actuals"):
            m = ws.monitor.get_current_metrics("eta", "1.0.0", window="24h", min_labels=1)
    assert np.isnan(m.r2) and m.mae == pytest.approx(np.abs(np.arange(50.0) - 0.1).mean())


def test_sums_centred_differently_add_up() -> None:
    rng = np.random.default_rng(5)
    y = 1.7e9 + rng.normal(0, 60, 400)
    p = y + rng.normal(0, 30, 400)
    a = RegressionSums.from_rows(y[:150] - 1.7e9, p[:150] - 1.7e9)
    b = RegressionSums.from_rows(y[150:] - (1.7e9 + 37.5), p[150:] - (1.7e9 + 37.5))
    a = RegressionSums(**{**a.__dict__, "shift_actual": 1.7e9})
    b = RegressionSums(**{**b.__dict__, "shift_actual": 1.7e9 + 37.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        both = regression_metrics(a + b)
    assert both.r2 == pytest.approx(float(r2_score(y, p)), rel=1e-9)
    assert (a + b).shift_actual == 1.7e9 and (a + b).n == 400


@pytest.mark.parametrize(("offset", "sd"), [(1e20, 0.0), (1e9, 1.0), (1.7e9, 60.0)])
def test_score_spreads_of_offset_scores(tmp_path: Path, offset: float, sd: float) -> None:
    rng = np.random.default_rng(9)
    n = 1000
    s = offset + rng.normal(0, sd, n) if sd else np.full(n, offset)
    seg = np.array(["a", "b"] * (n // 2))
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        ws.registry.register(ModelMetadata("an", "unsupervised", "1.0.0", task="score-only"))
        ws.log.track_batch(pl.DataFrame({"model_name": "an", "version": "1.0.0", "score": s,
                                         "seg": seg}))
        d = ws.monitor.get_current_metrics("an", "1.0.0", window="24h").to_dict()
        by = ws.monitor.get_current_metrics("an", "1.0.0", window="24h", segment="seg")
        trend = ws.monitor.get_performance_trend("an", "1.0.0", "24h", "1d")

    def std(x: np.ndarray) -> float:  # (centred first: numpy's own var of 1e20s is not 0)
        return float(np.std(x - x.mean(), ddof=1))

    assert d["score_std"] == pytest.approx(std(s), rel=1e-9, abs=1e-9)
    assert d["score_mean"] == pytest.approx(float(s.mean()), rel=1e-12)
    for name, got in zip(by["seg"].to_list(), by["std_score"].to_list(), strict=True):
        assert got == pytest.approx(std(s[seg == name]), rel=1e-9, abs=1e-9)
    assert trend["std_score"].item() == pytest.approx(std(s), rel=1e-9, abs=1e-9)


def test_labels_arriving_late_relabelled_or_never_keep_r2_exact(tmp_path: Path) -> None:
    """Epoch-second actuals labelled after the predictions, in two late batches (one of them
    changing labels already given: the per-day sums go stale), a fifth never labelled: the
    window's R² (per-day sums, then read again centred) equals scikit-learn on the rows
    labelled at each point, in this process and in a second one opening the file."""
    rng = np.random.default_rng(12)
    n = 3000
    y = 1.7e9 + rng.normal(0, 60, n)
    p = y + rng.normal(0, 30, n)
    ids = [f"r{i}" for i in range(n)]
    span = {"start": DAY, "end": DAY + timedelta(days=1)}
    path = tmp_path / "w.duckdb"
    with mlmkit.open(path) as ws:
        ws.registry.register(ModelMetadata("eta", "supervised", "1.0.0", task="regression"))
        ws.log.track_batch(pl.DataFrame({
            "model_name": "eta", "version": "1.0.0", "prediction": p, "prediction_id": ids,
            "timestamp": [DAY + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, n)]}))
        first = np.arange(n) % 5 < 2
        ws.log.record_actuals([ids[i] for i in np.flatnonzero(first)], y[first],
                              model_name="eta")
        m = ws.monitor.get_current_metrics("eta", "1.0.0", **span)
        assert m.r2 == pytest.approx(float(r2_score(y[first], p[first])), rel=1e-9)
        late = np.arange(n) % 5 < 4  # two more fifths, and the first fifth relabelled
        y2 = y.copy()
        y2[np.arange(n) % 5 == 0] += rng.normal(0, 10, int((np.arange(n) % 5 == 0).sum()))
        ws.log.record_actuals([ids[i] for i in np.flatnonzero(late)], y2[late],
                              model_name="eta")
        m = ws.monitor.get_current_metrics("eta", "1.0.0", **span)
        assert m.labelled_count == int(late.sum())
        assert m.r2 == pytest.approx(float(r2_score(y2[late], p[late])), rel=1e-9)
    code = ("import mlmkit, sys; from datetime import datetime, timedelta, UTC\n"
            "d = datetime(2026, 4, 2, tzinfo=UTC)\n"
            "with mlmkit.open(sys.argv[1]) as ws:\n"
            "    print(repr(ws.monitor.get_current_metrics('eta', '1.0.0', start=d, "
            "end=d + timedelta(days=1)).r2))\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert float(out) == pytest.approx(float(r2_score(y2[late], p[late])), rel=1e-9)
