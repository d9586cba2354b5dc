"""What read commands print: a plain-text table with a header, or one JSON document.

``emit`` is the one switch: ``--json`` prints the rows as a JSON array of objects (or any
JSON value), otherwise ``render_table`` prints a header line and one line per row,
with no dtype row, no ``shape:`` line and no wrapping. Standard library only.
"""

from __future__ import annotations

import argparse
import enum
import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

__all__ = ["cell", "emit", "frame_rows", "print_json", "render_table", "to_json"]

_MAX_CELL = 60


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    item = getattr(value, "item", None)  # numpy scalars
    return _plain(item()) if callable(item) else str(value)


def to_json(value: Any) -> str:
    """``value`` as strict JSON (datetimes ISO 8601, NaN as null, other objects as text).

    Examples
    --------
    >>> from datetime import datetime
    >>> to_json([{"at": datetime(2024, 5, 1, 12), "v": float("nan")}])
    '[{"at": "2024-05-01T12:00:00", "v": null}]'
    """
    return json.dumps(_plain(value), allow_nan=False)


def print_json(value: Any) -> None:
    """Print ``value`` as one JSON document on stdout."""
    print(to_json(value))


def cell(value: Any) -> str:
    """One table cell: ``-`` for missing, seconds-precision times, 4 significant digits.

    Examples
    --------
    >>> [cell(None), cell(0.123456), cell(12), cell(True), cell({"a": 1})]
    ['-', '0.1235', '12', 'yes', '{"a": 1}']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, enum.Enum):
        return str(value.value)
    structured = isinstance(value, Mapping | list | tuple)
    text = " ".join((json.dumps(_plain(value)) if structured else str(value)).split())
    return text if len(text) <= _MAX_CELL else text[:_MAX_CELL - 1] + "…"


def _numeric(values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool)
                                 for v in present)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *,
                 empty: str = "(none)") -> str:
    """Rows as an aligned text table: a header line, then one line per row.

    Numbers are right-aligned; there is no rule line (``lines[1]`` is the first row, as in
    ``docker ps``), so ``awk``/``split()`` see the header and the rows only.

    Examples
    --------
    >>> print(render_table([{"model": "a", "n": 5}, {"model": "bb", "n": 12}]))
    model   n
    a       5
    bb     12
    >>> render_table([], ["model"])
    '(none)'
    """
    if not rows:
        return empty
    names = list(columns) if columns is not None else list(rows[0])
    raw = [[row.get(name) for name in names] for row in rows]
    texts = [[cell(v) for v in line] for line in raw]
    right = [_numeric([line[i] for line in raw]) for i in range(len(names))]
    widths = [max([len(names[i]), *(len(line[i]) for line in texts)]) for i in range(len(names))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right,
                                                                     strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(names), *(line(t) for t in texts)])


def frame_rows(frame: Any) -> list[dict[str, Any]]:
    """A polars frame's rows as dicts (imports nothing: the caller already has polars)."""
    return list(frame.to_dicts())


def emit(args: argparse.Namespace, rows: Sequence[Mapping[str, Any]],
         columns: Sequence[str] | None = None, *, document: Any = None, empty: str = "(none)",
         footer: str | None = None) -> None:
    """Print ``rows`` as a table, or with ``--json`` as JSON (``document`` if given, else rows).

    ``footer`` follows the table only (a note such as the time zone); JSON carries it in
    ``document`` when it matters.
    """
    if getattr(args, "json", False):
        print_json(list(rows) if document is None else document)
        return
    print(render_table(rows, columns, empty=empty))
    if footer:
        print(footer)
