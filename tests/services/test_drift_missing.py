"""Missingness as a drift signal (issue 12.14): oracle, 0 % -> 30 % missing, NaN/inf never raise."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_effectsize

import mlmkit
from mlmkit.analysis.drift import missing_drift
from mlmkit.exceptions import ValidationError

END = datetime(2026, 3, 8, tzinfo=UTC)
CUR = (END - timedelta(days=1), END)


# ----------------------------------------------------------------------------- the test itself
def test_missing_drift_matches_scipy_and_statsmodels():
    rng = np.random.default_rng(3)
    rt = rng.integers(50, 5000, 12)
    ct = rng.integers(50, 5000, 12)
    rm = rng.binomial(rt, rng.uniform(0, 0.3, 12))
    cm = rng.binomial(ct, rng.uniform(0, 0.3, 12))
    got = missing_drift(rm, rt, cm, ct)
    want_p = [stats.chi2_contingency([[a, n - a], [b, m - b]]).pvalue
              for a, n, b, m in zip(rm, rt, cm, ct, strict=True)]
    want_stat = [stats.chi2_contingency([[a, n - a], [b, m - b]]).statistic
                 for a, n, b, m in zip(rm, rt, cm, ct, strict=True)]
    assert got["p_value"].to_list() == pytest.approx(want_p, rel=1e-9, abs=1e-300)
    assert got["statistic"].to_list() == pytest.approx(want_stat, rel=1e-9)
    reject, holm, _, _ = multipletests(want_p, alpha=0.05, method="holm")
    assert got["adjusted_p_value"].to_list() == pytest.approx(holm.tolist(), rel=1e-9)
    h = proportion_effectsize(cm / ct, rm / rt)  # statsmodels: h(prop1) - h(prop2)
    assert got["effect"].to_list() == pytest.approx(h.tolist(), abs=1e-12)
    assert got["drift"].to_list() == (reject & (np.abs(h) >= 0.1)).tolist()
    fdr = missing_drift(rm, rt, cm, ct, correction="fdr_bh")
    assert fdr["adjusted_p_value"].to_list() == pytest.approx(
        multipletests(want_p, method="fdr_bh")[1].tolist(), rel=1e-9)


def test_missing_drift_effect_floor_and_edges():
    # 10^6 rows: 1.0 % -> 1.2 % missing is significant but below the effect floor
    big = missing_drift(10_000, 1_000_000, 12_000, 1_000_000)
    assert big["adjusted_p_value"][0] < 1e-30 and not big["drift"][0]
    assert missing_drift(10_000, 1_000_000, 12_000, 1_000_000, min_effect=0.0)["drift"][0]
    # nothing missing / everything missing on both sides: p = 1; an empty side: nulls, no drift
    edge = missing_drift([0, 40, 7, 0], [40, 40, 10, 0], [0, 25, 0, 1], [25, 25, 0, 5])
    assert edge["p_value"].to_list()[:2] == [1.0, 1.0]
    assert edge["p_value"].to_list()[2:] == [None, None]
    assert edge["drift"].to_list() == [False, False, False, False]
    # 100 % missing on one side only is drift
    assert missing_drift(0, 500, 500, 500)["drift"][0]


@pytest.mark.parametrize(("args", "name"), [
    (([1], [0], [0], [1]), "reference_missing"),
    (([0], [1], [2], [1]), "current_missing"),
    (([-1], [1], [0], [1]), "reference_missing"),
    (([0.5], [1], [0], [1]), "reference_missing"),
    (([0, 1], [1, 1], [0], [1]), "current_total"),
])
def test_missing_drift_bad_counts(args, name):
    with pytest.raises(ValidationError, match=name):
        missing_drift(*args)


# ----------------------------------------------------------------------------- on the log
def _workspace(path, n_per_day, missing_after, *, days=8, seed=1):
    """x1 loses ``missing_after`` of its values in the last day; x2 is 5 % missing throughout."""
    rng = np.random.default_rng(seed)
    n = n_per_day * days
    t = np.sort(rng.uniform(0, days * 86400, n))
    last = t >= (days - 1) * 86400
    x1 = rng.normal(size=n)
    x1[last & (rng.random(n) < missing_after)] = np.nan
    x2 = rng.normal(size=n)
    x2[rng.random(n) < 0.05] = np.inf          # ±inf is missing too
    seg = np.where(rng.random(n) < 0.5, "a", "b").astype(object)
    score = rng.uniform(size=n)
    ws = mlmkit.open(path)
    ws.registry.register(mlmkit.ModelMetadata("m", mlmkit.ModelType.SUPERVISED, "1.0.0"))
    ws.log.track_batch(pl.DataFrame({
        "model_name": "m", "version": "1.0.0", "prediction": score >= 0.5, "score": score,
        "x1": x1, "x2": x2, "seg": seg.tolist(),
        "timestamp": [END - timedelta(days=days) + timedelta(seconds=float(s)) for s in t]}))
    return ws


@pytest.mark.parametrize(("n_per_day", "source"), [(5000, "sql"), (600, "rows")])
def test_feature_going_30_percent_missing_is_flagged(tmp_path, n_per_day, source):
    with _workspace(tmp_path / "ws.duckdb", n_per_day, 0.30) as ws:
        report = ws.monitor.data_drift("m", "1.0.0", reference="7d", current=CUR)
    row = report.filter(pl.col("feature") == "x1").row(0, named=True)
    assert row["source"] == source
    assert row["missing_reference"] == 0.0
    assert row["missing_current"] == pytest.approx(0.30, abs=0.05)
    assert row["missing_drift"] and row["drift"]
    assert row["missing_effect"] > 1.0
    # the present values did not move: value drift judged on them only
    assert row["effect_size"] < 0.1
    assert row["n_current"] == pytest.approx(0.7 * n_per_day, rel=0.15)
    # x2 is 5 % missing (inf) on both sides: no drift of either kind
    x2 = report.filter(pl.col("feature") == "x2").row(0, named=True)
    assert x2["missing_reference"] == pytest.approx(0.05, abs=0.01)
    assert not x2["missing_drift"] and not x2["drift"]
    assert report.filter(pl.col("drift"))["feature"].to_list() == ["x1"]


@pytest.mark.parametrize("method", ["auto", "psi"])
def test_feature_missing_everywhere_on_one_side_does_not_crash(tmp_path, method):
    with _workspace(tmp_path / "ws.duckdb", 3000, 1.0) as ws:
        report = ws.monitor.data_drift("m", "1.0.0", reference="7d", current=CUR,
                                       method=method)
        frame_ref = ws.monitor.data_drift(
            "m", "1.0.0", reference={"x1": [math.nan] * 50, "seg": [None] * 50},
            current=CUR)
    row = report.filter(pl.col("feature") == "x1").row(0, named=True)
    assert row["method"] is None and row["statistic"] is None and row["n_current"] == 0
    assert row["missing_current"] == 1.0 and row["missing_drift"] and row["drift"]
    assert frame_ref["feature"].to_list() == ["seg", "x1"]
    assert frame_ref["method"].to_list() == [None, None]
    # seg: absent from the reference frame, present now; x1: missing on both sides
    assert frame_ref["missing_drift"].to_list() == [True, False]


def test_nan_and_inf_logged_values_never_raise(tmp_path):
    """Through every entry point, and rows stored as NaN before ingest mapped them to NULL."""
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("m", mlmkit.ModelType.SUPERVISED, "1.0.0"))
        now = END - timedelta(hours=1)
        for i, value in enumerate([math.nan, math.inf, -math.inf, 1.0, 2.0]):
            ws.log.track("m", "1.0.0", True, score=0.7, features={"x": value},
                         timestamp=now - timedelta(minutes=i))
        with ws.log.buffered(max_rows=10) as writer:
            writer.track("m", "1.0.0", True, score=0.6, features={"x": math.nan},
                         timestamp=now - timedelta(days=2))
            writer.track("m", "1.0.0", False, score=0.2, features={"x": 0.5},
                         timestamp=now - timedelta(days=2, minutes=1))
        col = ws.predictions_store.feature_map("m", refresh=True)["x"][0]
        # a legacy file: NaN / inf stored in the column itself
        ws.db.execute(f'UPDATE predictions SET "{col}" = \'NaN\'::DOUBLE WHERE score = 0.2')
        ws.db.execute(f'UPDATE predictions SET "{col}" = \'inf\'::DOUBLE '
                      "WHERE ts = (SELECT max(ts) FROM predictions)")
        assert ws.db.execute(f'SELECT count(*) FROM predictions WHERE isnan("{col}")')[0][0] == 1
        report = ws.monitor.data_drift("m", "1.0.0", reference="7d", current=CUR)
        x = report.filter(pl.col("feature") == "x").row(0, named=True)
        assert (x["missing_reference"], x["missing_current"]) == (1.0, 0.6)
        assert x["n_current"] == 2 and x["method"] is None
