"""Regression metrics from sufficient statistics against scikit-learn, numpy and scipy."""

from __future__ import annotations

import math
import warnings
from functools import cache
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy.stats import norm
from sklearn import metrics as skm
from sklearn.datasets import load_diabetes, make_regression
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import train_test_split

from mlmkit.analysis.metrics import (
    RegressionSums,
    UndefinedMetricWarning,
    regression_metrics,
    residual_quantiles,
)
from mlmkit.exceptions import ValidationError

TOL = 1e-9


@cache
def fitted(dataset: str, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Held-out actuals and predictions of a fitted model (seeded synthetic data is shifted
    away from 0 so that MAPE is defined)."""
    if dataset == "diabetes":
        x, y = load_diabetes(return_X_y=True)
    else:
        x, y = make_regression(n_samples=2000, n_features=8, noise=15.0, random_state=7)
        y = y + 500.0
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0)
    est = LinearRegression() if model == "linear" else Ridge(alpha=1.0)
    return y_test, est.fit(x_train, y_train).predict(x_test)


def sql_sums() -> list[pl.Expr]:
    """The aggregate a database runs (here polars), one row per group."""
    e = pl.col("predicted") - pl.col("actual")
    nonzero = pl.col("actual") != 0
    ape = (e.abs() / pl.col("actual").abs()).filter(nonzero)
    return [
        pl.len().alias("n"), e.sum().alias("sum_error"), e.abs().sum().alias("sum_abs_error"),
        (e * e).sum().alias("sum_squared_error"), pl.col("actual").sum().alias("sum_actual"),
        (pl.col("actual") ** 2).sum().alias("sum_squared_actual"),
        ape.sum().alias("sum_abs_percentage_error"),
        (~nonzero).sum().alias("zero_actuals"),
        (ape * ape).sum().alias("sum_squared_abs_percentage_error"),
        (e**4).sum().alias("sum_fourth_error"),
    ]


CASES = [(d, m) for d in ("diabetes", "synthetic") for m in ("linear", "ridge")]


@pytest.mark.parametrize(("dataset", "model"), CASES)
def test_metrics_from_sums_equal_scikit_learn(dataset: str, model: str) -> None:
    y, p = fitted(dataset, model)
    row = pl.DataFrame({"actual": y, "predicted": p}).select(sql_sums()).row(0, named=True)
    m = regression_metrics(RegressionSums(**row))
    assert m.mae == pytest.approx(skm.mean_absolute_error(y, p), abs=TOL)
    assert m.rmse == pytest.approx(skm.root_mean_squared_error(y, p), abs=TOL)
    assert m.rmse == pytest.approx(math.sqrt(skm.mean_squared_error(y, p)), abs=TOL)
    assert m.mape == pytest.approx(skm.mean_absolute_percentage_error(y, p), abs=TOL)
    assert m.r2 == pytest.approx(skm.r2_score(y, p), abs=TOL)
    assert m.bias == pytest.approx(float(np.mean(p - y)), abs=TOL)
    assert m.mape_excluded == 0
    from_rows = regression_metrics(RegressionSums.from_rows(y, p)).to_dict()
    for key, value in m.to_dict().items():
        assert from_rows[key] == pytest.approx(value, abs=TOL), key


@pytest.mark.parametrize(("dataset", "model"), CASES)
def test_mae_bias_and_mape_intervals_are_normal_intervals_of_row_means(dataset: str,
                                                                       model: str) -> None:
    y, p = fitted(dataset, model)
    m = regression_metrics(RegressionSums.from_rows(y, p), confidence=0.9)
    e = p - y
    for interval, values in ((m.mae_interval, np.abs(e)), (m.bias_interval, e),
                             (m.mape_interval, np.abs(e) / np.abs(y))):
        sem = np.std(values, ddof=1) / math.sqrt(values.size)
        low, high = norm.interval(0.9, loc=values.mean(), scale=sem)
        assert (interval.low, interval.high) == pytest.approx((low, high), abs=TOL)
    mse = e * e
    low, high = norm.interval(0.9, loc=mse.mean(), scale=np.std(mse, ddof=1) / math.sqrt(e.size))
    assert (m.rmse_interval.low, m.rmse_interval.high) == pytest.approx(
        (math.sqrt(low), math.sqrt(high)), abs=TOL)


def test_mae_interval_covers_at_its_nominal_rate() -> None:
    rng = np.random.default_rng(11)
    sims, n = 2000, 200
    e = rng.standard_t(5, size=(sims, n))  # heavy-ish tails; true MAE from a large sample
    true_mae = float(np.mean(np.abs(rng.standard_t(5, size=4_000_000))))
    hits = 0
    actual = rng.normal(100.0, 5.0, n)
    for row in e:
        ci = regression_metrics(RegressionSums.from_rows(actual, actual + row)).mae_interval
        hits += ci.low <= true_mae <= ci.high
    se = math.sqrt(0.95 * 0.05 / sims)
    assert abs(hits / sims - 0.95) <= 3 * se + 0.005  # 0.005: the true MAE's own error


def test_zero_actuals_are_left_out_of_mape_and_counted() -> None:
    y, p = fitted("diabetes", "ridge")
    y, p = np.concatenate([y, [0.0, 0.0]]), np.concatenate([p, [3.0, 0.0]])
    with pytest.warns(UndefinedMetricWarning, match=r"mape undefined at 2 zero actual"):
        m = regression_metrics(RegressionSums.from_rows(y, p))
    kept = y != 0
    assert m.mape_excluded == 2
    assert m.mape == pytest.approx(skm.mean_absolute_percentage_error(y[kept], p[kept]),
                                   abs=TOL)
    assert skm.mean_absolute_percentage_error(y, p) > 1e10  # scikit-learn divides by eps
    assert m.mae == pytest.approx(skm.mean_absolute_error(y, p), abs=TOL)  # others keep all
    with pytest.warns(UndefinedMetricWarning):
        only_zeros = regression_metrics(RegressionSums.from_rows([0.0, 0.0], [1.0, 2.0]))
    assert math.isnan(only_zeros.mape) and only_zeros.mape_excluded == 2


def test_constant_actuals_make_r2_nan_and_no_rows_make_everything_nan() -> None:
    with pytest.warns(UndefinedMetricWarning, match="r2"):
        m = regression_metrics(RegressionSums.from_rows([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]))
    assert math.isnan(m.r2)
    with pytest.warns(UndefinedMetricWarning, match="no labelled rows"):
        empty = regression_metrics(RegressionSums.from_rows([], []))
    assert all(math.isnan(empty[k]) for k in ("mae", "rmse", "mape", "r2", "bias"))


def test_segment_sums_equal_filtering_first_and_sums_add() -> None:
    y, p = fitted("synthetic", "linear")
    segment = np.where(np.arange(y.size) % 3 == 0, "eu", "us")
    frame = pl.DataFrame({"actual": y, "predicted": p, "segment": segment})
    grouped = frame.group_by("segment").agg(sql_sums()).sort("segment")
    parts = {}
    for row in grouped.iter_rows(named=True):
        name = row.pop("segment")
        parts[name] = RegressionSums(**row)
        alone = RegressionSums.from_rows(y[segment == name], p[segment == name])
        for key, value in regression_metrics(alone).to_dict().items():
            assert regression_metrics(parts[name]).to_dict()[key] == pytest.approx(value, abs=TOL)
    whole = regression_metrics(parts["eu"] + parts["us"])
    assert whole.rmse == pytest.approx(skm.root_mean_squared_error(y, p), abs=TOL)
    assert whole.r2 == pytest.approx(skm.r2_score(y, p), abs=TOL)


@settings(max_examples=80, deadline=None)
@given(values=hs.lists(hs.floats(-1e3, 1e3), min_size=1, max_size=300),
       bins=hs.integers(1, 60), q=hs.floats(0.0, 1.0))
def test_residual_quantiles_bracket_the_exact_quantile(values: list[float], bins: int,
                                                       q: float) -> None:
    e = np.asarray(values)
    lo, hi = float(e.min()), float(e.max())
    if hi - lo < 1e-9:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    index = np.minimum(((e - lo) / (hi - lo) * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    row = residual_quantiles(edges, counts, [q]).row(0, named=True)
    exact = float(np.quantile(e, q))
    slack = 1e-9 * max(1.0, abs(lo), abs(hi))
    assert row["low"] - slack <= exact <= row["high"] + slack
    assert row["low"] - slack <= row["value"] <= row["high"] + slack


def test_fine_residual_bins_are_within_one_bin_of_numpy() -> None:
    y, p = fitted("diabetes", "linear")
    e = p - y
    edges = np.linspace(e.min(), e.max(), 1001)
    counts = np.histogram(e, edges)[0]
    frame = residual_quantiles(edges, counts)
    width = edges[1] - edges[0]
    exact = np.quantile(e, frame["quantile"].to_numpy())
    assert np.all(np.abs(frame["value"].to_numpy() - exact) <= 2 * width)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: RegressionSums(2, 0.0, -1.0, 1.0, 0.0, 1.0, 0.0, 0), r"sum_abs_error must be"),
    (lambda: RegressionSums(2, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 3), r"zero_actuals must be"),
    (lambda: RegressionSums.from_rows([1.0, 2.0], [1.0]), r"predicted must have the same"),
    (lambda: RegressionSums.from_rows([1.0, float("nan")], [1.0, 2.0]),
     r"actual must be finite numbers; got nan"),
    (lambda: regression_metrics({"n": 1}), r"sums must be a RegressionSums"),
    (lambda: residual_quantiles([0.0, 1.0], [1, 2]), r"edges must be 3 increasing"),
    (lambda: residual_quantiles([0.0, 1.0, 2.0], [1, 2], [1.5]), r"quantiles must be"),
])
def test_bad_input_names_the_argument(call: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            call()
