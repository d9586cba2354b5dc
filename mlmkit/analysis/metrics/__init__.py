"""Binary classification metrics from rows or from sufficient statistics, with intervals."""

from __future__ import annotations

from mlmkit.analysis.metrics.binary import (
    Interval,
    Metrics,
    UndefinedMetricWarning,
    auc_from_histograms,
    auc_histogram_error_bound,
    average_precision,
    average_precision_from_histograms,
    binary_classification_metrics,
    bootstrap_interval,
    brier_score,
    brier_score_from_sums,
    calibration,
    calibration_from_histograms,
    expected_calibration_error,
    expected_calibration_error_from_histograms,
    log_loss,
    log_loss_from_sums,
    metrics_from_counts,
    roc_auc,
    wilson_interval,
)

__all__ = [
    'Interval',
    'Metrics',
    'UndefinedMetricWarning',
    'auc_from_histograms',
    'auc_histogram_error_bound',
    'average_precision',
    'average_precision_from_histograms',
    'binary_classification_metrics',
    'bootstrap_interval',
    'brier_score',
    'brier_score_from_sums',
    'calibration',
    'calibration_from_histograms',
    'expected_calibration_error',
    'expected_calibration_error_from_histograms',
    'log_loss',
    'log_loss_from_sums',
    'metrics_from_counts',
    'roc_auc',
    'wilson_interval',
]
