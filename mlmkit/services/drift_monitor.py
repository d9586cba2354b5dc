"""Alias of `mlmkit.services.monitor.data_drift`, kept at its documented path."""

from __future__ import annotations

from mlmkit.services.monitor.data_drift import data_drift, resolve_sides
from mlmkit.services.monitor.estimate_window import estimate_performance_window

__all__ = [
    'data_drift',
    'estimate_performance_window',
    'resolve_sides',
]
