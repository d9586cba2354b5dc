"""CBPE of a binary model's current window from its scores (``ws.monitor.estimate_performance``).

Moved out of `mlmkit.services.monitor.data_drift` (its sides come from the same
`resolve_sides`); `mlmkit.services.drift_monitor` still exports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlmkit._validation import check_int, check_name, invalid
from mlmkit.analysis.estimation import EstimatedMetrics, estimate_performance
from mlmkit.services.monitor.data_drift import resolve_sides
from mlmkit.store.engines import StatisticsEngine, WorkspaceEngine
from mlmkit.values import Version, VersionLike

if TYPE_CHECKING:
    from mlmkit.store.predictions.writes import PredictionStore

__all__ = ["estimate_performance_window"]


def estimate_performance_window(store: PredictionStore, model_name: str, version: VersionLike,
                                *, reference: object = "7d", current: object = "24h",
                                threshold: float = 0.5, n_simulations: int = 200,
                                engine: StatisticsEngine | None = None) -> EstimatedMetrics:
    """CBPE estimate of the current window's metrics from scores alone.

    The calibration is fitted on the labelled, scored rows of ``reference`` (same forms as
    [`data_drift`][mlmkit.services.monitor.PerformanceMonitor.data_drift], frames excepted); the
    current window's labels, if any, are ignored.
    """
    check_name("model_name", model_name)
    ver = str(Version.parse(version))
    ref, cur, frame = resolve_sides(ver, reference, current)
    if ref is None or frame is not None:
        raise invalid("reference", "a duration, a (start, end) pair or a version", reference)
    engine = WorkspaceEngine(store.db) if engine is None else engine
    ref_rows = engine.side_rows(model_name, ["actual", "score"], ref)
    ref_rows = ref_rows.drop_nulls()
    cur_rows = engine.side_rows(model_name, ["score"], cur).drop_nulls()
    if cur_rows.height == 0:
        raise invalid("current", "a window with scored predictions", current)
    return estimate_performance(ref_rows["actual"].to_numpy(), ref_rows["score"].to_numpy(),
                                cur_rows["score"].to_numpy(), threshold=threshold,
                                n_simulations=check_int("n_simulations", n_simulations, low=0))
