"""The one WHERE-clause builder of the store: conditions joined by AND, parameters in order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mlmkit.values import TimeRange

__all__ = ["Where", "where_clause"]


class Where:
    """SQL conditions joined by ``AND`` with their ``?`` parameters, in order.

    Optional filters are added only when their value is not ``None``, so a query builder reads
    as the list of filters it supports. ``str(where)`` is ``"TRUE"`` when nothing was added.

    Examples
    --------
    >>> w = Where().equal("model_name", "m").equal("status", None).among("version", ["1", "2"])
    >>> str(w), w.params
    ('model_name = ? AND version IN (?, ?)', ['m', '1', '2'])
    >>> str(Where().equal("job", None))
    'TRUE'
    """

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> Where:
        """Add ``condition`` (with one ``?`` per item of ``params``)."""
        self.conditions.append(condition)
        self.params.extend(params)
        return self

    def equal(self, column: str, value: Any) -> Where:
        """``column = ?``, unless ``value`` is ``None``."""
        return self if value is None else self.add(f"{column} = ?", value)

    def equals(self, pairs: Iterable[tuple[str, Any]]) -> Where:
        """`equal` for each ``(column, value)`` pair."""
        for column, value in pairs:
            self.equal(column, value)
        return self

    def at_least(self, column: str, value: Any) -> Where:
        """``column >= ?``, unless ``value`` is ``None``."""
        return self if value is None else self.add(f"{column} >= ?", value)

    def before(self, column: str, value: Any) -> Where:
        """``column < ?``, unless ``value`` is ``None``."""
        return self if value is None else self.add(f"{column} < ?", value)

    def among(self, column: str, values: Sequence[Any] | None) -> Where:
        """``column IN (?, ...)``, unless ``values`` is ``None``; an empty list matches nothing."""
        if values is None:
            return self
        marks = ", ".join("?" for _ in values) or "NULL"
        return self.add(f"{column} IN ({marks})", *values)

    def __str__(self) -> str:
        return " AND ".join(self.conditions) or "TRUE"


def where_clause(model_name: str, versions: Sequence[str] | None,
                 time_range: TimeRange | None, *, role: str | None = None
                 ) -> tuple[str, list[Any]]:
    """SQL ``WHERE`` text and parameters for a model, optional versions, time range and role.

    An empty or ``None`` ``versions`` means every version.
    """
    where = Where().equal("model_name", model_name).among("version", versions or None)
    if time_range is not None:
        where.at_least("ts", time_range.start).before("ts", time_range.end)
    where.equal("role", role)
    return str(where), where.params
