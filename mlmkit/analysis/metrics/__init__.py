"""Classification (binary, multiclass), regression and score-only metrics, with intervals.

Binary metrics come from rows or sufficient statistics; the multiclass, regression and
score-only ones from the aggregates a database computes (counts, sums, histograms).
"""

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
from mlmkit.analysis.metrics.multiclass import (
    ClassCells,
    MulticlassMetrics,
    OneVsRestAUC,
    class_metric_draws,
    confusion_counts,
    multiclass_bootstrap_interval,
    multiclass_log_loss_from_sums,
    multiclass_metrics,
    ovr_auc_from_bins,
    ovr_auc_from_histograms,
)
from mlmkit.analysis.metrics.regression import (
    RegressionMetrics,
    RegressionSums,
    regression_metrics,
    residual_quantiles,
)
from mlmkit.analysis.metrics.score import (
    ScoreSummary,
    flag_drift,
    flag_rate,
    score_drift,
    score_moments,
    score_summary,
)
from mlmkit.analysis.metrics.summaries import (
    histogram_quantiles,
    mean_interval_from_sums,
    refined_histograms,
    variance_from_sums,
)

__all__ = [
    'ClassCells',
    'Interval',
    'Metrics',
    'MulticlassMetrics',
    'OneVsRestAUC',
    'RegressionMetrics',
    'RegressionSums',
    'ScoreSummary',
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
    'class_metric_draws',
    'confusion_counts',
    'expected_calibration_error',
    'expected_calibration_error_from_histograms',
    'flag_drift',
    'flag_rate',
    'histogram_quantiles',
    'log_loss',
    'log_loss_from_sums',
    'mean_interval_from_sums',
    'metrics_from_counts',
    'multiclass_bootstrap_interval',
    'multiclass_log_loss_from_sums',
    'multiclass_metrics',
    'ovr_auc_from_bins',
    'ovr_auc_from_histograms',
    'refined_histograms',
    'regression_metrics',
    'residual_quantiles',
    'roc_auc',
    'score_drift',
    'score_moments',
    'score_summary',
    'variance_from_sums',
    'wilson_interval',
]
