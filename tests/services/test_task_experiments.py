"""ws.ab.run_test for multiclass, regression and score-only models, through real DuckDB files.

Oracles: statsmodels' proportions_ztest and TTestIndPower, scipy's Welch t-test on per-row
|e|, scikit-learn's metrics; A/A calibration of the bootstrap tests through the service.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score
from sklearn.metrics import root_mean_squared_error as rmse
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.proportion import proportions_ztest

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.exceptions import ValidationError
from mlmkit.values import ABTestConfig

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CLASSES = np.array(["ant", "bee", "cat"])


def _register(ws: mlmkit.Workspace, model: str, task: str) -> None:
    kind = "unsupervised" if task == "score" else "supervised"
    for v in ("1.0.0", "1.1.0"):
        ws.registry.register(ModelMetadata(model, kind, v, task=task))


def _stamps(n: int, start: datetime = T0, span: int = 3600) -> list[datetime]:
    return [start + timedelta(seconds=int(s)) for s in np.linspace(0, span - 1, n)]


def _multiclass(rng: np.random.Generator, n: int, acc: float) -> tuple[np.ndarray, np.ndarray]:
    y = CLASSES[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
    wrong = CLASSES[(np.searchsorted(CLASSES, y) + rng.integers(1, 3, n)) % 3]
    return y, np.where(rng.random(n) < acc, y, wrong)


def _log_mc(ws, version, y, pred, start=T0, span=3600):
    ws.log.track_batch(pl.DataFrame({"model_name": "mc", "version": version,
                                     "prediction": pred.tolist(), "actual": y.tolist(),
                                     "timestamp": _stamps(y.size, start, span)}))


def test_multiclass_accuracy_is_a_proportion_test_and_f1_macro_a_bootstrap(ws_file) -> None:
    rng = np.random.default_rng(1)
    _register(ws_file, "mc", "multiclass")
    ya, pa = _multiclass(rng, 1500, 0.80)
    yb, pb = _multiclass(rng, 1500, 0.86)
    _log_mc(ws_file, "1.0.0", ya, pa)
    _log_mc(ws_file, "1.1.0", yb, pb)
    cfg = ABTestConfig("mc", "1.0.0", "1.1.0", primary_metric="f1_macro")
    res = ws_file.ab.run_test(cfg, n_resamples=1000)
    acc = res.tests["accuracy"]
    correct = [int((ya == pa).sum()), int((yb == pb).sum())]
    z, p = proportions_ztest([correct[1], correct[0]], [1500, 1500])
    assert acc.statistic == pytest.approx(z, rel=1e-9) and acc.p_value == pytest.approx(p)
    assert res.metrics_a["accuracy"] == pytest.approx(accuracy_score(ya, pa), abs=1e-12)
    for name, (y, pr) in (("metrics_a", (ya, pa)), ("metrics_b", (yb, pb))):
        assert getattr(res, name)["f1_macro"] == pytest.approx(
            f1_score(y, pr, average="macro"), abs=1e-12)
        assert getattr(res, name)["f1_weighted"] == pytest.approx(
            f1_score(y, pr, average="weighted"), abs=1e-12)
    f1 = res.tests["f1_macro"]
    assert "bootstrap" in f1.method and f1.p_value < 0.01 and f1.ci[0] > 0
    assert res.winner == "B" and res.should_deploy_version_b()
    assert "p_holm" in res.tests["accuracy"].details
    assert res.srm is not None and not res.srm_detected
    assert res.sample_size_required is None  # a bootstrap metric has no closed-form size


def _regression(rng, n, noise, bias=0.0):
    y = rng.normal(50.0, 10.0, n)
    return y, y + bias + rng.normal(0.0, noise, n)


def _log_rg(ws, version, y, pred, start=T0, span=3600, model="rg"):
    ws.log.track_batch(pl.DataFrame({"model_name": model, "version": version,
                                     "prediction": pred.tolist(), "actual": y.tolist(),
                                     "timestamp": _stamps(y.size, start, span)}))


def test_regression_mae_is_welch_on_abs_errors_and_lower_wins(ws_file) -> None:
    rng = np.random.default_rng(2)
    _register(ws_file, "rg", "regression")
    ya, pa = _regression(rng, 900, 4.0)
    yb, pb = _regression(rng, 1100, 3.3)
    _log_rg(ws_file, "1.0.0", ya, pa)
    _log_rg(ws_file, "1.1.0", yb, pb)
    cfg = ABTestConfig("rg", "1.0.0", "1.1.0", traffic_split_a=0.45, primary_metric="mae")
    res = ws_file.ab.run_test(cfg, n_resamples=500)
    mae = res.tests["mae"]
    oracle = stats.ttest_ind(np.abs(pb - yb), np.abs(pa - ya), equal_var=False)
    assert mae.p_value == pytest.approx(oracle.pvalue, rel=1e-6)
    assert mae.statistic == pytest.approx(oracle.statistic, rel=1e-6)
    assert res.metrics_b["mae"] == pytest.approx(mean_absolute_error(yb, pb), rel=1e-9)
    assert res.metrics_a["rmse"] == pytest.approx(rmse(ya, pa), rel=1e-9)
    assert res.metrics_b["r2"] == pytest.approx(r2_score(yb, pb), rel=1e-9)
    # lower MAE is better: B wins, the improvement is positive
    assert mae.effect < 0 and res.winner == "B"
    lift = 100 * (res.metrics_a["mae"] - res.metrics_b["mae"]) / res.metrics_a["mae"]
    assert res.get_primary_metric_improvement_percent() == pytest.approx(lift)
    assert res.should_deploy_version_b()
    assert "bootstrap" in res.tests["rmse"].method and res.tests["rmse"].effect < 0
    # the sample size of a Welch metric: Cohen's d from A's |e| with TTestIndPower
    abs_a = np.abs(pa - ya)
    d = abs_a.mean() * cfg.minimum_improvement / abs_a.std(ddof=1)
    expected = math.ceil(TTestIndPower().solve_power(d, alpha=0.05, power=0.8))
    assert res.sample_size_required == expected


def test_regression_worse_b_names_a_and_rmse_primary_reads_bounded_rows(ws_file) -> None:
    rng = np.random.default_rng(3)
    _register(ws_file, "rg", "regression")
    ya, pa = _regression(rng, 800, 3.0)
    yb, pb = _regression(rng, 800, 3.0, bias=1.5)
    _log_rg(ws_file, "1.0.0", ya, pa)
    _log_rg(ws_file, "1.1.0", yb, pb)
    cfg = ABTestConfig("rg", "1.0.0", "1.1.0", primary_metric="rmse")
    res = ws_file.ab.run_test(cfg, secondary_metrics=["mae"], n_resamples=500)
    assert res.winner == "A" and not res.should_deploy_version_b()
    assert res.get_primary_metric_improvement_percent() < 0
    from mlmkit.services.experiments import task_ab

    few = task_ab.task_comparison(ws_file.ab.engine, mlmkit.catalogue.Task.REGRESSION, cfg,
                                  None, ["rmse"], sequential=False, tau=0.05, power=0.8,
                                  n_resamples=200, seed=0, max_rows=300)
    assert any("300 of its 800" in note for note in few["notes"])
    assert few["tests"]["rmse"].details["value_b"] == pytest.approx(rmse(yb, pb))


def test_score_only_flag_rate_is_a_proportion_without_a_winner(ws_file) -> None:
    rng = np.random.default_rng(4)
    _register(ws_file, "an", "score")
    for version, rate in (("1.0.0", 0.05), ("1.1.0", 0.09)):
        s = rng.normal(size=2000)
        ws_file.log.track_batch(pl.DataFrame({
            "model_name": "an", "version": version, "score": s,
            "prediction": rng.random(2000) < rate, "timestamp": _stamps(2000)}))
    frame = ws_file.db.execute("SELECT version, count(*) FILTER (WHERE prediction) FROM "
                               "predictions GROUP BY 1 ORDER BY 1")
    cfg = ABTestConfig("an", "1.0.0", "1.1.0", primary_metric="flag_rate")
    res = ws_file.ab.run_test(cfg)
    _z, p = proportions_ztest([frame[1][1], frame[0][1]], [2000, 2000])
    assert res.tests["flag_rate"].p_value == pytest.approx(p)
    assert res.is_statistically_significant and res.winner == "tie"
    assert "no better direction" in res.recommendation
    assert not res.should_deploy_version_b()


def test_a_metric_of_another_task_is_refused_naming_it(ws_file) -> None:
    _register(ws_file, "rg", "regression")
    with pytest.raises(ValidationError, match=r"primary_metric must be one of mae, rmse, mape, "
                                              r"r2 for a regression model.*'accuracy'"):
        ws_file.ab.run_test(ABTestConfig("rg", "1.0.0", "1.1.0"))
    with pytest.raises(ValidationError, match=r"secondary_metrics.*'f1_score'"):
        ws_file.ab.run_test(ABTestConfig("rg", "1.0.0", "1.1.0", primary_metric="mae"),
                            secondary_metrics=["f1_score"])
    with pytest.raises(ValidationError, match=r"sequential must be False"):
        ws_file.ab.run_test(ABTestConfig("rg", "1.0.0", "1.1.0", primary_metric="mae"),
                            sequential=True)
    ws_file.registry.register(ModelMetadata("bin", "supervised", "1.0.0"))
    with pytest.raises(ValidationError, match=r"for a binary model.*'mae'"):
        ws_file.ab.run_test(ABTestConfig("bin", "1.0.0", "1.1.0", primary_metric="mae"))


N_AA = 200


@pytest.mark.parametrize(("task", "metric"), [("multiclass", "f1_macro"),
                                              ("regression", "rmse")])
def test_bootstrap_a_a_false_positive_share_is_at_most_alpha(tmp_path, task, metric) -> None:
    """200 A/A experiments (one hour each) through ws.ab.run_test: rejections <= a + 3 se."""
    rng = np.random.default_rng(11)
    model = "mc" if task == "multiclass" else "rg"
    n = 250
    with mlmkit.open(tmp_path / "aa.duckdb") as ws:
        _register(ws, model, task)
        frames = []
        for i in range(N_AA):
            start = T0 + timedelta(hours=i)
            for version in ("1.0.0", "1.1.0"):
                y, pred = (_multiclass(rng, n, 0.75) if task == "multiclass"
                           else _regression(rng, n, 5.0))
                frames.append(pl.DataFrame({
                    "model_name": model, "version": version, "prediction": pred.tolist(),
                    "actual": y.tolist(), "timestamp": _stamps(n, start, 3600)}))
        ws.log.track_batch(pl.concat(frames))
        cfg = ABTestConfig(model, "1.0.0", "1.1.0", primary_metric=metric)
        rejected = 0
        for i in range(N_AA):
            start = T0 + timedelta(hours=i)
            res = ws.ab.run_test(cfg, start=start, end=start + timedelta(hours=1),
                                 secondary_metrics=[], n_resamples=400, seed=i)
            assert res.sample_size_achieved == n
            rejected += res.p_value <= 0.05
    share = rejected / N_AA
    assert share <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / N_AA), share
