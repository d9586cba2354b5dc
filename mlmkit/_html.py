"""Small HTML tables for ``_repr_html_`` of result objects (no plotting, no dependencies)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = "NaN" if math.isnan(value) else f"{value:.4g}"
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
        return text
    elif isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        text = "(" + ", ".join(_cell(v) for v in value) + ")"
        return text
    else:
        text = str(value)
    return html.escape(text)


def dict_table(data: Mapping[str, Any], *, title: str | None = None) -> str:
    """Render a flat mapping as a two-column HTML table.

    Examples
    --------
    >>> "<td>0.5</td>" in dict_table({"accuracy": 0.5})
    True
    """
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>"
        for k, v in data.items()
    )
    caption = f"<caption>{html.escape(title)}</caption>" if title else ""
    return f"<table class='mlmkit'>{caption}{rows}</table>"
