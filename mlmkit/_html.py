"""The one HTML renderer of ``_repr_html_`` results and panels: small tables, everything escaped.

Every key, value, caption and column name passes through `html.escape` here, so a model
name, configuration key or feature name such as ``<img src=x onerror=alert(1)>`` is shown,
never run. Nothing else in mlmkit writes table markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["cell", "dict_table", "rows_table"]


def cell(value: Any, *, digits: int = 4) -> str:
    """One escaped table cell: floats to ``digits`` significant digits, NaN, nested mappings."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else html.escape(f"{value:.{digits}g}")
    if isinstance(value, Mapping):
        return ", ".join(f"{html.escape(str(k))}={cell(v, digits=digits)}"
                         for k, v in value.items())
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return "(" + ", ".join(cell(v, digits=digits) for v in value) + ")"
    return html.escape(str(value))


def dict_table(data: Mapping[str, Any], *, title: str | None = None, digits: int = 4,
               skip_none: bool = False) -> str:
    """Render a flat mapping as a two-column HTML table.

    Examples
    --------
    >>> "<td>0.5</td>" in dict_table({"accuracy": 0.5})
    True
    >>> "<img" in dict_table({"<img src=x>": "<b>"}, title="<script>")
    False
    """
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
        f"<td>{cell(v, digits=digits)}</td></tr>"
        for k, v in data.items() if not (skip_none and v is None)
    )
    caption = f"<caption>{html.escape(str(title))}</caption>" if title else ""
    return f"<table class='mlmkit'>{caption}{rows}</table>"


def rows_table(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], *,
               title: str | None = None, digits: int = 4) -> str:
    """Render records as an HTML table with a header row of ``columns``."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(row.get(c), digits=digits)}</td>"
                                    for c in columns) + "</tr>" for row in rows)
    caption = f"<caption>{html.escape(str(title))}</caption>" if title else ""
    return f"<table class='mlmkit'>{caption}<tr>{head}</tr>{body}</table>"
