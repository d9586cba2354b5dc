"""Window metrics of multiclass, regression and score-only models (frozen result types).

Each reads like [`WindowMetrics`][mlmkit.services.monitor.WindowMetrics]: ``result["name"]``
and `to_dict` give a flat dict (window facts, then metrics, then ``<metric>_low`` /
``<metric>_high``); ``sample_count``, ``labelled_count``, ``label_coverage``, ``insufficient``
and ``confidence_intervals`` have the same meaning. ``task`` names the model's task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import numpy as np
import polars as pl

from mlmkit._html import dict_table
from mlmkit.analysis.metrics import (
    MulticlassMetrics,
    OneVsRestAUC,
    RegressionMetrics,
    RegressionSums,
    ScoreSummary,
)
from mlmkit.analysis.metrics.intervals import Interval
from mlmkit.catalogue import Kind, select
from mlmkit.services.monitor.results import WindowMetrics

__all__ = ["AnyWindowMetrics", "MulticlassWindowMetrics", "RegressionWindowMetrics",
           "ScoreWindowMetrics"]

_NAN = math.nan
#: ``to_dict`` holds the dense matrix up to this many classes (10,000 numbers); the non-zero
#: cells (``confusion_cells``) always: a 20,000-class model's matrix is 4e8 numbers of JSON.
DICT_MATRIX_CLASSES = 100


@dataclass(frozen=True)
class _TaskWindow:
    """Facts shared by every task's window metrics."""

    model_name: str
    version: str
    start: datetime
    end: datetime
    sample_count: int
    labelled_count: int
    min_labels: int

    task = "binary"

    @property
    def label_coverage(self) -> float:
        """Share of predictions in the window that have ground truth (NaN when empty)."""
        return self.labelled_count / self.sample_count if self.sample_count else _NAN

    @property
    def insufficient(self) -> bool:
        """Whether fewer than ``min_labels`` labels back the metrics."""
        return self.labelled_count < self.min_labels

    @property
    def confidence_intervals(self) -> dict[str, Interval]:
        """Intervals per metric (empty without labels)."""
        return {}

    def _facts(self) -> dict[str, object]:
        return {"model_name": self.model_name, "version": self.version, "task": self.task,
                "start": self.start, "end": self.end, "sample_count": self.sample_count,
                "labelled_count": self.labelled_count, "label_coverage": self.label_coverage,
                "min_labels": self.min_labels, "insufficient": self.insufficient}

    def to_dict(self) -> dict[str, object]:
        """Flat dict: window facts, metrics, interval bounds."""
        out = self._facts()
        for name, ci in self.confidence_intervals.items():
            out[f"{name}_low"], out[f"{name}_high"] = ci.low, ci.high
        return out

    def __getitem__(self, key: str) -> object:
        return self.to_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def keys(self) -> list[str]:
        """Names readable with ``result[name]``."""
        return list(self.to_dict())

    def _repr_html_(self) -> str:
        data = {k: v for k, v in self.to_dict().items() if not isinstance(v, list | dict)}
        return dict_table(data, title=f"{self.model_name} {self.version} ({self.task})")


@dataclass(frozen=True)
class MulticlassWindowMetrics(_TaskWindow):
    """A multiclass model's window: confusion-matrix metrics and, with probabilities, more.

    ``metrics`` is the analysis-layer `MulticlassMetrics` of the labelled rows (``None``
    without labels): ``accuracy`` (Wilson interval), per-class and macro / micro / weighted
    precision, recall and F1 (scikit-learn's zero-division default: 0.0). ``log_loss`` and
    ``roc_auc`` (one-vs-rest from per-class histograms, within ``roc_auc.per_class
    ["error_bound"]``) rest on the labelled rows that logged probabilities
    (``probability_count``); ``None`` without them. Labels that are all integers in text
    (``"0"``, ``"12"``) come back as integers, sorted numerically.
    """

    metrics: MulticlassMetrics | None
    probability_count: int
    log_loss: float | None
    roc_auc: OneVsRestAUC | None

    task = "multiclass"

    @property
    def accuracy(self) -> float:
        """Accuracy of the labelled rows (NaN without labels)."""
        return _NAN if self.metrics is None else self.metrics.accuracy

    @property
    def labels(self) -> tuple[object, ...]:
        """Class labels, in matrix order."""
        return () if self.metrics is None else self.metrics.labels

    @property
    def confusion_matrix(self) -> np.ndarray[tuple[int, ...], np.dtype[np.int64]]:
        """KxK counts, rows actual, columns predicted (``labels`` order).

        Built on request, up to `DENSE_CELLS` cells (5,000 classes); beyond, an `MlmkitError`:
        ``confusion_cells`` has the non-zero cells at any number of classes.
        """
        return np.zeros((0, 0), np.int64) if self.metrics is None else self.metrics.matrix

    @property
    def confusion_cells(self) -> pl.DataFrame:
        """The non-zero cells: ``actual``, ``predicted``, ``count`` (row-major order)."""
        if self.metrics is None:
            return pl.DataFrame(schema={"actual": pl.String, "predicted": pl.String,
                                        "count": pl.Int64})
        return self.metrics.cells.frame()

    @property
    def per_class(self) -> pl.DataFrame:
        """One row per class: support, precision, recall, F1 with Wilson bounds (and AUC)."""
        if self.metrics is None:
            return pl.DataFrame()
        frame = self.metrics.per_class
        if self.roc_auc is not None:
            auc = self.roc_auc.per_class.select("roc_auc", "error_bound").rename(
                {"error_bound": "roc_auc_error_bound"})
            if auc.height == frame.height:
                frame = frame.hstack(auc)
        return frame

    @property
    def confidence_intervals(self) -> dict[str, Interval]:
        """``accuracy``'s Wilson interval (empty without labels)."""
        return {} if self.metrics is None else {"accuracy": self.metrics.accuracy_interval}

    def to_dict(self) -> dict[str, object]:
        """Facts, ``accuracy`` and the averages, log loss, one-vs-rest AUCs, the matrix.

        ``confusion_matrix``: the K x K list up to `DICT_MATRIX_CLASSES` classes, else
        ``None``; ``confusion_cells``: the non-zero ``[actual, predicted, count]`` always.
        """
        out = self._facts()
        if self.metrics is None:
            out.update({"accuracy": _NAN, "n": 0})
        else:
            out.update(self.metrics.to_dict())
        out["probability_count"] = self.probability_count
        out["log_loss"] = self.log_loss
        auc = self.roc_auc
        out.update({"roc_auc_ovr": None if auc is None else auc.macro,
                    "roc_auc_ovr_weighted": None if auc is None else auc.weighted,
                    "roc_auc_ovr_micro": None if auc is None else auc.micro,
                    "roc_auc_ovr_error_bound": None if auc is None else
                    float(auc.per_class["error_bound"].fill_nan(0.0).max() or 0.0)})  # type: ignore[arg-type]
        for name, ci in self.confidence_intervals.items():
            out[f"{name}_low"], out[f"{name}_high"] = ci.low, ci.high
        out["labels"] = list(self.labels)
        small = len(self.labels) <= DICT_MATRIX_CLASSES
        out["confusion_matrix"] = self.confusion_matrix.tolist() if small else None
        out["confusion_cells"] = self.confusion_cells.rows()
        return out


@dataclass(frozen=True)
class RegressionWindowMetrics(_TaskWindow):
    """A regression model's window: MAE, RMSE, MAPE, R², bias and residual quantiles.

    ``metrics`` is the analysis-layer `RegressionMetrics` of the labelled rows (``None``
    without labels); ``error = prediction - actual``. MAPE is undefined at a zero actual:
    those rows are left out of it and counted in ``mape_excluded`` (``mape`` is NaN when
    every actual is 0). ``residual_quantiles`` has ``quantile, value, low, high``: each exact
    sample quantile lies in ``[low, high]`` (one bin of the residual histogram).
    """

    metrics: RegressionMetrics | None
    sums: RegressionSums | None
    residual_quantiles: pl.DataFrame

    task = "regression"

    def _get(self, name: str) -> float:
        return _NAN if self.metrics is None else float(getattr(self.metrics, name))

    @property
    def mae(self) -> float:
        """Mean absolute error."""
        return self._get("mae")

    @property
    def rmse(self) -> float:
        """Root mean squared error."""
        return self._get("rmse")

    @property
    def mape(self) -> float:
        """Mean absolute percentage error (a fraction) over non-zero actuals."""
        return self._get("mape")

    @property
    def r2(self) -> float:
        """Coefficient of determination (NaN for constant actuals)."""
        return self._get("r2")

    @property
    def bias(self) -> float:
        """Mean error (positive: the model over-predicts)."""
        return self._get("bias")

    @property
    def mape_excluded(self) -> int:
        """Labelled rows with a zero actual, left out of MAPE."""
        return 0 if self.metrics is None else self.metrics.mape_excluded

    @property
    def confidence_intervals(self) -> dict[str, Interval]:
        """Normal intervals of ``mae``, ``rmse``, ``mape`` and ``bias``."""
        m = self.metrics
        if m is None:
            return {}
        return {"mae": m.mae_interval, "rmse": m.rmse_interval, "mape": m.mape_interval,
                "bias": m.bias_interval}

    def to_dict(self) -> dict[str, object]:
        """Facts, the metrics with their bounds, ``mape_excluded`` and ``residual_q<pct>``."""
        out = self._facts()
        if self.metrics is None:
            out.update({k: _NAN for k in (*select(kind=Kind.REGRESSION), "bias")})
            out.update({"n": 0, "mape_excluded": 0})
        else:
            out.update(self.metrics.to_dict())
        if self.mape_excluded:
            out["mape_note"] = (f"MAPE is undefined at a zero actual: {self.mape_excluded} "
                                "row(s) left out")
        for q, value in self.residual_quantiles.select("quantile", "value").iter_rows():
            out[f"residual_q{100 * q:g}"] = value
        return out


@dataclass(frozen=True)
class ScoreWindowMetrics(_TaskWindow):
    """A score-only model's window: score distribution and flag rate.

    ``summary`` is the analysis-layer `ScoreSummary` (exact count, mean and standard
    deviation; quantiles bracketed by one histogram bin), ``None`` without scores.
    ``flag_rate`` is the share of rows with a flag that are flagged (Wilson interval);
    ``labelled_count`` counts rows with a confirmed / refuted label (``confirmed`` true).
    ``insufficient`` is true below ``min_labels`` scored rows (scores need no labels).
    ``histogram`` holds ``bin, n, lo, hi`` of the scores (drift against another window).
    """

    summary: ScoreSummary | None
    scored_count: int
    flagged: int
    flag_count: int
    confirmed: int
    flag_rate_interval: Interval | None
    histogram: pl.DataFrame

    task = "score-only"

    @property
    def insufficient(self) -> bool:
        """Whether fewer than ``min_labels`` scored rows back the distribution."""
        return self.scored_count < self.min_labels

    @property
    def flag_rate(self) -> float:
        """Flagged share of the rows that carry a flag (NaN without flags)."""
        return _NAN if self.flag_rate_interval is None else self.flag_rate_interval.estimate

    @property
    def confidence_intervals(self) -> dict[str, Interval]:
        """The flag rate's Wilson interval."""
        return {} if self.flag_rate_interval is None else {"flag_rate": self.flag_rate_interval}

    def to_dict(self) -> dict[str, object]:
        """Facts, ``score_<stat>`` of the distribution, the flag rate and its bounds.

        The mean and standard deviation are also ``mean_score`` / ``std_score`` (absent
        without scores, as ``score_mean``), the names of the catalogue, the binary window,
        the segment rows and the trend; ``score_mean`` / ``score_std`` stay for the callers
        that read them.
        """
        out = self._facts()
        out.update({"scored_count": self.scored_count, "flagged": self.flagged,
                    "flag_count": self.flag_count, "confirmed": self.confirmed,
                    "flag_rate": self.flag_rate})
        stats = {} if self.summary is None else self.summary.to_dict()
        stats.pop("n", None)
        out.update({f"score_{k}": v for k, v in stats.items()})
        if stats:
            out.update({"mean_score": stats["mean"], "std_score": stats["std"]})
        for name, ci in self.confidence_intervals.items():
            out[f"{name}_low"], out[f"{name}_high"] = ci.low, ci.high
        return out


AnyWindowMetrics: TypeAlias = (WindowMetrics | MulticlassWindowMetrics | RegressionWindowMetrics
                               | ScoreWindowMetrics)
"""What ``get_current_metrics`` returns, by the model's task."""
