"""Direct loss estimation against realised MAE / RMSE on seeded heteroscedastic data.

The noise of the actual grows with ``|x1|`` and with category ``c``; the analysis chunks
shift ``x1`` by 0 .. 2 reference standard deviations, so the realised error grows by ~70 %.
Stated errors (4 seeds x 5 chunks of 5,000 rows, reference 20,000 rows,
`python -m pytest tests/analysis/test_estimation_regression.py`):

- |estimated / realised - 1| <= 0.06 for MAE and RMSE (measured max 0.049 MAE, 0.052 RMSE;
  the realised value itself moves by ~2 % of sampling noise at 5,000 rows);
- |estimated / expected - 1| <= 0.06 against the exact conditional expectation of the loss
  (folded normal), which removes the label noise (measured max 0.050 MAE, 0.039 RMSE);
- the estimate moves with the shift: the last chunk's estimate exceeds the first's by at least
  half the realised increase (a constant estimate fails).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm
from sklearn.metrics import mean_absolute_error, mean_squared_error

from mlmkit.analysis.estimation import DLE, estimate_regression_performance
from mlmkit.exceptions import StateError, ValidationError

SHIFTS = (0.0, 0.5, 1.0, 1.5, 2.0)


def _frame(rng: np.random.Generator, n: int, shift: float) -> pl.DataFrame:
    x1, x2 = rng.normal(shift, 1.0, n), rng.uniform(-1, 1, n)
    c = rng.choice(["a", "b", "c"], n)
    sd = 0.5 + np.abs(x1) + np.where(c == "c", 1.0, 0.0)
    mean = 2 * x1 - x2
    mu = 0.1 * x2  # error = prediction - actual ~ N(mu, sd)
    expected_abs = (sd * math.sqrt(2 / math.pi) * np.exp(-mu**2 / (2 * sd**2))
                    + mu * (1 - 2 * norm.cdf(-mu / sd)))
    return pl.DataFrame({"x1": x1, "x2": x2, "c": c, "prediction": mean + mu,
                         "actual": mean + rng.normal(0, sd), "expected_abs": expected_abs,
                         "expected_sq": sd**2 + mu**2})


def _run(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    dle = DLE(["x1", "x2", "c"]).fit(_frame(rng, 20_000, 0.0))
    chunks = pl.concat([_frame(rng, 5000, s).with_columns(chunk=pl.lit(i))
                        for i, s in enumerate(SHIFTS)])
    truth = chunks.group_by("chunk").agg(
        pl.col("expected_abs").mean().alias("expected_mae"),
        pl.col("expected_sq").mean().sqrt().alias("expected_rmse"))
    return dle.estimate(chunks, chunk="chunk").join(truth, on="chunk").sort("chunk")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_estimates_follow_the_realised_error_under_shift(seed: int) -> None:
    out = _run(seed)
    for metric in ("mae", "rmse"):
        est = out[metric].to_numpy()
        assert np.abs(est / out[f"realised_{metric}"].to_numpy() - 1).max() <= 0.06
        assert np.abs(est / out[f"expected_{metric}"].to_numpy() - 1).max() <= 0.06
        realised = out[f"realised_{metric}"].to_numpy()
        assert realised[-1] - realised[0] > 0.5  # the shift matters ...
        assert est[-1] - est[0] >= 0.5 * (realised[-1] - realised[0])  # ... and is seen
        assert (np.diff(est) > 0).all()


def test_realised_columns_are_sklearns_metrics() -> None:
    rng = np.random.default_rng(7)
    ref, new = _frame(rng, 3000, 0.0), _frame(rng, 800, 0.5).with_columns(
        day=pl.Series(np.arange(800) % 2))
    out = estimate_regression_performance(ref, new, features=["x1", "c"], chunk="day")
    for day, row in zip((0, 1), out.iter_rows(named=True), strict=True):
        part = new.filter(day=day)
        assert row["day"] == day and row["n"] == 400
        assert row["realised_mae"] == pytest.approx(
            mean_absolute_error(part["actual"], part["prediction"]), rel=1e-12)
        assert row["realised_rmse"] == pytest.approx(
            math.sqrt(mean_squared_error(part["actual"], part["prediction"])), rel=1e-12)


def test_sampling_error_is_nannymls() -> None:
    rng = np.random.default_rng(8)
    ref = _frame(rng, 4000, 0.0)
    dle = DLE(["x1"]).fit(ref)
    out = dle.estimate(_frame(rng, 900, 0.0).drop("actual"), confidence=0.95).row(0, named=True)
    error = (ref["prediction"] - ref["actual"]).to_numpy()
    assert out["mae_standard_error"] == pytest.approx(np.std(np.abs(error)) / 30, rel=1e-9)
    assert out["rmse_standard_error"] == pytest.approx(
        math.sqrt(np.std(error**2) ** 2 / (4 * 900 * np.mean(error**2))), rel=1e-9)
    assert out["mae_high"] - out["mae"] == pytest.approx(1.959964 * out["mae_standard_error"])
    assert "realised_mae" not in out
    assert dle.reference_mae == pytest.approx(np.mean(np.abs(error)))


def test_loss_is_learnt_from_the_prediction_alone_without_features() -> None:
    rng = np.random.default_rng(9)
    pred = rng.uniform(0, 10, 20_000)
    frame = pl.DataFrame({"prediction": pred, "actual": pred + rng.normal(0, 0.1 * pred)})
    dle = DLE().fit(frame)
    low = dle.predict_loss(pl.DataFrame({"prediction": [1.0]}))["absolute_error"][0]
    high = dle.predict_loss(pl.DataFrame({"prediction": [9.0]}))["absolute_error"][0]
    assert low == pytest.approx(0.1 * math.sqrt(2 / math.pi), abs=0.03)
    assert high == pytest.approx(0.9 * math.sqrt(2 / math.pi), abs=0.05)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: DLE("x1"), "features must be a sequence of column names"),
    (lambda: DLE(["prediction"]), "features must be columns other than"),
    (lambda: DLE(knots=1), "knots must be"),
    (lambda: DLE().fit(pl.DataFrame({"prediction": [1.0]})), "reference must be a frame with"),
    (lambda: DLE().fit({"prediction": [1.0]}), "reference must be a polars DataFrame"),
    (lambda: DLE().fit(pl.DataFrame({"prediction": [1.0, None] * 10, "actual": [1.0] * 20})),
     r"prediction \(row 1\) must be a value"),
    (lambda: DLE().fit(pl.DataFrame({"prediction": [1.0, math.inf] * 10,
                                     "actual": [1.0] * 20})),
     r"prediction \(row 1\) must be a finite number"),
    (lambda: DLE().fit(pl.DataFrame({"prediction": [1.0] * 5, "actual": [1.0] * 5})),
     "reference must be at least 12 rows"),
])
def test_bad_input_names_the_argument(call, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        call()


def test_unfitted_and_bad_chunk() -> None:
    with pytest.raises(StateError, match="not fitted"):
        DLE().estimate(pl.DataFrame({"prediction": [1.0]}))
    frame = pl.DataFrame({"prediction": np.arange(20.0), "actual": np.arange(20.0) + 1})
    with pytest.raises(ValidationError, match="chunk must be a column of analysis"):
        DLE().fit(frame).estimate(frame, chunk="day")
