"""The notebook layer: Altair charts, ipywidgets panels, static renderings and reports.

Optional dependencies (``pip install 'mlmkit[viz]'`` and ``'mlmkit[report]'``) are imported
only when a chart, panel or report is built. Submodules load lazily::

    from mlmkit.viz import charts, panels
    chart = charts.metric_trend(ws.monitor.get_performance_trend("m", window="7d"))
"""

from __future__ import annotations

from mlmkit._lazy import lazy_getattr as _lazy_getattr

__all__ = ["ABReviewPanel", "MonitorPanel", "RegistryBrowser", "ThresholdPanel", "charts",
           "data", "offline", "panels", "render", "render_report", "report", "show", "tables",
           "use_offline_renderer"]

_NAMES = {"ABReviewPanel": "panels", "MonitorPanel": "panels", "RegistryBrowser": "panels",
          "ThresholdPanel": "panels", "render_report": "report", "show": "render",
          "use_offline_renderer": "offline"}

__getattr__ = _lazy_getattr(__name__, {k: f"{__name__}.{v}" for k, v in _NAMES.items()},
                            modules=("charts", "data", "offline", "panels", "render", "report",
                                     "tables"))
