"""Multiclass classification metrics from sufficient statistics, with intervals.

The database groups the labelled rows by ``(actual, predicted)`` and returns the counts; from
that KxK confusion matrix
[`multiclass_metrics`][mlmkit.analysis.metrics.multiclass_metrics] gives
accuracy (Wilson interval), per-class precision / recall / F1 / support (Wilson intervals for
precision and recall) and their macro, micro and weighted averages, all from the matrix's
non-zero cells ([`ClassCells`][mlmkit.analysis.metrics.ClassCells]: O(cells + K) at any K).
Probability-based metrics need one more aggregate each:
[`multiclass_log_loss_from_sums`][mlmkit.analysis.metrics.multiclass_log_loss_from_sums]
(``Σ -log p(true)`` and ``n``) and
[`ovr_auc_from_histograms`][mlmkit.analysis.metrics.ovr_auc_from_histograms]
(per-class score histograms split by whether the row's actual is that class).

Zero division follows scikit-learn's default ``zero_division="warn"``: a precision with no
predictions of the class, a recall with no actual rows of it, or an F1 with neither, is
**0.0** and one ``UndefinedMetricWarning`` names the metrics and classes. (The binary metrics
return NaN instead; the multiclass ones match ``precision_recall_fscore_support`` so that a
macro average over K classes stays defined.) Labels are strings or integers, never mixed;
without explicit ``labels`` they are sorted, as scikit-learn's ``unique_labels`` does.
"""

from __future__ import annotations

from mlmkit.analysis.metrics.multiclass.cells import ClassCells
from mlmkit.analysis.metrics.multiclass.confusion import (
    MulticlassMetrics,
    class_metric_draws,
    confusion_counts,
    multiclass_bootstrap_interval,
    multiclass_metrics,
)
from mlmkit.analysis.metrics.multiclass.probabilities import (
    OneVsRestAUC,
    multiclass_log_loss_from_sums,
    ovr_auc_from_bins,
    ovr_auc_from_histograms,
)

__all__ = [
    "ClassCells",
    "MulticlassMetrics",
    "OneVsRestAUC",
    "class_metric_draws",
    "confusion_counts",
    "multiclass_bootstrap_interval",
    "multiclass_log_loss_from_sums",
    "multiclass_metrics",
    "ovr_auc_from_bins",
    "ovr_auc_from_histograms",
]
