"""Static renderings of charts (SVG / PNG via vl-convert) for reports without a kernel or JS."""

from __future__ import annotations

import base64
from typing import Any

from mlmkit._lazy import require

__all__ = ["StaticChart", "show", "to_html", "to_png", "to_svg"]


def _spec(chart: Any) -> dict[str, Any]:
    return chart.to_dict(validate=True) if hasattr(chart, "to_dict") else dict(chart)


def to_svg(chart: Any) -> str:
    """The chart as an SVG document (vl-convert; no browser needed)."""
    return str(require("vl_convert", "viz").vegalite_to_svg(_spec(chart)))


def to_png(chart: Any, *, scale: float = 1.0) -> bytes:
    """The chart as PNG bytes (vl-convert)."""
    return bytes(require("vl_convert", "viz").vegalite_to_png(_spec(chart), scale=scale))


def to_html(chart: Any, *, fmt: str = "png", alt_text: str = "chart") -> str:
    """An ``<img>`` tag embedding the rendered chart as a data URI (readable with no JS).

    Examples
    --------
    >>> from mlmkit.viz import charts
    >>> to_html(charts.confusion_matrix({"tp": 1, "fp": 2, "tn": 3, "fn": 4})).startswith("<img")
    True
    """
    if fmt == "svg":
        data, mime = to_svg(chart).encode(), "image/svg+xml"
    else:
        data, mime = to_png(chart), "image/png"
    payload = base64.b64encode(data).decode("ascii")
    return f"<img class='mlmkit-chart' alt='{alt_text}' src='data:{mime};base64,{payload}'/>"


class StaticChart:
    """Wraps a chart so notebooks show it as a static PNG (kept by nbconvert, no JS needed).

    Examples
    --------
    >>> from mlmkit.viz import charts
    >>> bundle = StaticChart(charts.confusion_matrix({"tp": 1, "fp": 2, "tn": 3, "fn": 4}))
    >>> sorted(bundle._repr_mimebundle_())
    ['image/png', 'text/plain']
    """

    def __init__(self, chart: Any, *, scale: float = 1.0) -> None:
        self.chart = chart
        self.scale = scale

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        png = to_png(self.chart, scale=self.scale)
        return {"image/png": base64.b64encode(png).decode("ascii"),
                "text/plain": f"<chart: {type(self.chart).__name__}>"}


def show(chart: Any, *, scale: float = 1.0) -> StaticChart:
    """Return a `StaticChart` (display it, or make it a cell's last expression)."""
    return StaticChart(chart, scale=scale)
