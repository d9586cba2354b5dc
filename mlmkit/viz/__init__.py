"""The notebook layer: Altair charts, ipywidgets panels, static renderings and reports.

Optional dependencies (``pip install 'mlmkit[viz]'`` and ``'mlmkit[report]'``) are imported
only when a chart, panel or report is built. Submodules load lazily::

    from mlmkit.viz import charts, panels
    chart = charts.metric_trend(ws.monitor.get_performance_trend("m", window="7d"))
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ABReviewPanel", "MonitorPanel", "RegistryBrowser", "ThresholdPanel", "charts",
           "data", "panels", "render", "render_report", "report", "show"]

_MODULES = {"charts", "data", "panels", "render", "report"}
_NAMES = {"ABReviewPanel": "panels", "MonitorPanel": "panels", "RegistryBrowser": "panels",
          "ThresholdPanel": "panels", "render_report": "report", "show": "render"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
