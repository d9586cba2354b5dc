"""``AutoTuningEngine.apply``: a tuning result becomes a new, never edited, model version."""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING

from mlmkit._faults import fault_point
from mlmkit._validation import check_choice, check_real, invalid
from mlmkit.exceptions import StateError
from mlmkit.services.tuning.results import (
    AdaptiveAdjustment,
    CostOptimization,
    HyperparameterSearch,
    ThresholdOptimization,
    TradeoffOptimization,
    TuningResult,
)
from mlmkit.store.tuning_runs import insert_runs
from mlmkit.values import ModelMetadata, utcnow

if TYPE_CHECKING:
    from mlmkit.store.database import Database
    from mlmkit.store.registry.duckdb import ModelRegistry

_KINDS: dict[type, str] = {ThresholdOptimization: "threshold", CostOptimization: "cost",
          TradeoffOptimization: "tradeoff", AdaptiveAdjustment: "adaptive",
          HyperparameterSearch: "hyperparameters"}


def apply(db: Database, registry: ModelRegistry, result: TuningResult, *, bump: str,
          min_improvement_percent: float, reason: str | None) -> ModelMetadata:
    """Register ``result.version`` bumped, with the tuned configuration (see the service)."""
    kind = _KINDS.get(type(result))
    if kind is None:
        raise invalid("result", "a result of ws.tuning (ThresholdOptimization, "
                      "TradeoffOptimization, CostOptimization, AdaptiveAdjustment, "
                      "HyperparameterSearch)", type(result).__name__)
    check_choice("bump", bump, ("patch", "minor", "major"))
    minimum = check_real("min_improvement_percent", min_improvement_percent)
    meta = registry.require(result.model_name, result.version)
    changes = _changes(result, meta, minimum)
    new_version = meta.version.bump(bump)
    improvement = getattr(result, "improvement_percent", math.nan)
    why = {"source_version": str(meta.version), "kind": kind, "run_id": result.run_id,
           "previous": {k: meta.configuration.get(k) for k in changes}, "new": changes,
           "improvement_percent": None if math.isnan(improvement) else improvement,
           "min_improvement_percent": minimum, "reason": reason or _default_reason(result),
           "applied_at": utcnow().isoformat()}
    new = (meta.with_version(new_version)
           .with_configuration({**meta.configuration, **changes})
           .with_performance_metrics({})
           .with_metadata({**meta.metadata, "tuning": why}))
    with db.transaction():  # the new version and its tuning record: both or neither
        registry.register(new)
        fault_point("tuning.apply.after_register")
        insert_runs(db, [{"run_id": uuid.uuid4().hex, "trial": 0, "kind": "apply",
                          "model_name": meta.model_name, "version": str(new_version),
                          "metric": getattr(result, "metric", None), "value": improvement,
                          "threshold": changes.get("threshold"), "params": changes,
                          "details": why}])
        fault_point("tuning.apply.before_commit")
    return new


def _changes(result: TuningResult, meta: ModelMetadata, minimum: float
             ) -> dict[str, object]:
    name = f"{meta.model_name} {meta.version}"
    if isinstance(result, HyperparameterSearch):
        _check_improvement(result.improvement_percent, minimum, name)
        return dict(result.best_params)
    if isinstance(result, TradeoffOptimization) and not result.feasible:
        raise StateError(f"not applying to {name}: the trade-off is {result.reason}")
    if isinstance(result, AdaptiveAdjustment) and result.direction == "hold":
        raise StateError(f"not applying to {name}: the adaptive run holds ({result.reason})")
    if isinstance(result, (ThresholdOptimization, CostOptimization)):
        _check_improvement(result.improvement_percent, minimum, name)
    threshold = float(result.optimal_threshold)
    if threshold == meta.configuration.get("threshold", 0.5):
        raise StateError(f"not applying to {name}: threshold {threshold:g} is already in use")
    return {"threshold": threshold}


def _check_improvement(improvement: float, minimum: float, name: str) -> None:
    if math.isnan(improvement):
        if minimum > 0:
            raise StateError(f"not applying to {name}: the improvement is unknown and "
                             f"min_improvement_percent={minimum:g} > 0")
        return
    if improvement < minimum:
        raise StateError(f"not applying to {name}: improvement {improvement:+.2f}% is below "
                         f"min_improvement_percent={minimum:g}%")


def _default_reason(result: TuningResult) -> str:
    for attribute in ("recommendation", "reason"):
        text = getattr(result, attribute, "")
        if text:
            return str(text)
    return f"{type(result).__name__} run {result.run_id}"
