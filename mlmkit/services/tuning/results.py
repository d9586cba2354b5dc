"""Result types of `mlmkit.services.tuning` (frozen; dict-style access like the seed)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import TypeAlias

import polars as pl

from mlmkit._html import dict_table

__all__ = ["AdaptiveAdjustment", "CostOptimization", "HyperparameterSearch",
           "ThresholdOptimization", "TradeoffOptimization", "TuningResult"]

_FRAMES = ("curve", "results")


class _Result(Mapping[str, object]):
    """Mapping over the scalar fields: ``result["optimal_threshold"]`` works as in the seed."""

    def to_dict(self) -> dict[str, object]:
        """Return the fields as a dict (frames such as ``curve`` left out)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)  # type: ignore[arg-type]
                if f.name not in _FRAMES}

    def __getitem__(self, key: str) -> object:
        if key in self.to_dict():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def _repr_html_(self) -> str:
        return dict_table(self.to_dict(), title=type(self).__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class ThresholdOptimization(_Result):
    """The threshold optimising a metric, compared with the threshold in use.

    Attributes
    ----------
    model_name, version : str
        The model version whose logged predictions were used.
    metric : str
        The optimised metric.
    optimal_threshold, current_threshold : float
        The best candidate and the version's ``configuration["threshold"]`` (default 0.5).
    optimal_value, current_value : float
        The metric at each threshold.
    improvement_percent : float
        ``(optimal_value - current_value) / |current_value| * 100``.
    improvement_interval : (float, float)
        Bootstrap interval of ``improvement_percent`` (paired, seeded).
    probability_better : float
        Share of bootstrap resamples in which the optimum beats the current threshold.
    labelled_count, positive_count : int
        Labelled, scored predictions the result rests on, and the positives among them.
    recommended : bool
        Whether switching is advised.
    recommendation : str
        Why (or why not): too few labels, improvement inside noise, below the minimum.
    mode : str
        ``"grid"`` (``step`` given) or ``"exact"`` (every distinct score).
    curve : polars.DataFrame
        The evaluated candidates with their confusion counts and metrics.
    run_id : str
        The ``tuning_runs`` row of this call.
    """

    model_name: str
    version: str
    metric: str
    optimal_threshold: float
    current_threshold: float
    optimal_value: float
    current_value: float
    improvement_percent: float
    improvement_interval: tuple[float, float]
    probability_better: float
    labelled_count: int
    positive_count: int
    recommended: bool
    recommendation: str
    mode: str
    run_id: str
    curve: pl.DataFrame = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, eq=False)
class TradeoffOptimization(_Result):
    """The threshold meeting a precision (or recall) target with the best other rate.

    ``target`` is ``"precision"`` (highest recall with precision >= ``target_value``) or
    ``"recall"`` (highest precision with recall >= ``target_value``). When no candidate meets
    the target, ``feasible`` is False, ``threshold`` NaN and ``reason`` says the best reachable.
    """

    model_name: str
    version: str
    target: str
    target_value: float
    threshold: float
    achieved_precision: float
    achieved_recall: float
    f1_score: float
    feasible: bool
    reason: str
    current_threshold: float
    labelled_count: int
    run_id: str
    improvement_percent: float = math.nan
    curve: pl.DataFrame = dataclasses.field(default_factory=pl.DataFrame, repr=False)

    @property
    def optimal_threshold(self) -> float:
        """Alias of ``threshold`` (what `AutoTuningEngine.apply` installs)."""
        return self.threshold


@dataclasses.dataclass(frozen=True, eq=False)
class CostOptimization(_Result):
    """The threshold minimising the expected cost per prediction (performance-cost trade-off).

    ``expected_cost`` / ``current_cost`` are ``(c_fp * fp + c_fn * fn) / n`` at the optimal /
    current threshold; ``improvement_percent`` is the relative cost reduction. ``precision``,
    ``recall`` and ``f1_score`` describe the performance given up (or gained) at the optimum.
    """

    model_name: str
    version: str
    cost_false_positive: float
    cost_false_negative: float
    optimal_threshold: float
    current_threshold: float
    expected_cost: float
    current_cost: float
    improvement_percent: float
    improvement_interval: tuple[float, float]
    precision: float
    recall: float
    f1_score: float
    current_f1_score: float
    labelled_count: int
    recommended: bool
    recommendation: str
    run_id: str
    curve: pl.DataFrame = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, eq=False)
class AdaptiveAdjustment(_Result):
    """One run of the adaptive threshold controller (see ``adaptive_threshold_adjustment``).

    ``recommended_threshold == current_threshold`` when the controller holds.
    """

    model_name: str
    version: str
    current_threshold: float
    recommended_threshold: float
    direction: str
    previous_direction: str
    fp_rate: float
    fn_rate: float
    false_positives: int
    false_negatives: int
    labelled_count: int
    imbalance: float
    balance_threshold: float
    reason: str
    run_id: str

    @property
    def optimal_threshold(self) -> float:
        """Alias of ``recommended_threshold`` (what ``apply`` installs)."""
        return self.recommended_threshold


@dataclasses.dataclass(frozen=True, eq=False)
class HyperparameterSearch(_Result):
    """Every trial of a grid search, and the best parameters.

    ``results`` has one row per trial: ``trial``, one column per parameter, the metric column
    and ``error`` (the exception text of a failed trial, else null). ``baseline_value`` is the
    metric of the version's current configuration when every searched parameter is set there
    (else NaN), and ``improvement_percent`` compares the best trial with it.
    """

    model_name: str
    version: str
    metric: str
    best_params: dict[str, object]
    best_value: float
    baseline_value: float
    improvement_percent: float
    n_trials: int
    n_failed: int
    labelled_count: int
    run_id: str
    results: pl.DataFrame = dataclasses.field(repr=False)


#: Any result of ``ws.tuning`` (what `AutoTuningEngine.apply` accepts).
TuningResult: TypeAlias = (ThresholdOptimization | TradeoffOptimization | CostOptimization
                           | AdaptiveAdjustment | HyperparameterSearch)
