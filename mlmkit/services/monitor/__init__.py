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

__all__ = [
    'ConceptDriftResult',
    'DEFAULT_MIN_LABELS',
    'DegradationInfo',
    'PerformanceMonitor',
    'WindowMetrics',
]
