"""Monitoring services per task (degradation, trend, comparison, concept and prediction drift,
label-free estimates, alert rules) through a real DuckDB workspace with delayed labels.

Every scenario runs on a `SimulatedClock`: predictions are logged with ``track_batch`` as
their day passes, labels arrive days later with ``record_actuals``; results are compared with
scikit-learn / scipy / statsmodels on the same rows.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score
from statsmodels.stats.proportion import proportions_ztest

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.clock import SimulatedClock, use_clock
from mlmkit.exceptions import ValidationError

T0 = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)


def _day(start: datetime) -> tuple[datetime, datetime]:
    return (start, start + DAY)


def _stamps(start: datetime, n: int) -> list[datetime]:
    step = DAY / (n + 1)
    return [start + step * (i + 1) for i in range(n)]


class Scenario:
    """A workspace on a simulated clock that logs a day of rows, labels them later."""

    def __init__(self, ws, clock: SimulatedClock) -> None:
        self.ws, self.clock, self.pending = ws, clock, []

    def log(self, model: str, version: str, day: int, frame: dict, actuals=None) -> None:
        start = T0 + day * DAY
        n = len(next(iter(frame.values())))
        ids = [f"{model}-{version}-{day}-{i}" for i in range(n)]
        if self.clock() < start + DAY:
            self.clock.set(start + DAY)
        self.ws.log.track_batch(pl.DataFrame({"model_name": model, "version": version,
                                              **frame, "prediction_id": ids,
                                              "timestamp": _stamps(start, n)}))
        if actuals is not None:
            self.pending.append((model, version, ids, list(actuals)))

    def label(self, days_later: int = 2) -> None:
        self.clock.advance(days_later * DAY)
        for model, version, ids, actuals in self.pending:
            assert self.ws.log.record_actuals(ids, actuals, model_name=model,
                                              version=version) == len(ids)
        self.pending.clear()


@pytest.fixture
def scenario(tmp_path):
    clock = SimulatedClock(T0)
    with use_clock(clock), mlmkit.open(tmp_path / "ws.duckdb") as ws:
        yield Scenario(ws, clock)


def _register(ws, model: str, task: str, *versions: str) -> None:
    for v in versions or ("1.0.0",):
        ws.registry.register(ModelMetadata(model, "supervised", v, task=task))


def _regression_day(rng, n: int, noise: float, shift: float = 0.0):
    x = rng.normal(shift, 1.0, n)
    y = 3.0 * x + 10.0 + rng.normal(0.0, 1.0, n)
    pred = 3.0 * x + 10.0 + rng.normal(0.0, noise, n)
    return x, y, pred


# ---------------------------------------------------------------------------- degradation
@pytest.mark.parametrize("noise, severity", [(1.0, "ok"), (1.9, "critical")])
def test_regression_degradation_is_a_rise_of_mae(scenario, noise, severity):
    ws, rng = scenario.ws, np.random.default_rng(1)
    _register(ws, "reg", "regression")
    base = _regression_day(rng, 3000, 1.0)
    cur = _regression_day(rng, 3000, noise)
    for day, (x, y, p) in ((0, base), (1, cur)):
        scenario.log("reg", "1.0.0", day, {"prediction": p.tolist(), "f": x.tolist()}, y)
    scenario.label(days_later=3)
    info = ws.monitor.get_performance_degradation_info(
        "reg", "1.0.0", 0.05, window=_day(T0 + DAY), baseline=_day(T0))
    mae_b, mae_c = mean_absolute_error(base[1], base[2]), mean_absolute_error(cur[1], cur[2])
    assert info.metric == "mae" and info.severity == severity
    assert info.current_value == pytest.approx(mae_c, abs=1e-9)
    assert info.baseline_value == pytest.approx(mae_b, abs=1e-9)
    assert info.relative_drop == pytest.approx((mae_c - mae_b) / mae_b, abs=1e-9)
    oracle = stats.ttest_ind(np.abs(cur[2] - cur[1]), np.abs(base[2] - base[1]),
                             equal_var=False, alternative="greater")
    assert info.p_value == pytest.approx(oracle.pvalue, rel=1e-6, abs=1e-12)
    alerts = ws.alerts.list("reg")
    assert alerts.height == (1 if severity == "critical" else 0)
    if alerts.height:
        assert "mae of reg 1.0.0 rose" in alerts["message"][0]


def test_regression_mae_up_30_percent_is_critical(scenario):
    ws, rng = scenario.ws, np.random.default_rng(2)
    _register(ws, "reg", "regression")
    _, y, p = _regression_day(rng, 4000, 1.0)
    e = p - y
    scenario.log("reg", "1.0.0", 0, {"prediction": p.tolist()}, y)
    scenario.log("reg", "1.0.0", 1, {"prediction": (y + 1.3 * e).tolist()}, y)  # MAE x 1.3
    scenario.label()
    info = ws.monitor.get_performance_degradation_info(
        "reg", "1.0.0", window=_day(T0 + DAY), baseline=_day(T0), alert=False)
    assert info.relative_drop == pytest.approx(0.3, abs=1e-9)
    assert info.severity == "critical" and info.significant


@pytest.mark.parametrize("error_rate, severity", [(0.1, "ok"), (0.35, "critical")])
def test_multiclass_degradation_of_accuracy(scenario, error_rate, severity):
    ws, rng = scenario.ws, np.random.default_rng(3)
    _register(ws, "mc", "multiclass")
    classes = np.array(["cat", "dog", "eel"])
    frames = []
    for day, rate in ((0, 0.1), (1, error_rate)):
        y = rng.choice(classes, 2000)
        wrong = rng.random(2000) < rate
        pred = np.where(wrong, np.roll(classes, 1)[np.searchsorted(classes, y)], y)
        scenario.log("mc", "1.0.0", day, {"prediction": pred.tolist()}, y.tolist())
        frames.append((y, pred))
    scenario.label()
    info = ws.monitor.get_performance_degradation_info(
        "mc", "1.0.0", window=_day(T0 + DAY), baseline=_day(T0))
    (yb, pb), (yc, pc) = frames
    assert info.metric == "accuracy" and info.severity == severity
    assert info.current_value == pytest.approx(accuracy_score(yc, pc), abs=1e-12)
    ok = [int((pc == yc).sum()), int((pb == yb).sum())]
    _, oracle = proportions_ztest(ok, [2000, 2000], alternative="smaller")
    assert info.p_value == pytest.approx(oracle, rel=1e-9, abs=1e-300)
    f1 = ws.monitor.get_performance_degradation_info(
        "mc", "1.0.0", metric="f1_macro", window=_day(T0 + DAY), baseline=_day(T0),
        alert=False)
    assert f1.current_value == pytest.approx(f1_score(yc, pc, average="macro"), abs=1e-12)
    assert f1.severity == severity


def test_score_only_degradation_is_a_move_of_the_flag_rate(scenario):
    ws, rng = scenario.ws, np.random.default_rng(4)
    _register(ws, "anom", "score-only")
    for day, rate in ((0, 0.05), (1, 0.15)):
        score = rng.random(3000)
        scenario.log("anom", "1.0.0", day, {"score": score.tolist(),
                                            "prediction": (score < rate).tolist()})
    info = ws.monitor.get_performance_degradation_info(
        "anom", "1.0.0", window=_day(T0 + DAY), baseline=_day(T0), alert=False)
    assert info.metric == "flag_rate" and info.details["direction"] == "either"
    assert info.severity == "critical" and info.relative_drop > 1.0


def test_task_metric_must_fit_the_task(scenario):
    _register(scenario.ws, "reg", "regression")
    with pytest.raises(ValidationError, match=r"metric.*regression"):
        scenario.ws.monitor.get_performance_degradation_info("reg", "1.0.0", metric="accuracy")


# ---------------------------------------------------------------------------- trend
def test_trend_per_interval_equals_sklearn(scenario):
    ws, rng = scenario.ws, np.random.default_rng(5)
    _register(ws, "reg", "regression")
    _register(ws, "mc", "multiclass")
    rows = {}
    for day in range(3):
        _, y, p = _regression_day(rng, 500, 1.0 + day)
        scenario.log("reg", "1.0.0", day, {"prediction": p.tolist()}, y)
        labels = np.array(["0", "1", "2", "3"])
        ym = rng.choice(labels, 400)
        pm = np.where(rng.random(400) < 0.2 * (day + 1), rng.choice(labels, 400), ym)
        scenario.log("mc", "1.0.0", day, {"prediction": pm.tolist()}, ym.tolist())
        rows[day] = (y, p, ym, pm)
    scenario.label()
    span = (T0, T0 + 3 * DAY)
    reg = ws.monitor.get_performance_trend("reg", "1.0.0", start=span[0], end=span[1],
                                           interval="1d")
    mc = ws.monitor.get_performance_trend("mc", "1.0.0", start=span[0], end=span[1],
                                          interval="12h")
    assert reg.height == 3 and mc.height == 6
    for day, (y, p, ym, pm) in rows.items():
        r = reg.row(day, named=True)
        assert r["n"] == r["labelled"] == 500
        assert r["mae"] == pytest.approx(mean_absolute_error(y, p), abs=1e-9)
        assert r["r2"] == pytest.approx(r2_score(y, p), abs=1e-9)
        assert r["rmse"] == pytest.approx(np.sqrt(np.mean((p - y) ** 2)), abs=1e-9)
        for half in range(2):
            sel = slice(200 * half, 200 * (half + 1))  # stamps spread evenly over the day
            m = mc.row(2 * day + half, named=True)
            assert m["labelled"] == 200
            assert m["accuracy"] == pytest.approx(accuracy_score(ym[sel], pm[sel]), abs=1e-12)
            assert m["f1_macro"] == pytest.approx(
                f1_score(ym[sel], pm[sel], average="macro", zero_division=0), abs=1e-12)


def test_trend_of_a_score_only_model(scenario):
    ws, rng = scenario.ws, np.random.default_rng(6)
    _register(ws, "anom", "score-only")
    score = rng.random(300)
    scenario.log("anom", "1.0.0", 0, {"score": score.tolist(),
                                      "prediction": (score > 0.9).tolist()})
    trend = ws.monitor.get_performance_trend("anom", "1.0.0", start=T0, end=T0 + 2 * DAY,
                                             interval="1d")
    first, empty = trend.row(0, named=True), trend.row(1, named=True)
    assert first["scored"] == 300 and first["mean_score"] == pytest.approx(score.mean())
    assert first["std_score"] == pytest.approx(score.std(ddof=1))
    assert first["flag_rate"] == pytest.approx((score > 0.9).mean())
    assert empty["n"] == 0 and np.isnan(empty["flag_rate"])


# ---------------------------------------------------------------------------- compare_versions
def test_compare_versions_regression_matches_scipy(scenario):
    ws, rng = scenario.ws, np.random.default_rng(7)
    _register(ws, "reg", "regression", "1.0.0", "2.0.0", "3.0.0")
    data = {}
    for v, noise in (("1.0.0", 1.0), ("2.0.0", 1.2), ("3.0.0", 1.0)):
        _, y, p = _regression_day(rng, 800, noise)
        scenario.log("reg", v, 0, {"prediction": p.tolist()}, y)
        data[v] = (y, p)
    scenario.label()
    frame = ws.monitor.compare_versions("reg", ["1.0.0", "2.0.0", "3.0.0"], _day(T0))
    ya, pa = data["1.0.0"]
    p_values = []
    for row in frame.iter_rows(named=True):
        y, p = data[row["version"]]
        assert row["mae"] == pytest.approx(mean_absolute_error(y, p), abs=1e-9)
        if row["version"] != "1.0.0":
            oracle = stats.ttest_ind(np.abs(p - y), np.abs(pa - ya), equal_var=False)
            assert row["p_value"] == pytest.approx(oracle.pvalue, rel=1e-6)
            p_values.append(oracle.pvalue)
    from statsmodels.stats.multitest import multipletests
    holm = multipletests(p_values, method="holm")[1]
    np.testing.assert_allclose(frame["p_adjusted"].to_list()[1:], holm, rtol=1e-6)
    rmse = ws.monitor.compare_versions("reg", ["1.0.0", "2.0.0"], _day(T0), metric="rmse")
    assert rmse["test"][1].startswith("bootstrap") and rmse["significant"][1]
    assert rmse["difference"][1] > 0


def test_compare_versions_multiclass_proportions_and_bootstrap(scenario):
    ws, rng = scenario.ws, np.random.default_rng(8)
    _register(ws, "mc", "multiclass", "1.0.0", "2.0.0")
    labels = np.array(["a", "b", "c"])
    counts = {}
    for v, rate in (("1.0.0", 0.1), ("2.0.0", 0.25)):
        y = rng.choice(labels, 1500)
        p = np.where(rng.random(1500) < rate, rng.choice(labels, 1500), y)
        scenario.log("mc", v, 0, {"prediction": p.tolist()}, y.tolist())
        counts[v] = int((p == y).sum())
    scenario.label()
    frame = ws.monitor.compare_versions("mc", ["1.0.0", "2.0.0"], _day(T0))
    _, oracle = proportions_ztest([counts["2.0.0"], counts["1.0.0"]], [1500, 1500])
    assert frame["p_value"][1] == pytest.approx(oracle, rel=1e-9, abs=1e-300)
    f1 = ws.monitor.compare_versions("mc", ["1.0.0", "2.0.0"], _day(T0), metric="f1_macro")
    assert "multinomial" in f1["test"][1] and f1["significant"][1]


# ---------------------------------------------------------------------------- concept drift
def test_regression_concept_drift_fires_after_a_shift_only(scenario):
    ws, rng = scenario.ws, np.random.default_rng(9)
    _register(ws, "reg", "regression")
    for day, noise in ((0, 1.0), (1, 1.0), (2, 2.0)):
        _, y, p = _regression_day(rng, 1500, noise)
        scenario.log("reg", "1.0.0", day, {"prediction": p.tolist()}, y)
    scenario.label()
    before = ws.monitor.detect_concept_drift("reg", "1.0.0", start=T0, end=T0 + 2 * DAY)
    after = ws.monitor.detect_concept_drift("reg", "1.0.0", start=T0, end=T0 + 3 * DAY)
    assert not before and after
    assert after.detected_at >= T0 + 2 * DAY - timedelta(hours=6)
    assert after.error_rate_after > 1.3 * after.error_rate_before  # mean |e| before / after
    with pytest.raises(ValidationError, match="detectors"):
        ws.monitor.detect_concept_drift("reg", "1.0.0", detectors=["ddm"])


def test_multiclass_concept_drift_on_misclassifications(scenario):
    ws, rng = scenario.ws, np.random.default_rng(10)
    _register(ws, "mc", "multiclass")
    labels = np.array(["a", "b", "c", "d"])
    for day, rate in ((0, 0.1), (1, 0.1), (2, 0.4)):
        y = rng.choice(labels, 1000)
        p = np.where(rng.random(1000) < rate, np.roll(labels, 1)[np.searchsorted(labels, y)],
                     y)
        scenario.log("mc", "1.0.0", day, {"prediction": p.tolist()}, y.tolist())
    scenario.label()
    assert not ws.monitor.detect_concept_drift("mc", "1.0.0", start=T0, end=T0 + 2 * DAY)
    result = ws.monitor.detect_concept_drift("mc", "1.0.0", start=T0, end=T0 + 3 * DAY)
    assert result and result.error_rate_after > 0.3


# ---------------------------------------------------------------------------- drift
def test_prediction_drift_flags_a_shifted_class_mix(scenario):
    ws, rng = scenario.ws, np.random.default_rng(11)
    _register(ws, "mc", "multiclass")
    labels = ["a", "b", "c"]
    for day, mix in ((0, [0.4, 0.3, 0.3]), (1, [0.4, 0.3, 0.3]), (2, [0.1, 0.2, 0.7])):
        p = rng.choice(labels, 3000, p=mix)
        scenario.log("mc", "1.0.0", day, {"prediction": p.tolist(),
                                          "f": rng.normal(0, 1, 3000).tolist()}, p.tolist())
    same = ws.monitor.data_drift("mc", "1.0.0", reference=_day(T0), current=_day(T0 + DAY))
    moved = ws.monitor.data_drift("mc", "1.0.0", reference=_day(T0), current=_day(T0 + 2 * DAY))
    for frame, drifted in ((same, False), (moved, True)):
        row = frame.filter(pl.col("feature") == "prediction").row(0, named=True)
        assert row["kind"] == "prediction" and row["drift"] is drifted
        assert not frame.filter(pl.col("feature") == "f")["drift"][0]


def test_prediction_drift_of_regression_values(scenario):
    ws, rng = scenario.ws, np.random.default_rng(12)
    _register(ws, "reg", "regression")
    for day, shift in ((0, 0.0), (1, 1.0)):
        x, y, p = _regression_day(rng, 2000, 1.0, shift)
        scenario.log("reg", "1.0.0", day, {"prediction": p.tolist(), "x": x.tolist()}, y)
    frame = ws.monitor.data_drift("reg", "1.0.0", reference=_day(T0), current=_day(T0 + DAY))
    assert frame.filter(pl.col("feature") == "prediction")["drift"][0]
    assert frame.filter(pl.col("feature") == "x")["drift"][0]


# ---------------------------------------------------------------------------- estimation
@pytest.mark.parametrize("calibration", ["none", "auto"])
def test_multiclass_estimate_within_two_points_of_realised(scenario, calibration):
    ws, rng = scenario.ws, np.random.default_rng(13)
    _register(ws, "mc", "multiclass")
    labels = ["a", "b", "c"]
    realised = {}
    for day, shift in ((0, 0.0), (1, 1.0)):
        logits = rng.normal(0, 1.5, (4000, 3)) + np.array([shift, 0.0, 0.0])
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        actual = np.array([rng.choice(labels, p=row) for row in proba])
        pred = np.array(labels)[proba.argmax(axis=1)]
        probs = [dict(zip(labels, row.tolist(), strict=True)) for row in proba]
        scenario.log("mc", "1.0.0", day, {"prediction": pred.tolist(), "probabilities": probs},
                     actual.tolist())
        realised[day] = accuracy_score(actual, pred)
    scenario.pending = scenario.pending[:1]  # the current day stays unlabelled
    scenario.label()
    est = ws.monitor.estimate_performance("mc", "1.0.0", reference=_day(T0),
                                          current=_day(T0 + DAY), calibration=calibration)
    assert abs(est.accuracy - realised[1]) <= 0.02


def test_regression_estimate_within_six_percent_and_score_only_refused(scenario):
    ws, rng = scenario.ws, np.random.default_rng(14)
    _register(ws, "reg", "regression")
    _register(ws, "anom", "score-only")
    realised = 0.0
    for day, shift, n in ((0, 0.0, 20000), (1, 1.5, 5000)):
        x = rng.normal(shift, 1.0, n)
        y = 2 * x + rng.normal(0, 0.5 + np.abs(x))
        scenario.log("reg", "1.0.0", day, {"prediction": (2 * x).tolist(), "x": x.tolist()}, y)
        realised = float(np.abs(y - 2 * x).mean())
    scenario.pending = scenario.pending[:1]
    scenario.label()
    est = ws.monitor.estimate_performance("reg", "1.0.0", reference=_day(T0),
                                          current=_day(T0 + DAY)).row(0, named=True)
    assert est["n"] == 5000 and abs(est["mae"] - realised) <= 0.06 * realised
    with pytest.raises(ValidationError, match="score-only"):
        ws.monitor.estimate_performance("anom", "1.0.0")


# ---------------------------------------------------------------------------- alerts, verdict
def test_degradation_rule_per_task_fires_once(scenario):
    ws, rng = scenario.ws, np.random.default_rng(15)
    _register(ws, "reg", "regression")
    ws.registry.deploy("reg", "1.0.0")
    _, y, p = _regression_day(rng, 1000, 1.0)
    scenario.log("reg", "1.0.0", 0, {"prediction": p.tolist()}, y)
    scenario.log("reg", "1.0.0", 1, {"prediction": (y + 1.5 * (p - y)).tolist()}, y)
    scenario.label(days_later=0)
    ws.alerts.add_rule("degradation", "reg", window="24h", baseline="24h")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, second = ws.alerts.check("reg"), ws.alerts.check("reg")
    assert len(first) == 1 and second == []
    alert = ws.alerts.list("reg").row(0, named=True)
    assert alert["severity"] == "critical" and "mae of reg 1.0.0 rose 50.0%" in alert["message"]
    verdict = mlmkit.services.monitor.verdict.model_verdict(ws, "reg")
    assert verdict.severity == "critical" and "mae rose 50.0%" in verdict.sentence


def test_multiclass_trend_with_a_one_class_bucket(tmp_path):
    from datetime import timedelta

    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    import mlmkit
    from mlmkit.values import ModelMetadata, utcnow

    now = utcnow()
    ids = [f"i{i}" for i in range(7)]
    pred = ["a", "b", "a", "c", "a", "a", "a"]
    true = ["a", "b", "b", "c", "a", "a", "a"]
    ts = [now - timedelta(hours=30)] * 4 + [now - timedelta(hours=2)] * 3
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(ModelMetadata("mc", "supervised", "1.0.0", task="multiclass"))
        ws.log.track_batch(pl.DataFrame({"model_name": "mc", "version": "1.0.0",
                                         "prediction": pred, "prediction_id": ids,
                                         "timestamp": ts}))
        ws.log.record_actuals(ids, true, model_name="mc")
        trend = ws.monitor.get_performance_trend("mc", "1.0.0", "48h", "1d").sort("bucket")
    assert trend["n"].to_list() == [4, 3]
    for row, (lo, hi) in zip(trend.iter_rows(named=True), ((0, 4), (4, 7)), strict=True):
        y, p = true[lo:hi], pred[lo:hi]  # the second bucket holds class "a" only
        assert row["accuracy"] == pytest.approx(accuracy_score(y, p))
        assert row["f1_macro"] == pytest.approx(f1_score(y, p, average="macro"))
        for stat, fn in (("precision", precision_score), ("recall", recall_score),
                         ("f1", f1_score)):
            for avg in ("micro", "weighted"):
                assert row[f"{stat}_{avg}"] == pytest.approx(
                    fn(y, p, average=avg, zero_division=0.0)), (stat, avg)


def test_a_worsening_within_the_noise_is_not_a_degradation(tmp_path):
    # a flag rate of ~0.115 on 400 rows against a registered 0.10: 15% worse, p ~ 0.15
    import mlmkit
    from mlmkit.values import ModelMetadata

    rng = np.random.default_rng(4)
    scores = rng.normal(0, 1, 400)
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(ModelMetadata("an", "unsupervised", "1.0.0", task="score-only",
                                           performance_metrics={"flag_rate": 0.10}))
        ws.log.track_batch(pl.DataFrame({"model_name": "an", "version": "1.0.0",
                                         "score": scores, "prediction": scores > 1.2}))
        info = ws.monitor.get_performance_degradation_info("an", "1.0.0", 0.05, window="1h")
    assert info.relative_drop > 0.05 and info.p_value > 0.05
    assert info.severity == "ok" and not info.has_degraded
