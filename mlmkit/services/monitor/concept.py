"""Concept drift on the labelled error stream: streaming detectors plus a windowed test.

Rule: the window's labelled rows, in time order, give an error stream (1 = misclassified).
Each requested detector (``mlmkit.analysis.detectors``, default parameters) runs over it;
the first index where it fires is its detection. A detection counts only if the error rate
from that index on is higher than before it (a detector that fires on an improvement is
reported in ``detectors`` but does not make the result truthy). Independently, the error
rate of the later half of the stream is tested against the earlier half (one-sided pooled
two-proportion z-test at ``alpha``). The result is truthy when a detection counts or the
windowed test is significant. Fewer than ``min_labels`` labels: nothing is judged.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TypeAlias

import numpy as np

from mlmkit.analysis.detectors import make_detector, run_detector
from mlmkit.analysis.stats import two_proportion_ztest
from mlmkit.services.monitor.results import ConceptDriftResult
from mlmkit.store.engines import StatisticsEngine
from mlmkit.values import TimeRange

__all__ = ["concept_drift"]

_Floats: TypeAlias = "np.ndarray[tuple[int], np.dtype[np.float64]]"


def _rate(errors: _Floats) -> float:
    return float(errors.mean()) if errors.size else math.nan


def _when(ts: _Floats, index: int) -> datetime:
    return datetime.fromtimestamp(float(ts[index]), tz=UTC)


def concept_drift(engine: StatisticsEngine, model_name: str, version: str, span: TimeRange, *,
                  detectors: list[str], alpha: float, min_labels: int) -> ConceptDriftResult:
    """Run the rule of this module's docstring over one version's window."""
    ts, errors = engine.error_stream(model_name, version, time_range=span)
    n = int(errors.size)
    built = [(name, make_detector(name)) for name in detectors]
    fired: dict[str, datetime | None] = {name: None for name, _ in built}
    if n < max(min_labels, 2):
        return ConceptDriftResult(model_name, version, False, None, None, fired,
                                  _rate(errors), math.nan, math.nan, False, n, True)
    half = n // 2
    before, after = errors[:half], errors[half:]
    test = two_proportion_ztest(int(before.sum()), half, int(after.sum()), n - half,
                                alternative="greater")
    best: tuple[int, str] | None = None
    detector: str | None
    for name, det in built:
        res = run_detector(det, errors)
        if not res.drift_indices:
            continue
        index = res.drift_indices[0]
        fired[name] = _when(ts, index)
        worse = _rate(errors[index:]) > _rate(errors[:index])
        if worse and (best is None or index < best[0]):
            best = (index, name)
    significant = test.p_value <= alpha
    if best is not None:
        split, detector = best
    else:
        split, detector = half, ("window_test" if significant else None)
    detected = best is not None or significant
    return ConceptDriftResult(
        model_name, version, detected, detector,
        _when(ts, split) if detected else None, fired,
        _rate(errors[:split]), _rate(errors[split:]), float(test.p_value), bool(significant),
        n, False)
