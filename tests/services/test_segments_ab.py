"""ws.ab.segment_test: one A/B test per segment, corrected across the segments.

Oracles: ``run_test`` on a copy of one segment's rows logged as a model of its own (every
p-value and statistic to 1e-9, the bootstrap with the same seed), statsmodels'
``proportions_ztest`` / ``multipletests``, scipy's Welch t-test on per-row |e|; an A/A
calibration of the family-wise false-positive share (Holm) through the service.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.exceptions import ValidationError
from mlmkit.values import ABTestConfig

T0 = datetime(2026, 3, 1, tzinfo=UTC)
COUNTRIES = ["BR", "DE", "FR", "US"]
VERSIONS = ("1.0.0", "1.1.0")


def _register(ws: mlmkit.Workspace, model: str, task: str = "binary") -> None:
    kind = "unsupervised" if task == "score-only" else "supervised"
    for v in VERSIONS:
        ws.registry.register(ModelMetadata(model, kind, v, task=task))


def _countries(rng: np.random.Generator, n: int) -> pl.Series:
    return pl.Series(rng.choice(COUNTRIES, n)).set(pl.Series(rng.random(n) < 0.05), None)


def _binary_rows(rng: np.random.Generator, version: str, n: int, lift: float) -> pl.DataFrame:
    country = _countries(rng, n)
    score = rng.random(n)
    # B is better in DE only: its predictions agree with the label more often there
    sharp = np.where((country == "DE").fill_null(False).to_numpy(), lift, 0.0)
    actual = rng.random(n) < np.clip(score + sharp * np.sign(score - 0.5), 0, 1)
    return pl.DataFrame({
        "model_name": "m", "version": version, "prediction": score > 0.5, "score": score,
        "actual": actual, "timestamp": [T0 + timedelta(seconds=int(s))
                                        for s in rng.integers(0, 3600, n)],
        "country": country})


def _copies(ws: mlmkit.Workspace, rows: pl.DataFrame, model: str) -> dict[object, str]:
    """One model per country holding that segment's rows alone (the filter-first oracle)."""
    names = {}
    for i, country in enumerate([*COUNTRIES, None]):
        name = f"{model}_seg{i}"
        _register(ws, name, str(ws.registry.task(model)))
        part = rows.filter(pl.col("country").is_null() if country is None
                           else pl.col("country") == country)
        ws.log.track_batch(part.with_columns(pl.lit(name).alias("model_name")))
        names[country] = name
    return names


@pytest.fixture(scope="module")
def binary_ws():
    rng = np.random.default_rng(7)
    with mlmkit.open() as ws:
        _register(ws, "m")
        rows = pl.concat([_binary_rows(rng, "1.0.0", 6000, 0.0),
                          _binary_rows(rng, "1.1.0", 6000, 0.25)])
        ws.log.track_batch(rows)
        yield ws, rows, _copies(ws, rows, "m")


def _same_as_filtered(ws, frame, copies, metric, **kw):
    for row in frame.iter_rows(named=True):
        cfg = ABTestConfig(copies[row["country"]], *VERSIONS, primary_metric=metric)
        ref = ws.ab.run_test(cfg, secondary_metrics=[], **kw).tests[metric]
        assert row["p_value"] == pytest.approx(ref.p_value, rel=1e-9, abs=1e-12), row
        assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
        assert row["effect"] == pytest.approx(ref.effect, rel=1e-9, abs=1e-12)
        assert row["value_a"] == pytest.approx(ref.details["value_a"], rel=1e-12)
        assert row["value_b"] == pytest.approx(ref.details["value_b"], rel=1e-12)
        assert row["method"] == ref.method


@pytest.mark.parametrize("metric", ["accuracy", "precision", "f1_score", "roc_auc"])
def test_binary_segments_equal_run_test_on_filtered_rows(binary_ws, metric: str) -> None:
    ws, rows, copies = binary_ws
    cfg = ABTestConfig("m", *VERSIONS, primary_metric=metric)
    frame = ws.ab.segment_test(cfg, segment="country", n_resamples=500, seed=3)
    assert frame["country"].to_list() == [*COUNTRIES, None]  # missing: its own segment
    _same_as_filtered(ws, frame, copies, metric, n_resamples=500, seed=3)
    lab = rows.filter(pl.col("actual").is_not_null())
    for row in frame.iter_rows(named=True):
        part = lab.filter(pl.col("country").eq_missing(row["country"]))
        assert (row["n_a"], row["n_b"]) == tuple(
            part.filter(pl.col("version") == v).height for v in VERSIONS)
    tested = frame.filter("tested")
    assert tested.height == frame.height  # every segment has >= 100 labels per arm
    _, expected, _, _ = multipletests(tested["p_value"].to_numpy(), method="holm")
    np.testing.assert_allclose(tested["p_adjusted"].to_numpy(), expected, rtol=1e-12)


def test_binary_accuracy_against_statsmodels_and_the_winner(binary_ws) -> None:
    ws, rows, _ = binary_ws
    cfg = ABTestConfig("m", *VERSIONS, primary_metric="accuracy")
    frame = ws.ab.segment_test(cfg, segment={"country": ["DE", "FR"]}, correction="fdr_bh")
    assert frame["country"].to_list() == ["DE", "FR"]
    lab = rows.filter(pl.col("actual").is_not_null())
    for row in frame.iter_rows(named=True):
        part = lab.filter(pl.col("country") == row["country"])
        hits = [part.filter((pl.col("version") == v)
                            & (pl.col("prediction") == pl.col("actual"))).height
                for v in VERSIONS]
        n = [part.filter(pl.col("version") == v).height for v in VERSIONS]
        z, p = proportions_ztest([hits[1], hits[0]], [n[1], n[0]])
        assert row["statistic"] == pytest.approx(z, rel=1e-9)
        assert row["p_value"] == pytest.approx(p, rel=1e-9)
    _, bh, _, _ = multipletests(frame["p_value"].to_numpy(), method="fdr_bh")
    np.testing.assert_allclose(frame["p_adjusted"].to_numpy(), bh, rtol=1e-12)
    de = frame.row(0, named=True)
    assert de["significant"] and de["winner"] == "B" and de["effect"] > 0.1


def test_small_segments_stay_out_of_the_family(binary_ws) -> None:
    ws, _, _ = binary_ws
    cfg = ABTestConfig("m", *VERSIONS)
    frame = ws.ab.segment_test(cfg, segment="country", min_samples=500)
    small = frame.filter(pl.col("country").is_null())
    assert not small["tested"][0] and small["p_adjusted"][0] is None
    assert not small["significant"][0] and math.isfinite(small["p_value"][0])
    tested = frame.filter("tested")
    _, holm, _, _ = multipletests(tested["p_value"].to_numpy(), method="holm")
    np.testing.assert_allclose(tested["p_adjusted"].to_numpy(), holm, rtol=1e-12)


def test_refusals_name_the_argument(binary_ws) -> None:
    ws, _, _ = binary_ws
    cfg = ABTestConfig("m", *VERSIONS)
    with pytest.raises(ValidationError, match="segment"):
        ws.ab.segment_test(cfg, segment="planet")
    with pytest.raises(ValidationError, match="correction"):
        ws.ab.segment_test(cfg, segment="country", correction="sidak")
    with pytest.raises(ValidationError, match="metric"):
        ws.ab.segment_test(cfg, segment="country", metric="mae")
    with pytest.raises(ValidationError, match="sequential"):
        ws.ab.segment_test(cfg, segment="country", metric="f1_score", sequential=True)


# ---------------------------------------------------------------------- other tasks
def _stamps(rng: np.random.Generator, n: int) -> list[datetime]:
    return [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 3600, n)]


def test_multiclass_segments_equal_run_test_on_filtered_rows() -> None:
    rng = np.random.default_rng(11)
    classes = np.array(["ant", "bee", "cat"])
    frames = []
    for version, acc in zip(VERSIONS, (0.7, 0.75), strict=True):
        n = 3000
        y = classes[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
        pred = np.where(rng.random(n) < acc, y, classes[rng.integers(0, 3, n)])
        frames.append(pl.DataFrame({"model_name": "mc", "version": version,
                                    "prediction": pred.tolist(), "actual": y.tolist(),
                                    "timestamp": _stamps(rng, n),
                                    "country": _countries(rng, n)}))
    rows = pl.concat(frames)
    with mlmkit.open() as ws:
        _register(ws, "mc", "multiclass")
        ws.log.track_batch(rows)
        copies = _copies(ws, rows, "mc")
        for metric in ("accuracy", "f1_macro"):
            cfg = ABTestConfig("mc", *VERSIONS, primary_metric=metric)
            frame = ws.ab.segment_test(cfg, segment="country", n_resamples=300, seed=5)
            assert frame.height == 5
            _same_as_filtered(ws, frame, copies, metric, n_resamples=300, seed=5)
            tested = frame.filter("tested")
            _, holm, _, _ = multipletests(tested["p_value"].to_numpy(), method="holm")
            np.testing.assert_allclose(tested["p_adjusted"].to_numpy(), holm, rtol=1e-12)


def test_regression_mae_is_welch_on_abs_errors_per_segment() -> None:
    rng = np.random.default_rng(12)
    frames = []
    for version, noise in zip(VERSIONS, (1.0, 1.1), strict=True):
        n = 2500
        y = rng.normal(50, 10, n)
        frames.append(pl.DataFrame({"model_name": "rg", "version": version,
                                    "prediction": y + rng.normal(0, noise, n), "actual": y,
                                    "timestamp": _stamps(rng, n),
                                    "country": _countries(rng, n)}))
    rows = pl.concat(frames)
    with mlmkit.open() as ws:
        _register(ws, "rg", "regression")
        ws.log.track_batch(rows)
        cfg = ABTestConfig("rg", *VERSIONS, primary_metric="mae")
        frame = ws.ab.segment_test(cfg, segment="country")
        for row in frame.iter_rows(named=True):
            part = rows.filter(pl.col("country").eq_missing(row["country"]))
            err = [np.abs((part.filter(pl.col("version") == v)["prediction"]
                           - part.filter(pl.col("version") == v)["actual"]).to_numpy())
                   for v in VERSIONS]
            t, p = stats.ttest_ind(err[1], err[0], equal_var=False)
            assert row["statistic"] == pytest.approx(t, rel=1e-9)
            assert row["p_value"] == pytest.approx(p, rel=1e-9)
            assert row["value_a"] == pytest.approx(err[0].mean(), rel=1e-12)
        rmse = ws.ab.segment_test(ABTestConfig("rg", *VERSIONS, primary_metric="rmse"),
                                  segment="country")  # was refused: each segment bootstrapped
        assert rmse.height == frame.height and rmse["method"].str.contains("bootstrap").all()


def test_score_only_flag_rate_per_segment_has_no_winner() -> None:
    rng = np.random.default_rng(13)
    frames = []
    for version, cut in zip(VERSIONS, (0.9, 0.88), strict=True):
        n = 3000
        score = rng.random(n)
        frames.append(pl.DataFrame({"model_name": "an", "version": version, "score": score,
                                    "prediction": score > cut, "timestamp": _stamps(rng, n),
                                    "country": _countries(rng, n)}))
    rows = pl.concat(frames)
    with mlmkit.open() as ws:
        _register(ws, "an", "score-only")
        ws.log.track_batch(rows)
        frame = ws.ab.segment_test(ABTestConfig("an", *VERSIONS, primary_metric="flag_rate"),
                                   segment="country")
        for row in frame.iter_rows(named=True):
            part = rows.filter(pl.col("country").eq_missing(row["country"]))
            flagged = [int(part.filter(pl.col("version") == v)["prediction"].sum())
                       for v in VERSIONS]
            n = [part.filter(pl.col("version") == v).height for v in VERSIONS]
            _, p = proportions_ztest([flagged[1], flagged[0]], [n[1], n[0]])
            assert row["p_value"] == pytest.approx(p, rel=1e-9)
            assert (row["n_a"], row["n_b"]) == tuple(n) and row["winner"] is None


# ---------------------------------------------------------------------- A/A calibration
def test_aa_family_wise_false_positives_with_holm_within_alpha() -> None:
    """200 seeded A/A experiments x 10 segments: share with any Holm rejection <= alpha + 3 se."""
    runs, segments, per_arm, alpha = 200, 10, 80, 0.05
    rng = np.random.default_rng(2026)
    frames = []
    for run in range(runs):
        n = 2 * segments * per_arm
        score = rng.random(n)
        frames.append(pl.DataFrame({
            "model_name": f"aa{run}", "version": np.repeat(VERSIONS, n // 2),
            "prediction": score > 0.5, "score": score, "actual": rng.random(n) < score,
            "timestamp": [T0] * n, "seg": np.tile(np.repeat(np.arange(segments), per_arm), 2)
            .astype(str)}))
    with mlmkit.open() as ws:
        for run in range(runs):
            _register(ws, f"aa{run}")
        ws.log.track_batch(pl.concat(frames))
        false = 0
        for run in range(runs):
            frame = ws.ab.segment_test(ABTestConfig(f"aa{run}", *VERSIONS), segment="seg",
                                       min_samples=50)
            assert frame.height == segments and frame["tested"].all()
            false += bool(frame["significant"].any())
    share = false / runs
    se = math.sqrt(alpha * (1 - alpha) / runs)
    print(f"A/A family-wise false-positive share (Holm, {segments} segments): {share:.3f}")
    assert share <= alpha + 3 * se
