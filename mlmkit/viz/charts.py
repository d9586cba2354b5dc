"""Altair charts from service results (built, never displayed).

Every function takes what a service returned (a polars frame or a result object) and returns
an ``alt.Chart`` / layered / concatenated chart. Data is aggregated before it reaches a chart:
no chart embeds more than [`MAX_POINTS`][mlmkit.viz.charts.MAX_POINTS] (5,000) rows, and curves are
thinned to a few hundred points. The ``mlmkit`` theme is registered the first time a chart is
built. Multiclass, regression and score-only models have their own builders
(`class_confusion_matrix`, `class_metrics`, `residual_histogram`, `residual_scatter`,
`score_distribution`); `confusion_matrix` draws a multiclass result as its K x K heatmap and
`metric_trend` draws any task's metric with direction-aware limits. Render with
``chart.save("x.svg")`` or
[`mlmkit.viz.render.to_svg`][mlmkit.viz.render.to_svg].

Examples
--------
>>> from mlmkit.viz import charts
>>> chart = charts.confusion_matrix({"tp": 40, "fp": 10, "tn": 45, "fn": 5})
>>> spec = chart.to_dict(validate=True)
>>> values = next(iter(spec["datasets"].values()))
>>> sorted(row["count"] for row in values)
[5, 10, 40, 45]
"""

from __future__ import annotations

from mlmkit.viz._charts_ab import (
    ab_comparison,
    drift_bars,
    drift_heatmap,
    rollout_progress,
    sequential_path,
)
from mlmkit.viz._charts_perf import (
    calibration,
    confusion_matrix,
    metric_trend,
    pr_curve,
    roc_curve,
    threshold_curve,
)
from mlmkit.viz._charts_tasks import (
    class_confusion_matrix,
    class_metrics,
    residual_histogram,
    residual_scatter,
    score_distribution,
)
from mlmkit.viz._theme import MAX_POINTS

__all__ = ["MAX_POINTS", "ab_comparison", "calibration", "class_confusion_matrix",
           "class_metrics", "confusion_matrix", "drift_bars", "drift_heatmap", "metric_trend",
           "pr_curve", "residual_histogram", "residual_scatter", "roc_curve",
           "rollout_progress", "score_distribution", "sequential_path", "threshold_curve"]
