"""``segment=`` on the monitor's windowed calls and on ``ws.ab.run_test`` (issue 15, item 5).

Oracle: for every segment, the segmented row equals the unsegmented call on a second workspace
holding only that segment's rows (same models, same registrations), for a binary model and
for multiclass / regression / score-only ones. The old ``segment_*`` methods return the
frames they returned; bad ``segment`` values name the argument; the number of engine
aggregate calls does not grow with the number of segments (a counting subclass of the real
``WorkspaceEngine``, no mock of SQL).
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
from statsmodels.stats.multitest import multipletests

import mlmkit
from mlmkit import ABTestConfig, ModelMetadata
from mlmkit.exceptions import MlmkitError, ValidationError

sys.path.insert(0, str(Path(__file__).parent))
from _counting import CountingEngine, segment_workspaces  # (a helper module beside the tests)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MID, END = T0 + timedelta(hours=6), T0 + timedelta(hours=12)
COUNTRIES = ["DE", "FR", "US"]
SEGMENTS: list[str | None] = [*COUNTRIES, None]
N = 2400
V1, V2 = "1.0.0", "1.1.0"
TASKS = {"bin": "binary", "mc": "multiclass", "rg": "regression", "an": "score-only"}
REGISTERED = {"bin": {"accuracy": 0.8}, "mc": {"accuracy": 0.75}, "rg": {"mae": 0.8},
              "an": {"flag_rate": 0.1}}


def _rows(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Two versions over 12 h; DE worsens in the second half (every task)."""
    country = pl.Series(rng.choice(COUNTRIES, N)).set(pl.Series(rng.random(N) < 0.06), None)
    ts = [T0 + timedelta(microseconds=int(s)) for s in rng.integers(0, 12 * 3600 * 10**6, N)]
    late = np.asarray([t >= MID for t in ts]) & (country == "DE").fill_null(False).to_numpy()
    common = {"version": rng.choice([V1, V2], N).tolist(), "timestamp": ts,
              "country": country, "tier": rng.integers(1, 4, N).astype(float)}
    hit = rng.random(N) < np.where(late, 0.55, 0.85)
    y = rng.random(N) < 0.4
    score = np.clip(np.where(y, 0.65, 0.35) + rng.normal(0, 0.2, N), 0, 1)
    unlabelled = pl.Series(rng.random(N) < 0.1)
    cls = rng.choice(["a", "b", "c"], N)
    pred = np.where(hit, cls, rng.choice(["a", "b", "c"], N))
    yv = rng.normal(10, 2, N)
    s = rng.random(N) + np.where(late, 0.15, 0.0)
    return {
        "bin": pl.DataFrame({"model_name": "bin", "prediction": np.where(hit, y, ~y),
                             "actual": pl.Series(y).set(unlabelled, None), "score": score,
                             **common}),
        "mc": pl.DataFrame({"model_name": "mc", "prediction": pred.tolist(),
                            "actual": pl.Series(cls.tolist()).set(unlabelled, None), **common}),
        "rg": pl.DataFrame({"model_name": "rg", "prediction": yv + rng.normal(
            0, np.where(late, 2.0, 1.0)), "actual": pl.Series(yv).set(unlabelled, None),
            **common}),
        "an": pl.DataFrame({"model_name": "an", "score": s, "prediction": s > 0.9, **common}),
    }


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[mlmkit.Workspace, dict[str | None, mlmkit.Workspace]]]:
    """The workspace, and per country (None: missing) one holding only that country's rows."""
    root = tmp_path_factory.mktemp("segkw")
    rows = _rows(np.random.default_rng(15))
    ws, alone = segment_workspaces(root, rows, TASKS, REGISTERED, (V1, V2), SEGMENTS)
    yield ws, alone
    for w in (ws, *alone.values()):
        w.close()


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15)
    return a == b


# ---------------------------------------------------------------------- get_current_metrics
@pytest.mark.parametrize("model", list(TASKS))
def test_current_metrics_keyword_is_segment_metrics_and_equals_the_filtered_call(
        logged: Any, model: str) -> None:
    ws, alone = logged
    frame = ws.monitor.get_current_metrics(model, V1, start=T0, end=END, segment="country",
                                           min_labels=20)
    assert_frame_equal(frame, ws.monitor.segment_metrics(model, V1, start=T0, end=END,
                                                         segment="country", min_labels=20))
    assert frame["country"].to_list() == SEGMENTS
    metric = {"bin": "accuracy", "mc": "accuracy", "rg": "mae", "an": "flag_rate"}[model]
    for row in frame.iter_rows(named=True):
        one = alone[row["country"]].monitor.get_current_metrics(model, V1, start=T0, end=END,
                                                                min_labels=20)
        assert row["sample_count"] == one.sample_count
        assert row["labelled_count"] == one.labelled_count
        assert row["insufficient"] == one.insufficient
        assert _close(row[metric], float(one.to_dict()[metric]))
        facts = one.to_dict()  # every metric column the row shares with the filtered call
        shared = [c for c in frame.columns if isinstance(facts.get(c), float)
                  and c != "median_label_latency_s"]  # (null per segment: MONITORING.md)
        assert len(shared) == {"bin": 14, "mc": 13, "rg": 13, "an": 11}[model], shared
        for name in shared:
            assert _close(row[name], float(facts[name])), (row["country"], name)


# ---------------------------------------------------------------------- degradation
_COMPARED = ("metric", "baseline_value", "current_value", "relative_drop", "severity",
             "baseline_source", "current_n", "baseline_n", "p_value", "significant",
             "insufficient", "has_degraded")


@pytest.mark.parametrize(("model", "metric"), [("bin", "accuracy"), ("bin", "roc_auc"),
                                               ("mc", "accuracy"), ("mc", "f1_macro"),
                                               ("rg", "mae"), ("rg", "rmse"),
                                               ("an", "flag_rate")])
@pytest.mark.parametrize("baseline", [(T0, MID), None, 0.7])
def test_degradation_per_segment_equals_the_filtered_call(logged: Any, model: str,
                                                          metric: str, baseline: Any) -> None:
    ws, alone = logged
    if baseline == 0.7 and metric in ("mae", "rmse"):
        baseline = 1.0
    kw: dict[str, Any] = {"metric": metric, "start": MID, "end": END, "baseline": baseline,
                          "min_labels": 20, "alert": False}
    frame = ws.monitor.get_performance_degradation_info(model, V1, segment="country", **kw)
    assert frame["country"].to_list() == SEGMENTS
    for row in frame.iter_rows(named=True):
        one = alone[row["country"]].monitor.get_performance_degradation_info(model, V1, **kw)
        for name in _COMPARED:
            assert _close(row[name], one.to_dict()[name]), (row["country"], name)
    # the family: Holm over the segments' p-values (statsmodels)
    tested = frame.filter(pl.col("p_value").is_not_nan() & ~pl.col("insufficient"))
    if tested.height:
        reject, adjusted, *_ = multipletests(tested["p_value"].to_numpy(), 0.05, "holm")
        assert tested["p_adjusted"].to_numpy() == pytest.approx(adjusted, rel=1e-12)
        assert tested["significant_adjusted"].to_list() == reject.tolist()


def test_degradation_finds_the_worsened_segment_and_alerts_it_alone(logged: Any) -> None:
    ws, _ = logged
    frame = ws.monitor.get_performance_degradation_info(
        "rg", V1, start=MID, end=END, baseline=(T0, MID), min_labels=20, segment="country")
    worse = pl.col("has_degraded") & pl.col("significant_adjusted")
    de = frame.filter(pl.col("country") == "DE").row(0, named=True)
    assert de["severity"] == "critical" and de["relative_drop"] > 0.9  # MAE doubled
    assert frame.filter(worse)["alert_id"].is_not_null().all()
    assert frame.filter(~worse)["alert_id"].is_null().all()
    assert "FR" not in frame.filter(worse)["country"].to_list()
    alerts = ws.alerts.list("rg", rule="degradation")
    alert = alerts.filter(pl.col("alert_id") == de["alert_id"]).row(0, named=True)
    assert "country=DE" in alert["message"] and alert["severity"] == "critical"
    again = ws.monitor.get_performance_degradation_info(
        "rg", V1, start=MID, end=END, baseline=(T0, MID), min_labels=20, segment="country")
    assert again["alert_id"].is_null().all()  # deduplicated per (model, version, segment)
    assert ws.alerts.list("rg", rule="degradation").height == alerts.height
    assert sorted(alerts["dedup_key"].to_list())[0] == "degradation:rg:1.0.0:mae:country=DE"


def test_unsegmented_degradation_is_unchanged(logged: Any) -> None:
    ws, _ = logged
    info = ws.monitor.get_performance_degradation_info("bin", V1, start=MID, end=END,
                                                       baseline=(T0, MID), alert=False)
    assert isinstance(info, mlmkit.services.monitor.DegradationInfo)


# ---------------------------------------------------------------------- compare_versions
@pytest.mark.parametrize(("model", "metric"), [("bin", "accuracy"), ("bin", "roc_auc"),
                                               ("mc", "f1_macro"), ("rg", "mae"),
                                               ("an", "flag_rate")])
def test_compare_versions_per_segment_equals_the_filtered_call(logged: Any, model: str,
                                                               metric: str) -> None:
    ws, alone = logged
    kw: dict[str, Any] = {"start": T0, "end": END, "metric": metric, "min_labels": 20}
    frame = ws.monitor.compare_versions(model, [V1, V2], segment="country", **kw)
    assert frame.columns[0] == "country" and frame.columns[-2:] == ["p_family",
                                                                     "significant_family"]
    assert frame["country"].unique(maintain_order=True).to_list() == SEGMENTS
    for country in SEGMENTS:
        part = frame.filter(pl.col("country").eq_missing(country)).drop(
            "country", "p_family", "significant_family")
        one = alone[country].monitor.compare_versions(model, [V1, V2], **kw)
        assert_frame_equal(part, one, check_dtypes=False)
    tested = frame.filter(pl.col("p_value").is_not_nan())
    reject, adjusted, *_ = multipletests(tested["p_value"].to_numpy(), 0.05, "holm")
    assert tested["p_family"].to_numpy() == pytest.approx(adjusted, rel=1e-12)
    assert tested["significant_family"].to_list() == reject.tolist()
    assert frame.filter(pl.col("version") == V1)["p_family"].is_nan().all()


# ---------------------------------------------------------------------- drift, trend, A/B
def _config(model: str) -> ABTestConfig:
    metric = {"rg": "mae", "an": "flag_rate"}.get(model, "accuracy")
    return ABTestConfig.create(model, V1, V2, primary_metric=metric)


@pytest.mark.parametrize("method", ["auto", "psi"])
def test_data_drift_keyword_equals_the_filtered_call(logged: Any, method: str) -> None:
    """Was: data_drift(segment=) returned segment_drift's binned KS (and refused psi); each
    segment's rows are now data_drift's on its rows alone (tests/services/test_segment_probs.py
    for every task); segment_drift keeps its binned family."""
    ws, alone = logged
    kw: dict[str, Any] = {"reference": (T0, MID), "current": (MID, END), "method": method}
    frame = ws.monitor.data_drift("bin", V1, segment="country", **kw)
    assert set(frame["feature"]) == {"tier", "score"}
    for country in SEGMENTS:
        part = frame.filter(pl.col("country").eq_missing(country)).drop(
            "country", "p_family", "significant_family")
        one = alone[country].monitor.data_drift("bin", V1, features=["tier"], **kw)
        assert_frame_equal(part, one, check_exact=False, rel_tol=1e-12)
    del kw["method"]
    binned = ws.monitor.segment_drift("bin", V1, segment="country", **kw)
    assert set(binned["method"].drop_nulls()) <= {"ks", "chi_square"}


@pytest.mark.parametrize("model", ["bin", "mc"])
def test_run_test_keyword_is_segment_test_and_equals_the_filtered_run(logged: Any,
                                                                      model: str) -> None:
    ws, alone = logged
    cfg = _config(model)
    frame = ws.ab.run_test(cfg, start=T0, end=END, segment="country", min_samples=20)
    assert_frame_equal(frame, ws.ab.segment_test(cfg, start=T0, end=END, segment="country",
                                                 min_samples=20))
    for row in frame.iter_rows(named=True):
        one = alone[row["country"]].ab.run_test(cfg, start=T0, end=END, min_samples=20)
        test = one.tests[cfg.primary_metric]
        assert row["p_value"] == pytest.approx(test.p_value, rel=1e-9)
        assert row["effect"] == pytest.approx(test.effect, rel=1e-9)
    assert isinstance(ws.ab.run_test(cfg, start=T0, end=END), mlmkit.ABTestResult)
    with pytest.raises(ValidationError, match="secondary_metrics"):
        ws.ab.run_test(cfg, segment="country", secondary_metrics=["accuracy"])


@pytest.mark.parametrize(("model", "detectors"), [("bin", None), ("mc", None),
                                                  ("rg", None), ("rg", ["cusum"])])
def test_concept_drift_per_segment_equals_the_filtered_call(logged: Any, model: str,
                                                            detectors: list[str] | None) -> None:
    ws, alone = logged
    kw: dict[str, Any] = {"start": T0, "end": END, "min_labels": 20, "detectors": detectors}
    frame = ws.monitor.detect_concept_drift(model, V1, segment="country", **kw)
    assert frame["country"].to_list() == SEGMENTS
    for row in frame.iter_rows(named=True):
        one = alone[row["country"]].monitor.detect_concept_drift(model, V1, **kw).to_dict()
        fired = one.pop("detectors")
        assert {k: v for k, v in row.items() if k.startswith("fired_")} == {
            f"fired_{k}": v for k, v in fired.items()}
        for name, value in one.items():
            assert _close(row[name], value), (row["country"], name)
    de = frame.filter(pl.col("country") == "DE").row(0, named=True)
    assert de["drift_detected"] and de["error_rate_after"] > de["error_rate_before"]
    tested = frame.filter(~pl.col("insufficient"))
    reject, adjusted, *_ = multipletests(tested["p_value"].to_numpy(), 0.01, "holm")
    assert tested["p_adjusted"].to_numpy() == pytest.approx(adjusted, rel=1e-12)
    assert tested["significant_adjusted"].to_list() == reject.tolist()


def test_concept_drift_per_segment_alerts_each_drifted_segment(logged: Any) -> None:
    ws, _ = logged
    kw: dict[str, Any] = {"start": T0, "end": END, "min_labels": 20, "segment": "country"}
    frame = ws.monitor.detect_concept_drift("mc", V1, alert=True, **kw)
    fired = frame.filter(pl.col("alert_id").is_not_null())
    assert "DE" in fired["country"].to_list()
    assert fired["drift_detected"].all()
    keys = ws.alerts.list("mc", rule="drift")["dedup_key"].to_list()
    assert "concept:mc:1.0.0:country=DE" in keys
    with pytest.raises(ValidationError, match="model_name"):  # no error stream
        ws.monitor.detect_concept_drift("an", V1, **kw)


@pytest.mark.parametrize(("bad", "shown"), [
    ("nope", "'nope'"), ([], "[]"), ({"country": []}, "[]"), ({"country": math.nan}, "nan"),
    ("", "''"), (3, "3"), (["country", "country"], "['country', 'country']"),
    ({"tier": "x"}, "'x'")])
@pytest.mark.parametrize("call", ["metrics", "degradation", "compare", "drift", "ab",
                                  "concept"])
def test_bad_segments_name_the_argument_and_the_value(logged: Any, bad: object, shown: str,
                                                      call: str) -> None:
    ws, _ = logged
    with pytest.raises(MlmkitError, match="segment") as err:
        if call == "metrics":
            ws.monitor.get_current_metrics("bin", V1, segment=bad)
        elif call == "degradation":
            ws.monitor.get_performance_degradation_info("mc", V1, segment=bad, alert=False)
        elif call == "compare":
            ws.monitor.compare_versions("rg", [V1, V2], segment=bad)
        elif call == "drift":
            ws.monitor.data_drift("bin", V1, segment=bad)
        elif call == "concept":
            ws.monitor.detect_concept_drift("rg", V1, segment=bad)
        else:
            ws.ab.run_test(ABTestConfig.create("bin", V1, V2), segment=bad)
    assert shown in str(err.value)


def test_metrics_of_another_task_are_refused_naming_metric(logged: Any) -> None:
    """RMSE / R² comparisons and the probability metrics now run per segment
    (tests/services/test_segment_probs.py); a metric the task lacks is still refused."""
    ws, _ = logged
    with pytest.raises(ValidationError, match=r"metric.*log_loss"):
        ws.monitor.compare_versions("rg", [V1, V2], metric="log_loss", segment="country")
    with pytest.raises(ValidationError, match=r"metric.*rmse"):
        ws.monitor.get_performance_degradation_info("mc", V1, metric="rmse",
                                                    segment="country", alert=False)


# ---------------------------------------------------------------------- one grouped scan
def _calls(ws: mlmkit.Workspace, segment: Any, call: str, model: str) -> Counter[str]:
    eng = CountingEngine(ws.db)
    mon, ab = ws.monitor.using(eng), ws.ab.using(eng)
    if call == "metrics":
        mon.get_current_metrics(model, V1, start=T0, end=END, segment=segment)
    elif call == "degradation":
        mon.get_performance_degradation_info(model, V1, start=MID, end=END,
                                             baseline=(T0, MID), segment=segment, alert=False)
    elif call == "compare":
        mon.compare_versions(model, [V1, V2], start=T0, end=END, segment=segment)
    elif call == "drift":
        mon.data_drift(model, V1, reference=(T0, MID), current=(MID, END), segment=segment)
    elif call == "concept":
        mon.detect_concept_drift(model, V1, start=T0, end=END, segment=segment)
    else:
        ab.run_test(_config(model), start=T0, end=END, segment=segment)
    return eng.calls


@pytest.mark.parametrize("call", ["metrics", "degradation", "compare", "drift", "ab",
                                  "concept"])
@pytest.mark.parametrize("model", ["bin", "mc", "rg"])
def test_engine_calls_do_not_grow_with_the_number_of_segments(logged: Any, call: str,
                                                              model: str) -> None:
    ws, _ = logged
    if call == "drift" and model != "bin":
        pytest.skip("drift reads the same statements for every task")
    two = _calls(ws, {"country": ["DE", "FR"]}, call, model)
    many = _calls(ws, ["country", "tier"], call, model)  # 4 x 3 = 12 segments
    assert sum(two.values()) == sum(many.values()) and two == many
    assert sum(two.values()) <= 6, two


@pytest.mark.parametrize(("metric", "reads_scores"), [("accuracy", False), ("recall", False),
                                                      ("roc_auc", True)])
def test_binary_degradation_reads_scores_only_for_roc_auc(logged: Any, metric: str,
                                                          reads_scores: bool) -> None:
    """A count metric's verdict needs the confusion cells alone (was: totals, scores, AUC)."""
    ws, _ = logged
    eng = CountingEngine(ws.db)
    kw: dict[str, Any] = {"metric": metric, "start": MID, "end": END, "alert": False}
    info = ws.monitor.using(eng).get_performance_degradation_info("bin", V1,
                                                                  baseline=(T0, MID), **kw)
    scored = {"window_summary", "labelled_scores", "score_histogram"} & set(eng.calls)
    assert bool(scored) is reads_scores, eng.calls
    assert set(eng.calls) - scored <= {"window_counts"}
    # the verdict is the one the rows give: accuracy / recall / AUC of each half (sklearn)
    from sklearn import metrics as skm

    rows = _rows(np.random.default_rng(15))["bin"].filter(
        (pl.col("version") == V1) & pl.col("actual").is_not_null())
    late = rows.filter(pl.col("timestamp") >= MID)
    early = rows.filter(pl.col("timestamp") < MID)
    score = {"accuracy": lambda r: skm.accuracy_score(r["actual"], r["prediction"]),
             "recall": lambda r: skm.recall_score(r["actual"], r["prediction"]),
             "roc_auc": lambda r: skm.roc_auc_score(r["actual"], r["score"])}[metric]
    assert info.baseline_value == pytest.approx(score(early), rel=1e-12)
    assert info.current_value == pytest.approx(score(late), rel=1e-12)


def test_segment_verdicts_equal_on_the_parquet_engine(logged: Any, tmp_path: Path) -> None:
    """The same frames from an exported dataset (one DuckDB process and two workers)."""
    from mlmkit.store.engines import ParquetEngine
    from mlmkit.store.engines.dataset import export_dataset

    ws, _ = logged
    export_dataset(ws.db, tmp_path / "ds")
    with ParquetEngine(tmp_path / "ds") as local, \
            ParquetEngine(tmp_path / "ds", workers=2) as pool:
        for model in TASKS:
            calls = {
                "degradation": lambda mon, m=model: mon.get_performance_degradation_info(
                    m, V1, start=MID, end=END, baseline=(T0, MID), min_labels=20,
                    alert=False, segment="country"),
                "compare": lambda mon, m=model: mon.compare_versions(
                    m, [V1, V2], start=T0, end=END, min_labels=20, segment="country")}
            if model != "an":
                calls["concept"] = lambda mon, m=model: mon.detect_concept_drift(
                    m, V1, start=T0, end=END, min_labels=20, segment="country")
            for call in calls.values():
                base = call(ws.monitor)
                for engine in (local, pool):
                    assert_frame_equal(call(ws.monitor.using(engine)), base,
                                       check_exact=False, rel_tol=1e-12)


def test_per_segment_degradation_family_is_calibrated_under_a_a(tmp_path: Path) -> None:
    """200 unchanged models x 10 segments: any segment significant after Holm <= alpha.

    Without the correction about 1 - 0.95^10 = 40 % of the models would show a significant
    segment; the family-wise share must stay within alpha + 3 standard errors.
    """
    rng = np.random.default_rng(2026)
    models, per = 200, 3000
    frames = []
    for i in range(models):
        ts = T0 + pl.Series(rng.integers(0, 12 * 3600 * 10**6, per)).cast(pl.Duration("us"))
        y = rng.random(per) < 0.5
        hit = rng.random(per) < 0.8  # the same accuracy in both halves and every segment
        frames.append(pl.DataFrame({"model_name": f"aa{i}", "version": V1, "timestamp": ts,
                                    "prediction": np.where(hit, y, ~y), "actual": y,
                                    "seg": rng.integers(0, 10, per).astype(str)}))
    with mlmkit.open(tmp_path / "aa.duckdb") as ws:
        for i in range(models):
            ws.registry.register(ModelMetadata(f"aa{i}", "supervised", V1))
        ws.log.track_batch(pl.concat(frames))
        any_significant, tested = 0, 0
        for i in range(models):
            frame = ws.monitor.get_performance_degradation_info(
                f"aa{i}", V1, start=MID, end=END, baseline=(T0, MID), min_labels=50,
                alert=False, segment="seg")
            assert frame.height == 10 and not frame["insufficient"].any()
            tested += int(frame["p_value"].is_not_nan().sum())
            any_significant += bool(frame["significant_adjusted"].any())
    assert tested == models * 10
    share = any_significant / models
    assert share <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / models), share
