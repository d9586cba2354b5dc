"""ABTestingService: run_test on logged data against statsmodels, A/A error rates, SRM."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportions_ztest

import mlmkit
from mlmkit.analysis.experiment import compare_metric
from mlmkit.analysis.stats.sequential import sequential_path
from mlmkit.exceptions import ValidationError
from mlmkit.values import ABTestConfig, ModelMetadata

from ._ab_data import traffic

CFG = ABTestConfig.create("n1-detector", "1.0.0", "1.1.0", 0.5)
ALPHA = 0.05
MC_ERROR = 3 * math.sqrt(ALPHA * (1 - ALPHA) / 300)


def _register(ws: mlmkit.Workspace) -> None:
    ws.registry.register(ModelMetadata.for_n1_detector("1.0.0").with_performance_metrics(
        {"accuracy": 0.92, "f1_score": 0.885}))
    ws.registry.register(ModelMetadata.for_n1_detector("1.1.0").with_performance_metrics(
        {"accuracy": 0.95, "f1_score": 0.92}))


def test_b_better_wins_and_deploys(ws_file: mlmkit.Workspace) -> None:
    _register(ws_file)
    ws_file.log.track_batch(pl.concat([traffic("1.0.0", 0.85, 5000, seed=1),
                                       traffic("1.1.0", 0.95, 5000, seed=2)]))
    res = ws_file.ab.run_test(CFG, secondary_metrics=("precision", "recall", "f1_score",
                                                      "roc_auc"))
    assert res.winner == "B" and res.is_statistically_significant
    assert res.should_deploy_version_b()
    assert res.metadata_a is not None and res.metadata_a.performance_metrics["accuracy"] == 0.92
    # oracle: statsmodels on the logged rows
    rows = ws_file.log.predictions("n1-detector")
    correct = rows.with_columns((pl.col("prediction") == pl.col("actual")).alias("ok"))
    by = {v: correct.filter(pl.col("version") == v)["ok"] for v in ("1.0.0", "1.1.0")}
    z, p = proportions_ztest([by["1.1.0"].sum(), by["1.0.0"].sum()], [5000, 5000])
    assert res.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)
    assert res.tests["accuracy"].statistic == pytest.approx(z)
    acc_a, acc_b = by["1.0.0"].mean(), by["1.1.0"].mean()
    assert res.get_primary_metric_improvement_percent() == pytest.approx(
        100 * (acc_b - acc_a) / acc_a)
    assert res.metrics_difference["accuracy"] == pytest.approx(acc_b - acc_a)
    summary = res.get_metrics_summary()
    assert set(summary) == {"accuracy", "precision", "recall", "f1_score", "roc_auc"}
    assert all("p_holm" in res.tests[m].details for m in ("precision", "f1_score"))
    assert res.srm is not None and not res.srm_detected
    assert res.sample_size_required is not None
    assert res.sample_size_achieved == 5000
    assert "Deploy version B" in res.recommendation
    assert res.to_dict()["should_deploy_version_b"] is True
    assert "<table" in res._repr_html_()


def test_equal_arms_tie(ws_mem: mlmkit.Workspace) -> None:
    ws_mem.log.track_batch(pl.concat([traffic("1.0.0", 0.9, 3000, seed=3),
                                      traffic("1.1.0", 0.9, 3000, seed=4)]))
    res = ws_mem.ab.run_test(CFG)
    assert res.winner == "tie" and not res.is_statistically_significant
    assert not res.should_deploy_version_b()


def test_window_limits_rows(ws_mem: mlmkit.Workspace) -> None:
    ws_mem.log.track_batch(pl.concat([traffic("1.0.0", 0.9, 1000, seed=5),
                                      traffic("1.1.0", 0.9, 1000, seed=6)]))
    from datetime import timedelta

    from ._ab_data import T0

    res = ws_mem.ab.run_test(CFG, start=T0, end=T0 + timedelta(days=1))
    assert 0 < res.sample_size_achieved < 1000  # type: ignore[operator]


def test_a_a_false_positive_rate() -> None:
    # 300 seeded A/A experiments from their counts (the same function run_test calls)
    rng = np.random.default_rng(11)
    rejections = 0
    for _ in range(300):
        counts = []
        for _arm in range(2):
            pos = rng.binomial(2000, 0.4)
            tp = rng.binomial(pos, 0.9)
            tn = rng.binomial(2000 - pos, 0.9)
            counts.append((tp, 2000 - pos - tn, tn, pos - tp))
        rejections += compare_metric("accuracy", counts[0], counts[1]).p_value <= ALPHA
    assert rejections / 300 <= ALPHA + MC_ERROR


def test_a_a_through_run_test(ws_mem: mlmkit.Workspace) -> None:
    # a few A/A experiments through the real path agree with the count-based path above
    for k in range(3):
        cfg = ABTestConfig.create(f"m{k}", "1.0.0", "1.1.0")
        frames = [traffic(v, 0.9, 1000, seed=10 * k + i, model=f"m{k}")
                  for i, v in enumerate(("1.0.0", "1.1.0"))]
        ws_mem.log.track_batch(pl.concat(frames))
        res = ws_mem.ab.run_test(cfg)
        counts = []
        for f in frames:
            act, pred = f["actual"], f["prediction"]
            counts.append(((act & pred).sum(), (~act & pred).sum(), (~act & ~pred).sum(),
                           (act & ~pred).sum()))
        assert res.p_value == pytest.approx(compare_metric("accuracy", *counts).p_value)


def test_sequential_peeking_keeps_alpha() -> None:
    # A/A, a look after every 200 predictions (100 per arm) up to 4,000: stop at first rejection
    rng = np.random.default_rng(12)
    rejections = 0
    for _ in range(300):
        ok = rng.random((2, 2000)) < 0.9
        cum = np.cumsum(ok, axis=1)
        looks = np.arange(100, 2001, 100)
        sa, sb = cum[0, looks - 1], cum[1, looks - 1]
        path = sequential_path(sa, looks, sb, looks, alpha=ALPHA)
        rejections += bool(path["reject"].any())
        # the vectorised path is the test run_test(sequential=True) computes at each look
        last = compare_metric("accuracy", (int(sa[-1]), 2000 - int(sa[-1]), 0, 0),
                              (int(sb[-1]), 2000 - int(sb[-1]), 0, 0), sequential=True)
        assert path["p_value"][-1] <= last.p_value + 1e-12
    assert rejections / 300 <= ALPHA + MC_ERROR


def test_sequential_mode_detects_real_difference(ws_mem: mlmkit.Workspace) -> None:
    ws_mem.log.track_batch(pl.concat([traffic("1.0.0", 0.85, 3000, seed=21),
                                      traffic("1.1.0", 0.95, 3000, seed=22)]))
    res = ws_mem.ab.run_test(CFG, sequential=True)
    assert res.sequential and res.winner == "B" and "mSPRT" in res.tests["accuracy"].method
    with pytest.raises(ValidationError, match="sequential"):
        ws_mem.ab.run_test(ABTestConfig.create("n1-detector", "1.0.0", "1.1.0",
                                               primary_metric="f1_score"), sequential=True)


def test_sequential_refused_before_any_scan(ws_mem: mlmkit.Workspace,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from mlmkit.store import experiments as store_sql

    def scanned(*args: object, **kwargs: object) -> bool:
        raise AssertionError("scanned the predictions before checking sequential")

    monkeypatch.setattr(store_sql, "has_shadow_rows", scanned)
    with pytest.raises(ValidationError, match="sequential"):
        ws_mem.ab.run_test(ABTestConfig.create("n1-detector", "1.0.0", "1.1.0",
                                               primary_metric="f1_score"), sequential=True)


def test_srm_detected(ws_mem: mlmkit.Workspace) -> None:
    ws_mem.log.track_batch(pl.concat([traffic("1.0.0", 0.85, 5500, seed=31),
                                      traffic("1.1.0", 0.95, 4500, seed=32)]))
    res = ws_mem.ab.run_test(CFG)
    assert res.srm_detected and res.srm is not None and res.srm.p_value < 1e-10
    assert not res.should_deploy_version_b()
    assert "mismatch" in res.recommendation.lower()


def test_shadow_mode_uses_mcnemar(ws_mem: mlmkit.Workspace) -> None:
    rng = np.random.default_rng(41)
    truth = rng.random(3000) < 0.4
    ids = [f"p{i}" for i in range(3000)]
    a = traffic("1.0.0", 0.88, 3000, seed=42, ids=ids, actual=truth)
    b = traffic("1.1.0", 0.92, 3000, seed=43, ids=ids, actual=truth, role="shadow")
    ws_mem.log.track_batch(pl.concat([a, b]))
    res = ws_mem.ab.run_test(CFG)
    assert res.paired and res.srm is None and "McNemar" in res.tests["accuracy"].method
    ok_a = (a["prediction"] == a["actual"]).to_numpy()
    ok_b = (b["prediction"] == b["actual"]).to_numpy()
    table = [[np.sum(ok_a & ok_b), np.sum(ok_a & ~ok_b)], [np.sum(~ok_a & ok_b),
                                                           np.sum(~ok_a & ~ok_b)]]
    assert res.p_value == pytest.approx(sm_mcnemar(table, exact=True).pvalue)
    assert res.metrics_b["accuracy"] == pytest.approx(ok_b.mean())


def test_compare_models_point_metrics(ws_mem: mlmkit.Workspace) -> None:
    _register(ws_mem)
    res = ws_mem.ab.compare_models(CFG)
    # issue 12.11: the winner is the better point estimate; without sample sizes it is never
    # significant and never deployed
    assert res.p_value is None and res.winner == "B" and not res.should_deploy_version_b()
    assert not res.is_statistically_significant
    assert "cannot be judged" in res.recommendation
    assert res.metrics_difference["accuracy"] == pytest.approx(0.03)
    a = ModelMetadata.for_n1_detector("1.0.0").with_performance_metrics(
        {"accuracy": 0.85, "sample_count": 5000})
    b = ModelMetadata.for_n1_detector("1.1.0").with_performance_metrics(
        {"accuracy": 0.95, "sample_count": 5000})
    res = ws_mem.ab.compare_models(CFG, a, b)
    _, p = proportions_ztest([4750, 4250], [5000, 5000])
    assert res.p_value == pytest.approx(p, abs=1e-300) and res.should_deploy_version_b()


def test_planning_helpers(ws_mem: mlmkit.Workspace) -> None:
    assert ws_mem.ab.generate_rollout_plan(5) == {1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0}
    assert ws_mem.ab.calculate_required_sample_size(confidence_level=0.95,
                                                    margin_of_error=0.05) == 385
    assert ws_mem.ab.required_sample_size(0.10, 0.02) == 3835
    with pytest.raises(ValidationError, match="steps"):
        ws_mem.ab.generate_rollout_plan(0)


def test_assign_matches_select_version(ws_mem: mlmkit.Workspace) -> None:
    cfg = ABTestConfig.for_challenger("n1-detector", "1.0.0", "1.1.0")
    ids = [f"user-{i}" for i in range(500)]
    frame = ws_mem.ab.assign(cfg, ids)
    assert frame["version"].cast(pl.String).to_list() == [
        str(ws_mem.ab.select_version(cfg, u)) for u in ids]
    with pytest.raises(ValidationError, match="config"):
        ws_mem.ab.assign("nope", ids)  # type: ignore[arg-type]


def test_compare_models_point_winner_follows_the_metrics_direction(
        ws_mem: mlmkit.Workspace) -> None:
    a = ModelMetadata.for_n1_detector("1.0.0").with_performance_metrics({"accuracy": 0.95})
    b = ModelMetadata.for_n1_detector("1.1.0").with_performance_metrics({"accuracy": 0.85})
    res = ws_mem.ab.compare_models(CFG, a, b)
    assert res.winner == "A" and not res.is_statistically_significant
    same = ws_mem.ab.compare_models(CFG, a, a.with_version("1.1.0"))
    assert same.winner == "tie"


def test_run_test_below_the_minimum_sample_is_insufficient(ws_mem: mlmkit.Workspace) -> None:
    """Issue 12.10: 30 rows per arm with a huge difference must not say 'Deploy version B'."""
    _register(ws_mem)
    n = 30
    frame = pl.DataFrame({
        "model_name": ["n1-detector"] * (2 * n),
        "version": ["1.0.0"] * n + ["1.1.0"] * n,
        "prediction": [True] * (2 * n),
        "actual": [False] * 20 + [True] * 10 + [True] * n,
    })
    ws_mem.log.track_batch(frame)
    res = ws_mem.ab.run_test(CFG)
    assert res.insufficient and res.winner == "tie" and not res.should_deploy_version_b()
    assert res.recommendation.startswith("Insufficient data")
    relaxed = ws_mem.ab.run_test(CFG, min_samples=20)
    assert not relaxed.insufficient and relaxed.should_deploy_version_b()
