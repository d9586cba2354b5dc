"""Segments: per-segment metrics, trends and drift equal filtering first, then computing.

Oracles: scikit-learn on the filtered rows (counts exactly, rates and sums to 1e-12), the
unsegmented pipeline over a copy of one segment's rows logged as a model of its own, and
statsmodels' ``multipletests`` for the family-wide correction of the per-segment drift tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from statsmodels.stats.multitest import multipletests

import mlmkit
from mlmkit.exceptions import ValidationError
from mlmkit.values import utcnow

N = 4000
COUNTRIES = ["DE", "FR", "US", "BR"]


def _frame(rng: np.random.Generator, now: datetime, n: int, model: str = "m") -> pl.DataFrame:
    score = rng.random(n)
    actual = pl.Series(rng.random(n) < score).set(pl.Series(rng.random(n) < 0.1), None)
    country = pl.Series(rng.choice(COUNTRIES, n)).set(pl.Series(rng.random(n) < 0.05), None)
    return pl.DataFrame({
        "model_name": model, "version": "1.0.0", "prediction": score > 0.5, "score": score,
        "actual": actual,
        "timestamp": [now - timedelta(seconds=int(s)) for s in rng.integers(60, 20 * 3600, n)],
        "country": country, "device": rng.choice(["mobile", "desktop", "tablet"], n),
        "tier": rng.integers(1, 4, n).astype(float), "x": rng.normal(size=n)})


@pytest.fixture(scope="module")
def ws_rows() -> Iterator[tuple[mlmkit.Workspace, pl.DataFrame]]:
    rng = np.random.default_rng(15)
    now = utcnow()
    rows = _frame(rng, now, N)
    with mlmkit.open() as ws:
        for model in ("m", "copy"):
            ws.registry.register(mlmkit.ModelMetadata(model, "supervised", "1.0.0"))
        ws.log.track_batch(rows)
        ws.log.track_batch(rows.filter(pl.col("country") == "DE")
                           .with_columns(pl.lit("copy").alias("model_name")))
        yield ws, rows


def _where(rows: pl.DataFrame, **values: object) -> pl.DataFrame:
    for col, value in values.items():
        rows = rows.filter(pl.col(col).is_null() if value is None else pl.col(col) == value)
    return rows


def _check_against_sklearn(row: dict[str, object], part: pl.DataFrame) -> None:
    lab = part.filter(pl.col("actual").is_not_null())
    y, p = lab["actual"].to_numpy().astype(int), lab["prediction"].to_numpy().astype(int)
    s = lab["score"].to_numpy()
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
    assert (row["sample_count"], row["labelled_count"]) == (part.height, lab.height)
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (tp, fp, tn, fn)
    expected = {"accuracy": skm.accuracy_score(y, p), "precision": skm.precision_score(y, p),
                "recall": skm.recall_score(y, p), "f1_score": skm.f1_score(y, p),
                "roc_auc": skm.roc_auc_score(y, s), "brier_score": skm.brier_score_loss(y, s),
                "log_loss": skm.log_loss(y, s)}
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    assert row["mean_score"] == pytest.approx(part["score"].mean(), rel=1e-12)


def test_metrics_per_country_equal_sklearn_on_filtered_rows(ws_rows: tuple) -> None:
    ws, rows = ws_rows
    frame = ws.monitor.segment_metrics("m", "1.0.0", "24h", segment="country", min_labels=10)
    assert frame["country"].to_list() == ["BR", "DE", "FR", "US", None]  # missing: own segment
    assert frame["roc_auc_method"].unique().to_list() == ["exact"]
    for row in frame.iter_rows(named=True):
        _check_against_sklearn(row, _where(rows, country=row["country"]))
    assert frame["sample_count"].sum() == N


def test_two_keys_and_filters(ws_rows: tuple) -> None:
    ws, rows = ws_rows
    both = ws.monitor.segment_metrics("m", "1.0.0", "24h", segment=["device", "tier"], ci=False)
    assert both.height == 9 and both.schema["tier"] == pl.Float64
    for row in both.iter_rows(named=True):
        _check_against_sklearn(row, _where(rows, device=row["device"], tier=row["tier"]))
    counted = ws.monitor.segment_metrics("m", "1.0.0", "24h", segment=["device", "tier"],
                                         ci=False, scores=False)
    assert counted.drop("mean_score").columns == [c for c in both.columns if "roc" not in c
                                                  and c not in ("brier_score", "log_loss",
                                                                "mean_score")]
    for col in ("sample_count", "labelled_count", "tp", "fp", "tn", "fn", "accuracy"):
        assert counted[col].to_list() == both[col].to_list()
    picked = ws.monitor.segment_metrics(
        "m", "1.0.0", "24h", segment={"country": ["DE", None], "device": "mobile"}, ci=False)
    assert picked.select("country", "device").rows() == [("DE", "mobile"), (None, "mobile")]
    for row in picked.iter_rows(named=True):
        _check_against_sklearn(row, _where(rows, country=row["country"], device="mobile"))


def test_segment_equals_the_same_rows_as_a_model_of_their_own(ws_rows: tuple) -> None:
    """Filtering first (the DE rows logged as model ``copy``), then the unsegmented calls."""
    ws, _ = ws_rows
    seg = ws.monitor.segment_metrics("m", "1.0.0", "24h", segment={"country": "DE"})
    alone = ws.monitor.get_current_metrics("copy", "1.0.0", "24h").to_dict()
    for name in ("sample_count", "labelled_count", "accuracy", "accuracy_low", "f1_score",
                 "roc_auc", "brier_score", "log_loss", "predicted_positive_rate"):
        expected = alone[name] if name in alone else None
        if name.endswith("_low"):
            expected = alone["confidence_intervals"]["accuracy"]["low"]  # type: ignore[index]
        assert seg[name][0] == pytest.approx(expected, rel=1e-12), name
    end = utcnow()
    span = {"start": end - timedelta(hours=24), "end": end}
    trend = ws.monitor.get_performance_trend("m", "1.0.0", None, "6h", segment="country",
                                             **span)
    de = trend.filter(pl.col("country") == "DE").drop("country")
    copy = ws.monitor.get_performance_trend("copy", "1.0.0", None, "6h", **span)
    assert de.height == copy.height == 4
    for col in ("n", "labelled", "tp", "fp", "tn", "fn", "scored"):
        assert de[col].to_list() == copy[col].to_list(), col
    for col in ("brier_sum", "log_loss_sum", "accuracy", "accuracy_low", "brier_score"):
        np.testing.assert_allclose(de[col].to_numpy(), copy[col].to_numpy(), rtol=1e-12)
    assert de["bucket"].to_list() == copy["bucket"].to_list()


def test_drift_per_segment_with_family_correction(ws_rows: tuple) -> None:
    ws, _ = ws_rows
    rng = np.random.default_rng(4)
    now = utcnow()
    ws.registry.register(mlmkit.ModelMetadata("d", "supervised", "1.0.0"))
    old = _frame(rng, now - timedelta(days=2), 6000, "d")
    new = _frame(rng, now, 6000, "d")
    new = new.with_columns(pl.when(pl.col("country") == "DE").then(pl.col("x") + 0.5)
                           .otherwise(pl.col("x")).alias("x"))
    ws.log.track_batch(pl.concat([old, new]))
    for correction, method in (("fdr_bh", "fdr_bh"), ("holm", "holm")):
        out = ws.monitor.segment_drift("d", "1.0.0", segment="country", reference="2d",
                                       current="24h", correction=correction)
        assert set(out["feature"]) == {"device", "tier", "x", "score"}  # country: the key
        assert out.height == 5 * 4
        reject, adjusted, _, _ = multipletests(out["p_value"].to_numpy(), 0.05, method)
        np.testing.assert_allclose(out["adjusted_p_value"].to_numpy(), adjusted, rtol=1e-12)
        assert out["drift"].to_list() == reject.tolist()
        drifted = out.filter(pl.col("drift")).select("country", "feature").rows()
        assert drifted == [("DE", "x")]


def test_a_feature_named_like_a_result_column_keeps_a_prefix() -> None:
    """A feature ``method`` / ``n`` clashed with drift's / the trend's columns (DuplicateError)."""
    rng = np.random.default_rng(1)
    rows = _frame(rng, utcnow(), 500).with_columns(pl.col("device").alias("method"),
                                                   pl.col("device").alias("n"))
    with mlmkit.open() as ws:
        ws.registry.register(mlmkit.ModelMetadata("m", "supervised", "1.0.0"))
        ws.log.track_batch(rows)
        drift = ws.monitor.segment_drift("m", "1.0.0", segment="method", reference="12h",
                                         current="8h")
        trend = ws.monitor.get_performance_trend("m", "1.0.0", "24h", "6h", segment="n")
        metrics = ws.monitor.segment_metrics("m", "1.0.0", "24h", segment=["country", "n"])
    assert drift.columns[:3] == ["segment_method", "feature", "kind"]
    assert set(drift["method"].drop_nulls()) <= {"ks", "chi_square"}
    assert "segment_n" in trend.columns and trend["n"].sum() == 500
    assert metrics.columns[:2] == ["country", "n"]  # no clash there: plain names


def test_bad_segments_name_the_argument(ws_rows: tuple) -> None:
    ws, _ = ws_rows
    for bad in ("nope", "country = 'DE' OR 1=1", [], {}, {"country": []}, ["x", "x"],
                {"country": True}, {"country": 3}, {"tier": "gold"}, 7, {"x": float("nan")}):
        with pytest.raises(ValidationError, match="segment"):
            ws.monitor.segment_metrics("m", "1.0.0", "24h", segment=bad)
    with pytest.raises(ValidationError, match="segment"):
        ws.monitor.get_performance_trend("m", "1.0.0", "24h", "6h", segment="nope")


def test_non_binary_model_without_the_feature_is_refused(ws_rows: tuple) -> None:
    # non-binary models have segments now (tests/services/test_segments_tasks.py); a feature
    # the model never logged is refused naming segment, as for a binary model
    ws, _ = ws_rows
    ws.registry.register(mlmkit.ModelMetadata("r", "supervised", "1.0.0", task="regression"))
    with pytest.raises(ValidationError, match=r"segment.*'r'"):
        ws.monitor.segment_metrics("r", "1.0.0", "24h", segment="country")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), missing=st.floats(0, 1))
def test_segment_counts_add_up_to_the_unsegmented_count(seed: int, n: int,
                                                         missing: float) -> None:
    rng = np.random.default_rng(seed)
    rows = _frame(rng, utcnow(), n)
    rows = rows.with_columns(pl.when(pl.Series(rng.random(n) < missing)).then(None)
                             .otherwise(pl.col("country")).alias("country"))
    with mlmkit.open() as ws:
        ws.registry.register(mlmkit.ModelMetadata("m", "supervised", "1.0.0"))
        ws.log.track_batch(rows)
        whole = ws.monitor.get_current_metrics("m", "1.0.0", "24h", ci=False)
        parts = ws.monitor.segment_metrics("m", "1.0.0", "24h", segment=["country", "device"],
                                           ci=False)
    assert parts["sample_count"].sum() == whole.sample_count == n
    assert parts["labelled_count"].sum() == whole.labelled_count
    assert parts.filter(pl.col("country").is_null())["sample_count"].sum() == \
        rows["country"].null_count()
