"""Threshold and hyper-parameter tuning on logged data."""

from __future__ import annotations

from mlmkit.services.tuning.engine import (
    AdaptiveAdjustment,
    AutoTuningEngine,
    CostOptimization,
    HyperparameterSearch,
    ThresholdOptimization,
    TradeoffOptimization,
)

__all__ = [
    'AdaptiveAdjustment',
    'AutoTuningEngine',
    'CostOptimization',
    'HyperparameterSearch',
    'ThresholdOptimization',
    'TradeoffOptimization',
]
