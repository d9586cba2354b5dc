"""Alias of `mlmkit.services.monitor.data_drift`, kept at its documented path."""

from __future__ import annotations

from mlmkit.services.monitor.data_drift import (
    data_drift,
    estimate_performance_window,
    resolve_sides,
)

__all__ = [
    'data_drift',
    'estimate_performance_window',
    'resolve_sides',
]
