"""Monitoring of the prediction log: window metrics, degradation, concept and data drift, trends."""

from __future__ import annotations

from mlmkit.services.monitor.results import (
    ConceptDriftResult,
    DegradationInfo,
    WindowMetrics,
)
from mlmkit.services.monitor.service import (
    DEFAULT_MIN_LABELS,
    PerformanceMonitor,
)
from mlmkit.services.monitor.task_results import (
    MulticlassWindowMetrics,
    RegressionWindowMetrics,
    ScoreWindowMetrics,
)
from mlmkit.services.monitor.verdict import ModelVerdict, model_verdict, model_verdicts

__all__ = [
    'ConceptDriftResult',
    'DEFAULT_MIN_LABELS',
    'DegradationInfo',
    'ModelVerdict',
    'MulticlassWindowMetrics',
    'PerformanceMonitor',
    'RegressionWindowMetrics',
    'ScoreWindowMetrics',
    'WindowMetrics',
    'model_verdict',
    'model_verdicts',
]
