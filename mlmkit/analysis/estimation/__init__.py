"""Label-free performance estimation: what the metrics of an unlabelled window will be.

Labels often arrive days after the predictions. Three estimators, one per task, each as
NannyML describes it:

- **binary** — confidence-based performance estimation (`CBPE`, `estimate_performance`):
  isotonic calibration of the scores on a labelled reference, expected confusion counts;
- **multiclass** — CBPE per class (`MulticlassCBPE`, `estimate_multiclass_performance`, and
  from the grouped sums a database returns: `expected_confusion_sums`,
  `estimate_multiclass_from_sums`): expected KxK confusion matrix, accuracy, per-class and
  macro / micro / weighted precision, recall, F1;
- **regression** — direct loss estimation (`DLE`, `estimate_regression_performance`): a model
  of the absolute and squared error fitted on the reference, averaged over each chunk of the
  unlabelled window to estimate MAE and RMSE.

All three survive covariate shift (the inputs move, the relation between the model's output
and its error stays) but not concept drift; the labelled metrics take over once labels arrive.
"""

from __future__ import annotations

from mlmkit.analysis.estimation.binary import CBPE, EstimatedMetrics, estimate_performance
from mlmkit.analysis.estimation.multiclass import (
    EstimatedMulticlassMetrics,
    estimate_multiclass_from_sums,
    expected_confusion_sums,
)
from mlmkit.analysis.estimation.multiclass_cbpe import (
    MulticlassCBPE,
    estimate_multiclass_performance,
    expected_calibration_error,
)
from mlmkit.analysis.estimation.regression import DLE, estimate_regression_performance

__all__ = [
    "CBPE",
    "DLE",
    "EstimatedMetrics",
    "EstimatedMulticlassMetrics",
    "MulticlassCBPE",
    "estimate_multiclass_from_sums",
    "estimate_multiclass_performance",
    "estimate_performance",
    "estimate_regression_performance",
    "expected_calibration_error",
    "expected_confusion_sums",
]
