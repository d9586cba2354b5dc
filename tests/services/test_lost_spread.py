"""Spreads computed from plain sums whose digits rounding took: no number instead of a wrong one.

A variance from ``(n, Σx, Σx²)`` is ``Σx² - (Σx)²/n`` over ``n - 1``. Errors of a model off by
a constant (1e9 ± 1: an output in the wrong unit) made that subtraction rounding noise: the MAE
and bias intervals came out 11 times too wide at 1e9 and exactly ±0 at 1.7e12, and every test
built on them said what rounding said: a Welch test had no power or, on a spread of 0, p = 0 for
any difference of means; the always-valid sequential test called 42-46 % of A/A comparisons of
such arms significant (alpha 0.05; a rollout's guardrail breached). Now a variance whose
sums keep fewer than 3 digits is NaN with an ``UndefinedMetricWarning`` (`mlmkit._spread`), the
tests built on it report no evidence (NaN p-value, the sequential look not evaluated), and the
concept-drift window test, which holds the rows, runs Welch on them (scipy's ``ttest_ind`` is
the oracle). Sums that still keep their digits (1e6 ± 1) give what numpy and scipy give, and
constant errors stay exact points (their smallest and largest error say the spread is 0).
"""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.analysis.experiment import sequential_mean_test
from mlmkit.analysis.metrics import (
    RegressionSums,
    UndefinedMetricWarning,
    mean_interval_from_sums,
    regression_metrics,
    variance_from_sums,
)
from mlmkit.analysis.stats import welch_from_sums
from mlmkit.analysis.stats.tasks import regression_welch

N = 3000


def _errors(offset: float, seed: int, n: int = N) -> np.ndarray:
    return offset + np.random.default_rng(seed).normal(0.0, 1.0, n)


def _sums(x: np.ndarray) -> tuple[int, float, float]:
    return int(x.size), float(x.sum()), float(x @ x)


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e6])
def test_variance_of_sums_that_keep_their_digits_is_numpys(offset: float) -> None:
    x = _errors(offset, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        got = variance_from_sums(*_sums(x))
    assert got == pytest.approx(np.var(x, ddof=1), rel=1e-3)


@pytest.mark.parametrize("offset", [1e9, 1.7e12, -1e9])
def test_variance_whose_digits_rounding_took_is_nan_and_says_why(offset: float) -> None:
    x = _errors(offset, 2)
    with pytest.warns(UndefinedMetricWarning, match="dwarfs their spread"):
        assert math.isnan(variance_from_sums(*_sums(x)))
    with pytest.warns(UndefinedMetricWarning):
        ci = mean_interval_from_sums(*_sums(x))
    assert ci.estimate == pytest.approx(float(x.mean()), rel=1e-12)
    assert math.isnan(ci.low) and math.isnan(ci.high)


def test_zero_spread_of_zeros_is_exact_and_constant_values_are_not_guessed() -> None:
    assert variance_from_sums(10, 0.0, 0.0) == 0.0  # all zero: nothing to lose
    with pytest.warns(UndefinedMetricWarning):  # 1.0 ten times: sums cannot tell it from 1 ± ε
        assert math.isnan(variance_from_sums(10, 10.0, 10.0))


@pytest.mark.parametrize("offset", [1e9, 1.7e12])
def test_aa_welch_from_sums_of_offset_errors_is_no_evidence(offset: float) -> None:
    """Before: the sequential test called 42-46 % of these A/A comparisons significant."""
    a, b = _errors(offset, 3), _errors(offset, 4)
    with pytest.warns(UndefinedMetricWarning):
        r = welch_from_sums(*_sums(a), *_sums(b))
    assert math.isnan(r.p_value) and not r.significant(0.05)
    ra, rb = (RegressionSums.from_rows(np.zeros(N), x) for x in (a, b))
    with pytest.warns(UndefinedMetricWarning):
        assert not regression_welch(ra, rb, metric="mae").significant(0.05)
    with pytest.warns(UndefinedMetricWarning):
        seq = sequential_mean_test(_sums(a), _sums(b))
    assert seq.p_value == 1.0 and seq.details["evaluated"] is False


def test_welch_from_sums_that_keep_their_digits_is_scipys() -> None:
    a, b = _errors(1e6, 5), _errors(1e6, 6) + 0.1
    r = welch_from_sums(*_sums(a), *_sums(b))
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-3)
    seq = sequential_mean_test(_sums(a), _sums(b))
    assert seq.details["evaluated"] is True and seq.p_value < 1.0


def test_regression_metrics_intervals_of_offset_errors() -> None:
    y = np.random.default_rng(7).normal(10.0, 2.0, N)
    kept = regression_metrics(RegressionSums.from_rows(y, y + _errors(1e6, 8)))
    e = _errors(1e6, 8)
    half = 1.959963984540054 * np.std(np.abs(e), ddof=1) / math.sqrt(N)
    assert (kept.mae_interval.high - kept.mae_interval.low) / 2 == pytest.approx(half, rel=1e-3)
    with pytest.warns(UndefinedMetricWarning):
        lost = regression_metrics(RegressionSums.from_rows(y, y + _errors(1.7e12, 8)))
    assert lost.mae == pytest.approx(1.7e12, rel=1e-9)  # the point metrics keep their digits
    assert math.isnan(lost.mae_interval.low) and math.isnan(lost.bias_interval.high)
    assert math.isnan(lost.rmse_interval.low)


def _workspace(tmp_path: Path, offset: float, drift: float = 0.0) -> tuple[mlmkit.Workspace,
                                                                             np.ndarray]:
    ws = mlmkit.open(tmp_path / "w.duckdb")
    ws.registry.register(ModelMetadata("eta", "supervised", "1.0.0", task="regression"))
    rng = np.random.default_rng(11)
    y = rng.normal(100.0, 5.0, N)
    e = _errors(offset, 12)
    e[N // 2:] += drift
    start = datetime(2026, 5, 1, tzinfo=UTC)
    ws.log.track_batch(pl.DataFrame({
        "model_name": "eta", "version": "1.0.0", "prediction": y + e, "actual": y,
        "timestamp": [start + timedelta(seconds=i) for i in range(N)]}))
    return ws, y + e - y


def test_window_of_a_model_off_by_a_constant(tmp_path: Path) -> None:
    ws, e = _workspace(tmp_path, 1.7e12)
    span = {"start": datetime(2026, 5, 1, tzinfo=UTC), "end": datetime(2026, 5, 2, tzinfo=UTC)}
    with pytest.warns(UndefinedMetricWarning, match="dwarfs their spread"):
        m = ws.monitor.get_current_metrics("eta", "1.0.0", **span)
    d = m.to_dict()
    assert d["mae"] == pytest.approx(float(np.abs(e).mean()), rel=1e-12)
    assert math.isnan(d["mae_low"]) and math.isnan(d["bias_high"])  # were mae ± 0.0
    ws.close()


@pytest.mark.parametrize("drift", [0.0, 0.5])
def test_concept_drift_window_test_of_offset_errors_is_scipys(tmp_path: Path,
                                                               drift: float) -> None:
    """The halves' Welch test on the rows: scipy's one-sided ``ttest_ind`` of |e| / scale."""
    ws, e = _workspace(tmp_path, 1e9, drift)
    span = {"start": datetime(2026, 5, 1, tzinfo=UTC), "end": datetime(2026, 5, 2, tzinfo=UTC)}
    res = ws.monitor.detect_concept_drift("eta", "1.0.0", **span, alert=False)
    stream = np.abs(e) / np.abs(e[:N // 2]).mean()
    ref = stats.ttest_ind(stream[N // 2:], stream[:N // 2], equal_var=False,
                          alternative="greater")
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    assert res.window_test_significant is (drift > 0)
    ws.close()


def test_ab_test_of_two_versions_off_by_the_same_constant_declares_nothing(tmp_path: Path
                                                                          ) -> None:
    """A/A through ``ws.ab.run_test``: before, MAE's p-value was rounding (0.99999 here)."""
    from mlmkit.values import ABTestConfig

    ws = mlmkit.open(tmp_path / "ab.duckdb")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    rng = np.random.default_rng(5)
    for version in ("1.0.0", "1.1.0"):
        ws.registry.register(ModelMetadata("rg", "supervised", version, task="regression"))
        y = rng.normal(50.0, 10.0, 1000)
        ws.log.track_batch(pl.DataFrame({
            "model_name": "rg", "version": version, "actual": y,
            "prediction": y + 1.7e12 + rng.normal(0.0, 1.0, 1000),
            "timestamp": [start + timedelta(seconds=i) for i in range(1000)]}))
    with pytest.warns(UndefinedMetricWarning, match="dwarfs their spread"):
        res = ws.ab.run_test(ABTestConfig("rg", "1.0.0", "1.1.0", primary_metric="mae"),
                             n_resamples=200)
    assert math.isnan(res.tests["mae"].p_value)
    assert res.winner == "tie" and not res.should_deploy_version_b()
    ws.close()


def test_constant_errors_are_exact_points_not_lost_spreads(tmp_path: Path) -> None:
    """Errors all exactly 1.0: the sums alone cannot tell their spread of 0 from a lost one;
    the aggregate rows' smallest and largest error can (window, trend, segments, added sums)."""
    ws = mlmkit.open(tmp_path / "c.duckdb")
    ws.registry.register(ModelMetadata("rg", "supervised", "1.0.0", task="regression"))
    start = datetime(2026, 5, 1, tzinfo=UTC)
    y = np.random.default_rng(13).normal(100.0, 20.0, 600).round().clip(1.0)
    ws.log.track_batch(pl.DataFrame({
        "model_name": "rg", "version": "1.0.0", "actual": y, "prediction": y + 1.0,
        "region": ["a", "b", "c"] * 200,
        "timestamp": [start + timedelta(seconds=i) for i in range(600)]}))
    span = {"start": start, "end": start + timedelta(hours=1)}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        d = ws.monitor.get_current_metrics("rg", "1.0.0", **span).to_dict()
        trend = ws.monitor.get_performance_trend("rg", "1.0.0", None, "1h", **span)
        seg = ws.monitor.segment_metrics("rg", "1.0.0", **span, segment="region")
    assert (d["mae_low"], d["mae"], d["mae_high"]) == (1.0, 1.0, 1.0)
    assert (d["bias_low"], d["bias_high"], d["rmse_low"], d["rmse_high"]) == (1.0, 1.0, 1.0, 1.0)
    assert trend["mae_low"].to_list() == trend["mae_high"].to_list() == [1.0]
    assert seg["mae_low"].to_list() == seg["mae_high"].to_list() == [1.0, 1.0, 1.0]
    one = RegressionSums.from_rows(y[:300], y[:300] + 1.0)
    both = one + RegressionSums.from_rows(y[300:], y[300:] + 1.0)
    assert (both.lo, both.hi) == (1.0, 1.0)
    mixed = one + RegressionSums.from_rows(y[300:], y[300:] + 2.0)
    assert (mixed.lo, mixed.hi) == (1.0, 2.0)
    ws.close()


def test_constant_errors_labelled_late_relabelled_or_never_read_by_a_second_process(
        tmp_path: Path) -> None:
    """The errors' smallest and largest come from the per-day sums that labels keep: labels in
    two late batches (the second relabels rows: that day goes stale and is read from its rows),
    a fifth never labelled; the window is the whole day, read here and by a second process."""
    import subprocess
    import sys

    rng = np.random.default_rng(17)
    n, day = 3000, datetime(2026, 6, 1, tzinfo=UTC)
    y = rng.integers(50, 150, n).astype(float)
    ids = [f"r{i}" for i in range(n)]
    path = tmp_path / "late.duckdb"
    with mlmkit.open(path) as ws:
        ws.registry.register(ModelMetadata("rg", "supervised", "1.0.0", task="regression"))
        ws.log.track_batch(pl.DataFrame({
            "model_name": "rg", "version": "1.0.0", "prediction": y + 1.0, "prediction_id": ids,
            "timestamp": [day + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, n)]}))
        first = np.arange(n) % 5 < 2
        ws.log.record_actuals([ids[i] for i in np.flatnonzero(first)], y[first],
                              model_name="rg")
        with warnings.catch_warnings():
            warnings.simplefilter("error", UndefinedMetricWarning)
            d = ws.monitor.get_current_metrics("rg", "1.0.0", start=day,
                                               end=day + timedelta(days=1)).to_dict()
        assert (d["labelled_count"], d["mae_low"], d["mae_high"]) == (int(first.sum()), 1.0, 1.0)
        late = np.arange(n) % 5 < 4  # two more fifths; the first fifth relabelled (error 2)
        y2 = y.copy()
        y2[np.arange(n) % 5 == 0] -= 1.0
        ws.log.record_actuals([ids[i] for i in np.flatnonzero(late)], y2[late],
                              model_name="rg")
    e = np.abs((y + 1.0 - y2)[late])
    half = 1.959963984540054 * e.std(ddof=1) / math.sqrt(e.size)
    code = ("import mlmkit, sys; from datetime import datetime, timedelta, UTC\n"
            "d = datetime(2026, 6, 1, tzinfo=UTC)\n"
            "with mlmkit.open(sys.argv[1]) as ws:\n"
            "    m = ws.monitor.get_current_metrics('rg', '1.0.0', start=d, "
            "end=d + timedelta(days=1)).to_dict()\n"
            "    print(m['labelled_count'], repr(m['mae_low']), repr(m['mae_high']))\n")
    out = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code, str(path)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) == int(late.sum())
    assert float(out[1]) == pytest.approx(e.mean() - half, rel=1e-9)
    assert float(out[2]) == pytest.approx(e.mean() + half, rel=1e-9)


@pytest.mark.parametrize("sequential", [True, False])
def test_rollout_guardrail_on_arms_off_by_the_same_constant_never_breaches(
        sequential: bool) -> None:
    """A/A arms of MAE moments off by 1.7e12: no rollback on rounding (before: the sequential
    guardrail breached 42-46 % of them)."""
    from mlmkit.services.experiments.guardrails import AccuracyDrop, StepCounts

    guard = AccuracyDrop(sequential=sequential)
    breached = 0
    for seed in range(20):
        a, b = np.abs(_errors(1.7e12, 100 + 2 * seed)), np.abs(_errors(1.7e12, 101 + 2 * seed))
        counts = StepCounts("rg", "1.0.0", "1.1.0", 0.5, metric="mae", moments_a=_sums(a),
                            moments_b=_sums(b))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            breached += not guard.check(counts).passed
    assert breached == 0
