"""Concept drift on the labelled error stream: streaming detectors plus a windowed test.

Rule: the window's labelled rows, in time order, give an error stream (1 = misclassified).
Each requested detector (``mlmkit.analysis.detectors``, default parameters) runs over it;
the first index where it fires is its detection. A detection counts only if the error rate
from that index on is higher than before it (a detector that fires on an improvement is
reported in ``detectors`` but does not make the result truthy). Independently, the error
rate of the later half of the stream is tested against the earlier half (one-sided pooled
two-proportion z-test at ``alpha``). The result is truthy when a detection counts or the
windowed test is significant. Fewer than ``min_labels`` labels: nothing is judged.

Per task (`task_concept_drift`): a multiclass model's stream is its misclassifications (1 =
wrong class), judged exactly as above. A regression model's stream is its absolute residuals
``|e|`` divided by the mean ``|e|`` of the earlier half (so the detectors' default thresholds
mean the same thing whatever the target's unit: a 30 % rise of the MAE is a mean shift of 0.3);
only the detectors that take real values run on it (``adwin``, ``page_hinkley``, ``cusum``), the
windowed test is Welch's (later half's mean ``|e|`` greater), and ``error_rate_before`` /
``error_rate_after`` are the mean absolute errors (in the target's unit) before / from the split.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TypeAlias

import numpy as np

from mlmkit._validation import invalid
from mlmkit.analysis.detectors import make_detector, run_detector
from mlmkit.analysis.stats import TestResult, two_proportion_ztest, welch_ttest
from mlmkit.catalogue import Task
from mlmkit.services.monitor.results import ConceptDriftResult
from mlmkit.services.monitor.tasks import task_engine
from mlmkit.store.engines import StatisticsEngine
from mlmkit.values import TimeRange

__all__ = ["REAL_VALUED", "concept_drift", "default_detectors", "task_concept_drift"]

#: A regression loss fed to the detectors and the halves' test is capped at this many times the
#: first half's mean loss: far beyond any drift to detect, far below float overflow when squared.
_CAP = 1e6
#: Detectors that take a real-valued stream (a regression model's absolute residuals).
REAL_VALUED = ("adwin", "page_hinkley", "cusum")

_Floats: TypeAlias = "np.ndarray[tuple[int], np.dtype[np.float64]]"


def _rate(errors: _Floats) -> float:
    return float(errors.mean()) if errors.size else math.nan


def _when(ts: _Floats, index: int) -> datetime:
    return datetime.fromtimestamp(float(ts[index]), tz=UTC)


def default_detectors(task: Task) -> tuple[str, ...]:
    """The detectors run when none are named: ``ddm, adwin, page_hinkley`` (regression: no DDM)."""
    return ("adwin", "page_hinkley") if task is Task.REGRESSION else ("ddm", "adwin",
                                                                        "page_hinkley")


def concept_drift(engine: StatisticsEngine, model_name: str, version: str, span: TimeRange, *,
                  detectors: list[str], alpha: float, min_labels: int) -> ConceptDriftResult:
    """Run the rule of this module's docstring over one version's window."""
    ts, errors = engine.error_stream(model_name, version, time_range=span)
    return _judge(model_name, version, ts, errors, detectors, alpha, min_labels, None)


def task_concept_drift(engine: StatisticsEngine, task: Task, model_name: str, version: str,
                       span: TimeRange, *, detectors: list[str], alpha: float,
                       min_labels: int) -> ConceptDriftResult:
    """The rule per task (module docstring) over one version's window."""
    if task is Task.SCORE_ONLY:
        raise invalid("model_name", "a model with labels to be wrong about (concept drift "
                      "runs on the error stream; a score-only model has none: use data_drift "
                      "for its score distribution)", model_name)
    if task is Task.REGRESSION:
        for name in detectors:
            if name not in REAL_VALUED:
                raise invalid("detectors", f"detectors of a real-valued stream for a regression "
                              f"model ({', '.join(REAL_VALUED)})", name)
    ts, errors = task_engine(engine).task_error_stream(model_name, version, task=task.value,
                                                       time_range=span)
    if task is not Task.REGRESSION:
        return _judge(model_name, version, ts, errors, detectors, alpha, min_labels, None)
    absolute = np.abs(errors)
    scale = float(absolute[:absolute.size // 2].mean()) if absolute.size >= 2 else 0.0
    return _judge(model_name, version, ts, absolute, detectors, alpha, min_labels,
                  scale if scale > 0 else 1.0)


def _halves(errors: _Floats, half: int, scale: float | None) -> TestResult:
    before, after = errors[:half], errors[half:]
    if scale is None:
        return two_proportion_ztest(int(before.sum()), half, int(after.sum()),
                                    errors.size - half, alternative="greater")
    # the rows are here: their variance in two passes (sums of squares of offset errors,
    # 1e9 ± 1, cancelled: a Welch test from sums of them said what rounding said)
    return welch_ttest(before, after, alternative="greater")


def _judge(model_name: str, version: str, ts: _Floats, errors: _Floats, detectors: list[str],
           alpha: float, min_labels: int, scale: float | None) -> ConceptDriftResult:
    """``scale`` None: a 0/1 stream; else real losses, fed to the detectors over ``scale``."""
    n = int(errors.size)
    built = [(name, make_detector(name)) for name in detectors]
    fired: dict[str, datetime | None] = {name: None for name, _ in built}
    if n < max(min_labels, 2 if scale is None else 4):  # Welch needs two rows a half
        return ConceptDriftResult(model_name, version, False, None, None, fired,
                                  _rate(errors), math.nan, math.nan, False, n, True)
    half = n // 2
    # real losses as multiples of the typical one, capped: one residual of 1e200 overflowed
    # the detectors' squares (OverflowError) and the halves' sums of squares
    stream = errors if scale is None else np.minimum(errors / scale, _CAP)
    test = _halves(stream, half, scale)
    best: tuple[int, str] | None = None
    detector: str | None
    for name, det in built:
        res = run_detector(det, stream)
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
