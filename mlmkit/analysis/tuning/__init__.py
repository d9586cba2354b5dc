"""Pure pieces of threshold tuning: grids, counts, improvement bootstrap, adaptive step.

Everything works on a threshold curve (counts per distinct score or per score cell), never on
raw rows.
"""

from __future__ import annotations

from mlmkit.analysis.tuning.adaptive import AdaptiveStep, adaptive_threshold_step
from mlmkit.analysis.tuning.counts import (
    TUNING_METRICS,
    ImprovementInterval,
    best_on_count_curve,
    bootstrap_threshold_improvement,
    count_curve,
    counts_at_threshold,
    metric_from_counts,
    threshold_grid,
)

__all__ = [
    "AdaptiveStep",
    "ImprovementInterval",
    "TUNING_METRICS",
    "adaptive_threshold_step",
    "best_on_count_curve",
    "bootstrap_threshold_improvement",
    "count_curve",
    "counts_at_threshold",
    "metric_from_counts",
    "threshold_grid",
]
