"""Per-segment multiclass probability metrics, regression row bootstraps and data drift.

Oracle: every per-segment value equals the unsegmented call on a second workspace holding only
that segment's rows (same registrations), to 1e-12; scikit-learn's ``log_loss`` on a segment's
rows for the log loss itself. The engine answers the same number of calls for 2 and for 12
segments (a counting subclass of the real ``WorkspaceEngine``, no mock of SQL), and the
Parquet engine (one process and two workers) gives the workspace's frames.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import mlmkit
from mlmkit import ABTestConfig, ModelMetadata
from mlmkit.store.engines import WorkspaceEngine

sys.path.insert(0, str(Path(__file__).parent))
from _counting import CountingEngine, segment_workspaces  # (a helper module beside the tests)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MID, END = T0 + timedelta(hours=6), T0 + timedelta(hours=12)
COUNTRIES = ["DE", "FR", "US"]
SEGMENTS: list[str | None] = [*COUNTRIES, None]
N = 16_000  # > 1,000 values per side in a country: the histogram path
V1, V2 = "1.0.0", "1.1.0"
CLASSES = ["a", "b", "c"]
TASKS = {"mc": "multiclass", "rg": "regression"}
REGISTERED = {"mc": {"accuracy": 0.75}, "rg": {"mae": 0.8}}


def _rows(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Two versions over 12 h; DE worsens in the second half; some lists lack a class."""
    country = pl.Series(rng.choice(COUNTRIES, N)).set(pl.Series(rng.random(N) < 0.06), None)
    ts = [T0 + timedelta(microseconds=int(s)) for s in rng.integers(0, 12 * 3600 * 10**6, N)]
    late = np.asarray([t >= MID for t in ts]) & (country == "DE").fill_null(False).to_numpy()
    common = {"version": rng.choice([V1, V2], N).tolist(), "timestamp": ts,
              "country": country, "tier": rng.integers(1, 4, N).astype(float),
              "load": rng.normal(0, 1, N) + np.where(late, 0.5, 0.0),
              "device": rng.choice(["ios", "android", "web"], N).tolist()}
    unlabelled = pl.Series(rng.random(N) < 0.1)
    cls = rng.integers(0, 3, N)
    logits = rng.normal(0, 1, (N, 3))
    logits[np.arange(N), cls] += np.where(late, 0.3, 1.5)
    soft = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # probabilities in twentieths: ties in the histograms' bins, zeros for the clipping
    counts = np.stack([rng.multinomial(20, row) for row in soft])
    drop = rng.random(N) < 0.08  # a list without its smallest class: p = 0 for it
    small, big = counts.argmin(axis=1), counts.argmax(axis=1)
    rows_ = np.arange(N)[drop]
    counts[rows_, big[drop]] += counts[rows_, small[drop]]
    counts[rows_, small[drop]] = 0
    proba = counts / 20.0
    pred = proba.argmax(axis=1)
    lists = []
    for i in range(N):
        keep = [k for k in range(3) if not (drop[i] and k == int(small[i]))]
        lists.append([{"label": CLASSES[k], "p": float(proba[i, k])} for k in keep])
    yv = np.round(rng.normal(10, 2, N), 2)  # repeated (actual, predicted) pairs
    noise = np.round(rng.normal(0, np.where(late, 2.0, 1.0)), 1)
    return {
        "mc": pl.DataFrame({"model_name": "mc", "prediction": [CLASSES[k] for k in pred],
                            "actual": pl.Series([CLASSES[k] for k in cls]).set(unlabelled, None),
                            "probabilities": lists, **common}),
        "rg": pl.DataFrame({"model_name": "rg", "prediction": yv + noise,
                            "actual": pl.Series(yv).set(unlabelled, None), **common}),
    }


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[mlmkit.Workspace, dict[str | None, mlmkit.Workspace],
                               dict[str, pl.DataFrame]]]:
    """The workspace, one per country (None: missing) holding that country alone, the rows."""
    root = tmp_path_factory.mktemp("segprobs")
    rows = _rows(np.random.default_rng(51))
    ws, alone = segment_workspaces(root, rows, TASKS, REGISTERED, (V1, V2), SEGMENTS)
    yield ws, alone, rows
    for w in (ws, *alone.values()):
        w.close()


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15)
    return a == b


# ---------------------------------------------------------------------- multiclass probabilities
def test_current_metrics_per_segment_have_log_loss_and_ovr_auc_of_the_filtered_call(
        logged: Any) -> None:
    from sklearn.metrics import log_loss

    ws, alone, rows = logged
    frame = ws.monitor.get_current_metrics("mc", V1, start=T0, end=END, segment="country",
                                           bins=500)
    assert frame["country"].to_list() == SEGMENTS
    for row in frame.iter_rows(named=True):
        one = alone[row["country"]].monitor.get_current_metrics("mc", V1, start=T0, end=END,
                                                                bins=500).to_dict()
        assert row["probability_count"] == one["probability_count"] > 0
        assert _close(row["log_loss"], one["log_loss"]), row["country"]
        assert _close(row["roc_auc_ovr"], one["roc_auc_ovr"]), row["country"]
        part = rows["mc"].filter(pl.col("country").eq_missing(row["country"])
                                 & (pl.col("version") == V1) & pl.col("actual").is_not_null())
        dense = np.asarray([[next((e["p"] for e in lst if e["label"] == c), 0.0)
                             for c in CLASSES] for lst in part["probabilities"].to_list()])
        expected = log_loss(part["actual"].to_list(), dense, labels=CLASSES)
        assert row["log_loss"] == pytest.approx(expected, rel=1e-12)
    plain = ws.monitor.get_current_metrics("mc", V1, start=T0, end=END, segment="country",
                                           scores=False)
    assert "log_loss" not in plain.columns and plain.height == frame.height


@pytest.mark.parametrize("metric", ["log_loss", "roc_auc_ovr"])
def test_probability_degradation_per_segment_equals_the_filtered_call(logged: Any,
                                                                      metric: str) -> None:
    ws, alone, _ = logged
    kw: dict[str, Any] = {"metric": metric, "start": MID, "end": END, "baseline": (T0, MID),
                          "min_labels": 20, "alert": False}
    frame = ws.monitor.get_performance_degradation_info("mc", V1, segment="country", **kw)
    assert frame["country"].to_list() == SEGMENTS
    for row in frame.iter_rows(named=True):
        one = alone[row["country"]].monitor.get_performance_degradation_info("mc", V1, **kw)
        for name, value in one.to_dict().items():
            if name != "details":
                assert _close(row[name], value), (row["country"], name)
    de = frame.filter(pl.col("country") == "DE").row(0, named=True)
    assert de["has_degraded"]


@pytest.mark.parametrize(("model", "metric"), [("mc", "log_loss"), ("mc", "roc_auc_ovr"),
                                               ("rg", "rmse"), ("rg", "r2")])
def test_compare_versions_per_segment_equals_the_filtered_call(logged: Any, model: str,
                                                               metric: str) -> None:
    ws, alone, _ = logged
    kw: dict[str, Any] = {"metric": metric, "start": T0, "end": END, "min_labels": 20}
    frame = ws.monitor.compare_versions(model, [V1, V2], segment="country", **kw)
    assert frame["country"].unique(maintain_order=True).to_list() == SEGMENTS
    for country in SEGMENTS:
        part = frame.filter(pl.col("country").eq_missing(country)).drop(
            "country", "p_family", "significant_family")
        one = alone[country].monitor.compare_versions(model, [V1, V2], **kw)
        assert_frame_equal(part, one, check_exact=False, rel_tol=1e-12)
    if model == "rg":  # the bootstrap ran: a p-value per segment, Holm across them
        assert frame.filter(pl.col("version") == V2)["p_value"].is_not_nan().all()


def test_unsegmented_rmse_comparison_resamples_the_sorted_pairs(logged: Any) -> None:
    """The bootstrap's rows are the labelled pairs in sorted order (engine independent)."""
    from mlmkit.analysis.stats.tasks import bootstrap_regression_metric

    ws, _, rows = logged
    frame = ws.monitor.compare_versions("rg", [V1, V2], metric="rmse", start=T0, end=END)
    sides = []
    for v in (V1, V2):
        part = rows["rg"].filter((pl.col("version") == v) & pl.col("actual").is_not_null())
        part = part.sort("actual", "prediction")
        sides += [part["actual"].to_numpy(), part["prediction"].to_numpy()]
    expected = bootstrap_regression_metric(*sides, metric="rmse", n_resamples=2000)
    assert frame["p_value"][1] == pytest.approx(expected.p_value, rel=1e-12)


@pytest.mark.parametrize("metric", ["rmse", "r2"])
def test_ab_rmse_per_segment_equals_the_filtered_run(logged: Any, metric: str) -> None:
    ws, alone, _ = logged
    cfg = ABTestConfig.create("rg", V1, V2, primary_metric=metric)
    frame = ws.ab.run_test(cfg, start=T0, end=END, segment="country", min_samples=20)
    assert frame["country"].to_list() == SEGMENTS
    for row in frame.iter_rows(named=True):
        test = alone[row["country"]].ab.run_test(cfg, start=T0, end=END,
                                                 min_samples=20).tests[metric]
        assert row["method"] == test.method
        assert row["p_value"] == pytest.approx(test.p_value, rel=1e-12)
        assert row["effect"] == pytest.approx(test.effect, rel=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(test.ci, rel=1e-12)


# ---------------------------------------------------------------------- data drift
@pytest.mark.parametrize(("model", "method", "segment"), [
    ("rg", "auto", "country"), ("mc", "auto", "country"), ("rg", "ks", "country"),
    ("rg", "auto", ["country", "device"]), ("mc", "auto", {"country": ["DE", None]})])
def test_data_drift_per_segment_equals_the_filtered_call(logged: Any, model: str, method: str,
                                                         segment: Any) -> None:
    """Large segments take the SQL histograms, small ones (country x device) exact rows."""
    ws, alone, rows = logged
    kw: dict[str, Any] = {"reference": (T0, MID), "current": (MID, END), "method": method}
    frame = ws.monitor.data_drift(model, V1, segment=segment, **kw)
    feats = [segment] if isinstance(segment, str) else list(segment)
    others = [f for f in frame["feature"].unique(maintain_order=True) if f != "prediction"]
    assert sorted(others) == sorted(f for f in ("tier", "load", "device") if f not in feats)
    assert frame.columns[:len(feats)] == feats
    assert frame.columns[-2:] == ["p_family", "significant_family"]
    keys = frame.select(feats).unique(maintain_order=True).rows()
    assert len(keys) >= 2
    sources = set()
    for key in keys:
        match = pl.all_horizontal([pl.col(f).eq_missing(v) for f, v in zip(feats, key,
                                                                              strict=True)])
        part = frame.filter(match).drop(*feats, "p_family", "significant_family")
        if feats == ["country"]:
            one = alone[key[0]].monitor.data_drift(model, V1, features=others, **kw)
        else:  # a workspace holding this segment's rows alone
            with mlmkit.open() as w:
                for v in (V1, V2):
                    w.registry.register(ModelMetadata(model, "supervised", v, task=TASKS[model]))
                w.log.track_batch(rows[model].filter(match))
                one = w.monitor.data_drift(model, V1, features=others, **kw)
        assert_frame_equal(part, one, check_exact=False, rel_tol=1e-12)
        sources |= set(one["source"].to_list())
    if method != "auto":
        assert sources == {"rows"}
    elif feats == ["country"]:  # large segments: histograms; tier (3 values), None: rows
        assert sources == {"sql", "rows"}
    p = frame["p_value"].drop_nulls()
    holm = frame.filter(pl.col("p_value").is_not_null())["p_family"]
    assert (holm >= p).all() and holm.max() <= 1.0


def test_exact_rows_are_read_for_the_segments_that_need_them_only(logged: Any) -> None:
    """Large countries take the histograms; the rows read are the small (null) segment's."""
    ws, _, rows = logged
    eng = _Recording(ws.db)
    ws.monitor.using(eng).data_drift("rg", V1, reference=(T0, MID), current=(MID, END),
                                     segment="country", features=["load", "device"])
    read = pl.concat(eng.read)
    assert read.height and read["segment_0"].null_count() == read.height
    small = rows["rg"].filter(pl.col("country").is_null() & (pl.col("version") == V1))
    assert read.height == small.height


class _Recording(WorkspaceEngine):
    """The real workspace engine, keeping the frames ``segment_side_rows`` returns."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.read: list[pl.DataFrame] = []

    def segment_side_rows(self, *args: Any, **kwargs: Any) -> pl.DataFrame:
        frame = super().segment_side_rows(*args, **kwargs)
        self.read.append(frame)
        return frame


def test_data_drift_per_segment_finds_the_shifted_segment(logged: Any) -> None:
    ws, _, _ = logged
    frame = ws.monitor.data_drift("rg", V1, reference=(T0, MID), current=(MID, END),
                                  segment="country")
    load = frame.filter(pl.col("feature") == "load")
    assert load.filter(pl.col("drift"))["country"].to_list() == ["DE"]
    de = load.filter(pl.col("country") == "DE").row(0, named=True)
    assert de["source"] == "sql" and de["method"] == "wasserstein"


# ---------------------------------------------------------------------- one grouped scan
def _calls(ws: mlmkit.Workspace, segment: Any, call: str) -> Counter[str]:
    eng = CountingEngine(ws.db)
    mon = ws.monitor.using(eng)
    if call == "metrics":
        mon.get_current_metrics("mc", V1, start=T0, end=END, segment=segment)
    elif call == "degradation":
        mon.get_performance_degradation_info("mc", V1, metric="roc_auc_ovr", start=MID,
                                             end=END, baseline=(T0, MID), segment=segment,
                                             alert=False)
    elif call == "compare":
        mon.compare_versions("mc", [V1, V2], metric="log_loss", start=T0, end=END,
                             segment=segment)
    elif call == "compare_rmse":
        mon.compare_versions("rg", [V1, V2], metric="rmse", start=T0, end=END,
                             segment=segment)
    elif call == "drift":
        mon.data_drift("rg", V1, reference=(T0, MID), current=(MID, END), segment=segment)
    else:
        ws.ab.using(eng).run_test(ABTestConfig.create("rg", V1, V2, primary_metric="r2"),
                                  start=T0, end=END, segment=segment)
    return eng.calls


@pytest.mark.parametrize("call", ["metrics", "degradation", "compare", "compare_rmse", "ab",
                                  "drift"])
def test_engine_calls_do_not_grow_with_the_number_of_segments(logged: Any, call: str) -> None:
    ws, _, _ = logged
    two = _calls(ws, {"country": ["DE", "FR"]}, call)
    many = _calls(ws, ["country", "tier"], call)  # 4 x 3 = 12 segments
    assert sum(two.values()) == sum(many.values()) and two == many
    assert sum(two.values()) <= 8, two


# ---------------------------------------------------------------------- Parquet engine
def test_per_segment_frames_equal_on_the_parquet_engine(logged: Any, tmp_path: Path) -> None:
    """The same frames from an exported dataset (one DuckDB process and two workers)."""
    from mlmkit.store.engines import ParquetEngine
    from mlmkit.store.engines.dataset import export_dataset

    ws, _, _ = logged
    export_dataset(ws.db, tmp_path / "ds")
    cfg = ABTestConfig.create("rg", V1, V2, primary_metric="rmse")
    calls = {
        "metrics": lambda mon, ab: mon.get_current_metrics(
            "mc", V1, start=T0, end=END, segment="country"),
        "degradation": lambda mon, ab: mon.get_performance_degradation_info(
            "mc", V1, metric="log_loss", start=MID, end=END, baseline=(T0, MID),
            min_labels=20, alert=False, segment="country"),
        "compare_auc": lambda mon, ab: mon.compare_versions(
            "mc", [V1, V2], metric="roc_auc_ovr", start=T0, end=END, segment="country"),
        "compare_r2": lambda mon, ab: mon.compare_versions(
            "rg", [V1, V2], metric="r2", start=T0, end=END, segment="country"),
        "ab": lambda mon, ab: ab.run_test(cfg, start=T0, end=END, segment="country"),
        "drift": lambda mon, ab: mon.data_drift(
            "rg", V1, reference=(T0, MID), current=(MID, END), segment="country"),
        "drift_rows": lambda mon, ab: mon.data_drift(
            "mc", V1, reference=(T0, MID), current=(MID, END), segment=["country", "device"]),
    }
    with ParquetEngine(tmp_path / "ds") as local, \
            ParquetEngine(tmp_path / "ds", workers=2) as pool:
        for call in calls.values():
            base = call(ws.monitor, ws.ab)
            for engine in (local, pool):
                got = call(ws.monitor.using(engine), ws.ab.using(engine))
                assert_frame_equal(got, base, check_exact=False, rel_tol=1e-12)
