"""Static renderings of charts (SVG / PNG via vl-convert) for reports without a kernel or JS."""

from __future__ import annotations

import base64
import html
import struct
from typing import Any

from mlmkit._lazy import require
from mlmkit._validation import invalid

__all__ = ["PNG_SCALE", "StaticChart", "png_size", "show", "to_html", "to_png", "to_svg"]

#: PNGs are rendered at twice their CSS size, so they stay crisp on HiDPI screens.
PNG_SCALE = 2.0


def _spec(chart: Any) -> dict[str, Any]:
    return chart.to_dict(validate=True) if hasattr(chart, "to_dict") else dict(chart)


def to_svg(chart: Any) -> str:
    """The chart as an SVG document (vl-convert; no browser needed)."""
    return str(require("vl_convert", "viz").vegalite_to_svg(_spec(chart)))


def to_png(chart: Any, *, scale: float = PNG_SCALE) -> bytes:
    """The chart as PNG bytes (vl-convert), ``scale`` pixels per CSS pixel (default 2)."""
    return bytes(require("vl_convert", "viz").vegalite_to_png(_spec(chart), scale=scale))


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels, read from the PNG header.

    Examples
    --------
    >>> png_size(bytes(16) + (300).to_bytes(4, "big") + (200).to_bytes(4, "big"))
    (300, 200)
    """
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def to_html(chart: Any, *, fmt: str = "png", alt_text: str = "chart") -> str:
    """An ``<img>`` tag embedding the rendered chart as a data URI (readable with no JS).

    Examples
    --------
    >>> from mlmkit.viz import charts
    >>> to_html(charts.confusion_matrix({"tp": 1, "fp": 2, "tn": 3, "fn": 4})).startswith("<img")
    True
    """
    size = ""
    if fmt == "svg":
        data, mime = to_svg(chart).encode(), "image/svg+xml"
    else:
        data, mime = to_png(chart), "image/png"
        width, height = png_size(data)  # shown at CSS size: crisp on HiDPI screens
        size = f" width='{round(width / PNG_SCALE)}' height='{round(height / PNG_SCALE)}'"
    payload = base64.b64encode(data).decode("ascii")
    alt_attr = html.escape(alt_text, quote=True)
    return (f"<img class='mlmkit-chart' alt='{alt_attr}'{size} "
            f"src='data:{mime};base64,{payload}'/>")


class StaticChart:
    """Wraps a chart so notebooks show it as a static PNG (kept by nbconvert, no JS needed).

    Examples
    --------
    >>> from mlmkit.viz import charts
    >>> bundle = StaticChart(charts.confusion_matrix({"tp": 1, "fp": 2, "tn": 3, "fn": 4}))
    >>> data, metadata = bundle._repr_mimebundle_()
    >>> sorted(data), metadata["image/png"]["width"] * 2 == png_size(to_png(bundle.chart))[0]
    (['image/png', 'text/plain'], True)
    """

    def __init__(self, chart: Any, *, scale: float = PNG_SCALE, fmt: str = "png") -> None:
        if fmt not in ("png", "svg"):
            raise invalid("fmt", "'png' or 'svg'", fmt)
        self.chart = chart
        self.scale = scale
        self.fmt = fmt

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The PNG (rendered at ``scale``) and its display size in CSS pixels, or the SVG."""
        if self.fmt == "svg":
            return {"image/svg+xml": to_svg(self.chart),
                    "text/plain": f"<chart: {type(self.chart).__name__}>"}, {}
        png = to_png(self.chart, scale=self.scale)
        width, height = png_size(png)
        bundle = {"image/png": base64.b64encode(png).decode("ascii"),
                  "text/plain": f"<chart: {type(self.chart).__name__}>"}
        meta = {"image/png": {"width": round(width / self.scale),
                              "height": round(height / self.scale)}}
        return bundle, meta


def show(chart: Any, *, scale: float = PNG_SCALE, fmt: str = "png") -> StaticChart:
    """Return a `StaticChart` (display it, or make it a cell's last expression)."""
    return StaticChart(chart, scale=scale, fmt=fmt)
