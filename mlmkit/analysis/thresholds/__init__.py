"""Threshold curves and optimal decision thresholds."""

from __future__ import annotations

from mlmkit.analysis.thresholds.curve import (
    METRICS,
    ThresholdResult,
    best_threshold,
    best_threshold_from_curve,
    threshold_curve,
    threshold_curve_from_histogram,
)

__all__ = [
    'METRICS',
    'ThresholdResult',
    'best_threshold',
    'best_threshold_from_curve',
    'threshold_curve',
    'threshold_curve_from_histogram',
]
