"""What the performance-monitoring job writes to ``metric_snapshots`` for one window result."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, SupportsFloat, SupportsIndex

from mlmkit.services.monitor.results import WindowMetrics

if TYPE_CHECKING:
    from mlmkit.services.monitor.task_results import AnyWindowMetrics

__all__ = ["snapshot_values"]

#: Window facts that are not metrics (the snapshot row carries them in its own columns).
_FACTS = frozenset({"model_name", "version", "task", "start", "end", "min_labels",
                    "insufficient"})


def _number(value: object) -> float | None:
    if not isinstance(value, SupportsFloat | SupportsIndex | str):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def snapshot_values(metrics: AnyWindowMetrics, binary_metrics: Iterable[str]
                    ) -> dict[str, float | None]:
    """The numbers to snapshot for one model's window.

    A binary window gives ``binary_metrics`` (the catalogue's window metrics); a multiclass,
    regression or score-only window gives every numeric value it reports (``mae``,
    ``f1_macro``, ``flag_rate``, counts, interval bounds), without lists, text or flags.
    """
    if isinstance(metrics, WindowMetrics):
        return {m: _number(getattr(metrics, m)) for m in binary_metrics}
    return {k: _number(v) for k, v in metrics.to_dict().items()
            if k not in _FACTS and not isinstance(v, bool | list | dict | str)}
