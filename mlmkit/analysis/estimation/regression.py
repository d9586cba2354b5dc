"""Regression performance without labels: direct loss estimation (NannyML's DLE).

On a labelled reference window, a second model learns each row's loss from the model inputs
and its prediction: one for the absolute error ``|prediction - actual|`` and one for the
squared error. On an unlabelled window the estimated MAE of a chunk is the mean of the
predicted absolute errors, the estimated RMSE the square root of the mean predicted squared
error (predicted losses clipped at 0, as NannyML does).

The loss model. NannyML fits LightGBM; mlmkit keeps its dependencies to numpy and fits an
additive model (a generalised additive model without the link): per numeric column a
piecewise-linear spline with knots at ``knots`` reference quantiles, values outside the
reference range clamped to it (a tree's extrapolation), per categorical column (string,
categorical, enum, boolean) one indicator per reference category, solved as one ridge
regression (penalty ``alpha`` times the mean diagonal of the normal matrix, on every
coefficient but the intercept). It captures errors whose size depends on one input at a
time (heteroscedastic noise, a region where the model is worse); it misses interactions
between two inputs, which LightGBM would catch. The tests state its error.

Confidence band. The sampling error is NannyML's: the standard deviation of the realised
loss on the reference over ``sqrt(n)`` of the chunk for MAE, and
``sqrt(var(e²) / (4 n mean(e²)))`` for RMSE (delta method); the band is the normal interval
of ``confidence``, lower end clipped at 0. It describes label noise in a chunk of ``n`` rows,
not the error of the loss model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm

from mlmkit._validation import check_int, check_probability, check_real, invalid
from mlmkit.catalogue import Kind, select, spec
from mlmkit.exceptions import StateError

__all__ = ["DLE", "estimate_regression_performance"]

_CATEGORICAL = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)
#: The per-row losses the loss models learn (the columns of ``DLE.predict_loss``).
_LOSSES = ("absolute_error", "squared_error")
#: The metrics estimated: the catalogue's regression metrics with one of those losses (MAE, RMSE).
_ESTIMATED = tuple(m for m in select(kind=Kind.REGRESSION) if spec(m).loss in _LOSSES)


class _Column:
    """The basis of one input: spline hats on clamped values, or category indicators."""

    def __init__(self, name: str, values: pl.Series, knots: int) -> None:
        self.name = name
        self.categorical = isinstance(values.dtype, _CATEGORICAL)
        if self.categorical:
            self.levels = sorted(values.cast(pl.Utf8).unique().to_list(), key=str)
            self.knots = np.zeros(0)
        else:
            x = _numeric(name, values)
            self.levels = []
            self.knots = np.unique(np.quantile(x, np.linspace(0.0, 1.0, knots)))

    @property
    def width(self) -> int:
        return len(self.levels) if self.categorical else max(1, self.knots.shape[0])

    def basis(self, values: pl.Series) -> np.ndarray:
        if self.categorical:
            text = np.asarray(values.cast(pl.Utf8).to_list(), dtype=object)
            return np.column_stack([text == level for level in self.levels]).astype(float)
        x = _numeric(self.name, values)
        if self.knots.shape[0] < 2:
            return np.zeros((x.shape[0], 1))
        x = np.clip(x, self.knots[0], self.knots[-1])
        eye = np.eye(self.knots.shape[0])
        return np.column_stack([np.interp(x, self.knots, eye[i])
                                for i in range(self.knots.shape[0])])


def _numeric(name: str, values: pl.Series) -> np.ndarray:
    if not values.dtype.is_numeric():
        raise invalid(name, "a numeric, string, categorical or boolean column", values.dtype)
    x = values.cast(pl.Float64).to_numpy()
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise invalid(f"{name} (row {row})", "a finite number", x[row])
    return x


class DLE:
    """Direct loss estimation: learn the loss on a labelled reference, estimate it without.

    Parameters
    ----------
    features : sequence of str, default ()
        Input columns the loss may depend on (numeric or categorical); the prediction column
        is always used.
    prediction : str, default "prediction"
        Column of the model's prediction.
    actual : str, default "actual"
        Column of the actual value (reference only).
    knots : int, default 12
        Spline knots per numeric column (reference quantiles).
    alpha : float, default 1e-4
        Ridge penalty, relative to the mean diagonal of the normal matrix.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> rng = np.random.default_rng(0)
    >>> def frame(n, shift):
    ...     x = rng.normal(shift, 1.0, n)
    ...     return pl.DataFrame({"x": x, "prediction": 2 * x,
    ...                          "actual": 2 * x + rng.normal(0, 0.5 + np.abs(x))})
    >>> dle = DLE(["x"]).fit(frame(20000, 0.0))
    >>> shifted = frame(5000, 1.5)
    >>> est = dle.estimate(shifted.drop("actual")).row(0, named=True)
    >>> realised = float(np.abs(shifted["prediction"] - shifted["actual"]).mean())
    >>> round(est["mae"], 2), round(realised, 2), round(dle.reference_mae, 2)
    (1.66, 1.65, 1.04)
    """

    def __init__(self, features: Sequence[str] = (), *, prediction: str = "prediction",
                 actual: str = "actual", knots: int = 12, alpha: float = 1e-4) -> None:
        if isinstance(features, str):
            raise invalid("features", "a sequence of column names", features)
        self._features = [str(f) for f in features]
        if prediction in self._features or actual in self._features:
            raise invalid("features", f"columns other than {prediction!r} and {actual!r}",
                          self._features)
        self._prediction, self._actual = prediction, actual
        self._knots = check_int("knots", knots, low=2)
        self._alpha = check_real("alpha", alpha, low=0.0)
        self._columns: list[_Column] = []
        self._coef: dict[str, np.ndarray] = {}
        self._reference: dict[str, float] = {}

    @property
    def reference_mae(self) -> float:
        """Realised MAE of the reference window."""
        return self._fitted()["mae"]

    @property
    def reference_rmse(self) -> float:
        """Realised RMSE of the reference window."""
        return self._fitted()["rmse"]

    def _fitted(self) -> dict[str, float]:
        if not self._coef:
            raise StateError("DLE is not fitted; call fit(reference)")
        return self._reference

    def _frame(self, name: str, frame: Any, columns: list[str]) -> pl.DataFrame:
        if not isinstance(frame, pl.DataFrame):
            raise invalid(name, "a polars DataFrame", type(frame).__name__)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise invalid(name, f"a frame with columns {columns} (missing {missing})",
                          frame.columns)
        for column in columns:
            nulls = frame[column].is_null()
            if nulls.any():
                row = int(nulls.arg_true()[0])
                raise invalid(f"{column} (row {row})", "a value (not null)", None)
        return frame

    def _design(self, frame: pl.DataFrame) -> np.ndarray:
        parts = [np.ones((frame.height, 1))]
        parts += [c.basis(frame[c.name]) for c in self._columns]
        return np.hstack(parts)

    def fit(self, reference: pl.DataFrame) -> DLE:
        """Fit the two loss models on a labelled reference frame.

        Parameters
        ----------
        reference : polars.DataFrame
            The ``features``, ``prediction`` and ``actual`` columns, no nulls, at least
            ``knots`` rows.

        Returns
        -------
        DLE
            ``self``.
        """
        inputs = [*self._features, self._prediction]
        reference = self._frame("reference", reference, [*inputs, self._actual])
        if reference.height < self._knots:
            raise invalid("reference", f"at least {self._knots} rows (knots)", reference.height)
        error = (_numeric(self._prediction, reference[self._prediction])
                 - _numeric(self._actual, reference[self._actual]))
        self._columns = [_Column(name, reference[name], self._knots) for name in inputs]
        x = self._design(reference)
        gram = x.T @ x
        penalty = self._alpha * float(np.trace(gram)) / gram.shape[0] * np.eye(gram.shape[0])
        penalty[0, 0] = 0.0
        penalty += 1e-10 * np.eye(gram.shape[0])  # the hats of a column sum to the intercept
        targets = {"abs": np.abs(error), "sq": error**2}
        self._coef = {key: np.linalg.solve(gram + penalty, x.T @ y)
                      for key, y in targets.items()}
        sq = targets["sq"]
        self._reference = {
            "mae": float(targets["abs"].mean()), "rmse": math.sqrt(float(sq.mean())),
            "abs_std": float(targets["abs"].std()), "sq_std": float(sq.std()),
            "sq_mean": float(sq.mean())}
        return self

    def predict_loss(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Predicted ``absolute_error`` and ``squared_error`` of each row (clipped at 0)."""
        self._fitted()
        frame = self._frame("frame", frame, [*self._features, self._prediction])
        x = self._design(frame)
        return pl.DataFrame({"absolute_error": np.maximum(x @ self._coef["abs"], 0.0),
                             "squared_error": np.maximum(x @ self._coef["sq"], 0.0)})

    def estimate(self, analysis: pl.DataFrame, *, chunk: str | None = None,
                 confidence: float = 0.95) -> pl.DataFrame:
        """Estimated MAE and RMSE per chunk of an unlabelled frame, with a sampling band.

        Parameters
        ----------
        analysis : polars.DataFrame
            The ``features`` and ``prediction`` columns; if it also holds ``actual`` (with no
            nulls), the realised MAE and RMSE are added for comparison.
        chunk : str, optional
            Column whose values define the chunks (one output row each, in sorted order);
            default one chunk.
        confidence : float, default 0.95
            Coverage of the band.

        Returns
        -------
        polars.DataFrame
            ``[chunk], n, mae, mae_standard_error, mae_low, mae_high, rmse,
            rmse_standard_error, rmse_low, rmse_high`` and, with actuals,
            ``realised_mae, realised_rmse``.
        """
        ref = self._fitted()
        confidence = check_probability("confidence", confidence, open_interval=True)
        losses = self.predict_loss(analysis)
        if chunk is not None and chunk not in analysis.columns:
            raise invalid("chunk", f"a column of analysis {analysis.columns}", chunk)
        data = losses if chunk is None else analysis.select(chunk).hstack(losses)
        realised = self._actual in analysis.columns and not analysis[self._actual].is_null().any()
        if realised:
            error = (analysis[self._prediction].cast(pl.Float64)
                     - analysis[self._actual].cast(pl.Float64))
            data = data.with_columns(error.abs().alias("_abs"), (error * error).alias("_sq"))
        aggregates = [pl.len().alias("n"), pl.col("absolute_error").mean().alias("mae"),
                      pl.col("squared_error").mean().sqrt().alias("rmse")]
        if realised:
            aggregates += [pl.col("_abs").mean().alias("realised_mae"),
                           pl.col("_sq").mean().sqrt().alias("realised_rmse")]
        out = (data.select(aggregates) if chunk is None
               else data.group_by(chunk).agg(aggregates).sort(chunk))
        z = float(norm.isf((1.0 - confidence) / 2.0))
        n = pl.col("n").cast(pl.Float64)
        se_sq = ref["sq_std"] / (2.0 * math.sqrt(ref["sq_mean"])) if ref["sq_mean"] > 0 else 0.0
        out = out.with_columns((ref["abs_std"] / n.sqrt()).alias("mae_standard_error"),
                               (se_sq / n.sqrt()).alias("rmse_standard_error"))
        bands = []
        for metric in _ESTIMATED:
            se = pl.col(f"{metric}_standard_error")
            bands += [(pl.col(metric) - z * se).clip(lower_bound=0.0).alias(f"{metric}_low"),
                      (pl.col(metric) + z * se).alias(f"{metric}_high")]
        order = [*([] if chunk is None else [chunk]), "n"]
        for metric in _ESTIMATED:
            order += [metric, f"{metric}_standard_error", f"{metric}_low", f"{metric}_high"]
        order += ["realised_mae", "realised_rmse"] if realised else []
        return out.with_columns(bands).select(order)


def estimate_regression_performance(
    reference: pl.DataFrame,
    analysis: pl.DataFrame,
    *,
    features: Sequence[str] = (),
    prediction: str = "prediction",
    actual: str = "actual",
    chunk: str | None = None,
    knots: int = 12,
    alpha: float = 1e-4,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Fit `DLE` on ``reference`` and estimate MAE / RMSE per chunk of ``analysis``.

    Arguments and result as [`DLE`][mlmkit.analysis.estimation.DLE] and
    [`DLE.estimate`][mlmkit.analysis.estimation.DLE.estimate].

    Examples
    --------
    >>> import polars as pl
    >>> ref = pl.DataFrame({"x": [0.0, 1, 2, 3] * 50, "prediction": [0.0] * 200,
    ...                     "actual": [0.0, 1, 2, 3] * 50})  # |error| = x
    >>> new = pl.DataFrame({"x": [3.0, 3.0, 2.0, 0.0], "prediction": [0.0] * 4,
    ...                     "day": [1, 1, 2, 2]})
    >>> out = estimate_regression_performance(ref, new, features=["x"], chunk="day", knots=4)
    >>> [round(v, 3) for v in out["mae"]], out["n"].to_list()
    ([3.0, 1.0], [2, 2])
    """
    return DLE(features, prediction=prediction, actual=actual, knots=knots, alpha=alpha).fit(
        reference).estimate(analysis, chunk=chunk, confidence=confidence)
