"""The seed's offline comparison (``ws.ab.compare_models``): the metrics both versions registered.

Point metrics carry no sample size, so significance is judged only when both versions
registered ``performance_metrics["sample_count"]`` and the primary metric is a rate (a
two-proportion z-test over those counts); otherwise the result is a ``"tie"`` that says so.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from mlmkit.analysis.experiment import RATE_METRICS
from mlmkit.analysis.stats import TestResult, two_proportion_ztest
from mlmkit.catalogue import CATALOGUE
from mlmkit.services.experiments.result import ABTestResult, decide
from mlmkit.values import ABTestConfig, ModelMetadata

if TYPE_CHECKING:
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = ["registered_comparison"]


def registered_comparison(registry: ModelRegistry, config: ABTestConfig,
                          metadata_a: ModelMetadata | None, metadata_b: ModelMetadata | None
                          ) -> ABTestResult:
    """`compare_models` on checked arguments (metadata ``None``: the registered version's)."""
    meta_a = metadata_a or registry.require(config.model_name, config.version_a)
    meta_b = metadata_b or registry.require(config.model_name, config.version_b)
    perf_a, perf_b = meta_a.performance_metrics, meta_b.performance_metrics
    shared = [k for k in perf_a if k in perf_b and k != "sample_count"]
    diff = {k: float(perf_b[k]) - float(perf_a[k]) for k in shared}
    metric = config.primary_metric
    notes: list[str] = []
    tests: dict[str, TestResult] = {}
    if metric not in diff:
        notes.append(f"{metric} is not registered for both versions.")
    elif metric in RATE_METRICS and "sample_count" in perf_a and "sample_count" in perf_b:
        n_a, n_b = int(perf_a["sample_count"]), int(perf_b["sample_count"])
        tests[metric] = _with_values(two_proportion_ztest(
            round(perf_a[metric] * n_a), n_a, round(perf_b[metric] * n_b), n_b,
            confidence=1 - config.significance_level), perf_a[metric], perf_b[metric])
    else:
        notes.append("Registered point metrics carry no sample size, so statistical "
                     "significance cannot be judged; register sample_count with the "
                     "metrics or run run_test() on logged predictions.")
    primary = tests.get(metric)
    if primary is None:
        winner, significant = _point_winner(metric, diff.get(metric)), False
        lift = _lift(perf_a.get(metric), perf_b.get(metric))
        recommendation = (f"B's registered {metric} differs by {lift:+.2f}% but "
                          "significance cannot be judged from point metrics; run an A/B "
                          "test on live traffic before deploying.") if metric in diff else \
            f"Cannot compare: {metric} is not registered for both versions."
    else:
        winner, significant, recommendation = decide(config, primary, srm_detected=False,
                                                     undersized=False)
    return ABTestResult(
        config, meta_a, meta_b, diff, winner, significant,
        None if primary is None else primary.p_value, recommendation,
        metrics_a={k: float(perf_a[k]) for k in shared},
        metrics_b={k: float(perf_b[k]) for k in shared}, tests=tests, notes=tuple(notes))


def _lift(a: float | None, b: float | None) -> float:
    if a is None or b is None or a == 0:
        return math.nan
    return 100.0 * (float(b) - float(a)) / float(a)


def _with_values(res: TestResult, value_a: float, value_b: float) -> TestResult:
    return dataclasses.replace(res, details={**res.details, "value_a": float(value_a),
                                             "value_b": float(value_b)})


def _point_winner(metric: str, difference: float | None) -> str:
    """The better point estimate (B minus A, read in the metric's direction), or a tie."""
    if difference is None or math.isnan(difference) or difference == 0:
        return "tie"
    lower_is_better = metric in CATALOGUE and CATALOGUE[metric].higher_is_better is False
    return "B" if (difference > 0) != lower_is_better else "A"
