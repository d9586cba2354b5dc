"""The mlmkit chart theme (registered once, lazily) and the data-size guard."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import polars as pl

from mlmkit._lazy import require
from mlmkit._validation import invalid

__all__ = ["DAY_FORMAT", "HOUR_FORMAT", "INK", "MAX_POINTS", "PALETTE", "SEVERITY_COLORS", "THEME",
           "altair", "check_points", "register_theme", "thin"]

MAX_POINTS = 5_000
"""Upper bound on the rows any chart embeds (Altair's 5,000-row limit never triggers)."""

THEME = "mlmkit"
#: Mid-contrast categorical colours (Tableau 10): readable on white and on a dark notebook.
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#9c755f", "#76b7b2"]
#: Severity colours shared by every chart (alerts, verdicts).
SEVERITY_COLORS = {"ok": "#59a14f", "info": "#76b7b2", "warning": "#f28e2b",
                   "critical": "#e15759"}
#: Ink for text, axes and rules: mid grey, legible on light and dark backgrounds.
INK = "#8a8a8a"
#: Date formats of time axes: daily buckets, hourly buckets.
DAY_FORMAT, HOUR_FORMAT = "%b %d", "%b %d %H:%M"

_registered: list[bool] = []


def _config() -> dict[str, Any]:
    return {
        "config": {
            "view": {"continuousWidth": 420, "continuousHeight": 240, "stroke": None},
            "background": "transparent",  # the page's own colour shows (light or dark theme)
            "font": "DejaVu Sans, Helvetica, Arial, sans-serif",
            "title": {"fontSize": 14, "anchor": "start", "color": INK, "subtitleColor": INK},
            "axis": {"labelFontSize": 11, "titleFontSize": 12, "labelColor": INK,
                     "titleColor": INK, "gridColor": INK, "gridOpacity": 0.25,
                     "domainColor": INK, "tickColor": INK},
            "legend": {"labelFontSize": 11, "titleFontSize": 12, "orient": "right",
                       "labelColor": INK, "titleColor": INK},
            "header": {"labelColor": INK, "titleColor": INK},
            "text": {"color": INK},
            "rule": {"color": INK},
            "range": {"category": PALETTE},
            "line": {"strokeWidth": 2},
            "point": {"size": 40, "filled": True},
        }
    }


def register_theme(alt: ModuleType) -> None:
    """Register and enable the ``mlmkit`` theme on ``alt`` (no-op after the first call)."""
    if _registered:
        return
    themes = getattr(alt, "theme", None)
    if themes is not None and hasattr(themes, "register"):
        themes.register(THEME, enable=True)(_config)
    else:  # altair < 5.5
        alt.themes.register(THEME, _config)
        alt.themes.enable(THEME)
    _registered.append(True)


def altair() -> ModuleType:
    """The ``altair`` module with the mlmkit theme registered (once)."""
    alt = require("altair", "viz")
    register_theme(alt)
    return alt


def check_points(frame: pl.DataFrame, *, limit: int = MAX_POINTS) -> pl.DataFrame:
    """Return ``frame`` if it has at most ``limit`` rows, else raise ``ValidationError``.

    Examples
    --------
    >>> check_points(pl.DataFrame({"x": [1, 2]})).height
    2
    """
    if frame.height > limit:
        raise invalid("data", f"at most {limit:,} rows for a chart (aggregate first)",
                      f"{frame.height:,} rows")
    return frame


def thin(frame: pl.DataFrame, *, max_rows: int = 500) -> pl.DataFrame:
    """Keep at most ``max_rows`` evenly spaced rows (first and last always kept).

    Examples
    --------
    >>> thin(pl.DataFrame({"x": range(10_000)}), max_rows=5)["x"].to_list()
    [0, 2500, 5000, 7499, 9999]
    """
    n = frame.height
    if n <= max_rows:
        return frame
    idx = sorted({round(i * (n - 1) / (max_rows - 1)) for i in range(max_rows)})
    return frame[idx]
