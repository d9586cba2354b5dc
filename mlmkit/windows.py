"""Time in mlmkit: the current time, UTC normalisation and the one window rule.

Every public method that reads a time range resolves it here, once, at the edge
([`resolve_range`][mlmkit.windows.resolve_range]): a ``window`` (``"15m"``, ``"24h"``, ``"7d"``, a
timedelta) counted back from now, or explicit ``start`` / ``end`` — never both. Inner layers receive
a [`TimeRange`][mlmkit.windows.TimeRange]. ``utcnow`` reads [`mlmkit.clock`][mlmkit.clock], so a
simulation moves every window. Re-exported by [`mlmkit.values`][mlmkit.values].
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from mlmkit import clock as _clock
from mlmkit._validation import invalid

__all__ = ["EPOCH", "DefaultWindow", "TimeRange", "WindowLike", "parse_window", "resolve_range",
           "utc", "utcnow"]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (from [`mlmkit.clock`][mlmkit.clock])."""
    return _clock.now()


def utc(value: datetime, name: str = "timestamp") -> datetime:
    """Return ``value`` as an aware UTC datetime (naive datetimes are taken as UTC)."""
    if not isinstance(value, datetime):
        raise invalid(name, "a datetime", value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


WindowLike = str | timedelta
_WINDOW_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(window: WindowLike, name: str = "window") -> timedelta:
    """Parse ``"15m"``, ``"24h"``, ``"7d"``, ``"2w"``, ``"30s"`` or a timedelta.

    Examples
    --------
    >>> parse_window("15m")
    datetime.timedelta(seconds=900)
    >>> parse_window("7d").days
    7
    """
    if isinstance(window, timedelta):
        delta = window
    elif isinstance(window, str) and (match := _WINDOW_RE.match(window)):
        try:
            delta = timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        except OverflowError as err:  # (beyond timedelta.max: 999999999 days)
            raise invalid(name, f"a duration of at most {timedelta.max.days} days",
                          window) from err
    else:
        raise invalid(name, "a duration such as '15m', '24h', '7d' or a timedelta", window)
    if delta <= timedelta(0):
        raise invalid(name, "a positive duration", window)
    return delta


@dataclasses.dataclass(frozen=True)
class TimeRange:
    """A half-open UTC time range ``[start, end)``; build it with `resolve_range`."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        """Length of the range."""
        return self.end - self.start


class DefaultWindow(str):
    """A window a signature uses when the caller gives none (``window=DefaultWindow("24h")``).

    It reads as the plain string in ``help()``; [`resolve_range`][mlmkit.windows.resolve_range] lets
    explicit ``start`` / ``end`` replace it, whereas a window the caller passed conflicts with them.
    """

    __slots__ = ()


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAIR_TYPES = (tuple, list)


@overload
def resolve_range(window: Any = None, *, start: datetime | None = None,
                  end: datetime | None = None, now: datetime | None = None,
                  default: WindowLike = "24h", name: str = "window") -> TimeRange: ...


@overload
def resolve_range(window: Any = None, *, start: datetime | None = None,
                  end: datetime | None = None, now: datetime | None = None,
                  default: None, name: str = "window") -> TimeRange | None: ...


def resolve_range(window: Any = None, *, start: datetime | None = None,
                  end: datetime | None = None, now: datetime | None = None,
                  default: WindowLike | None = "24h", name: str = "window") -> TimeRange | None:
    """THE window rule: turn ``window`` or ``start`` / ``end`` into a `TimeRange`.

    Every public windowed entry point (monitor, A/B test, log, tuning, jobs, viz data) calls
    this once and passes the [`TimeRange`][mlmkit.windows.TimeRange] inward.

    * ``window`` (``"24h"``, ``"7d"``, a timedelta) is the span of that length ending at
      ``now``; a ``(start, end)`` pair is that span. It is *either* ``window`` *or*
      ``start`` / ``end``: giving both raises [`ValidationError`][mlmkit.exceptions.ValidationError]
      (a [`DefaultWindow`][mlmkit.windows.DefaultWindow], a signature's default, gives way to them
      instead).
    * With ``start`` / ``end``: a missing ``end`` is ``now``; a missing ``start`` is
      ``end - default`` (the beginning of the log, `EPOCH`, when ``default`` is None).
    * With neither: the ``default`` window ending at ``now``; ``None`` when ``default`` is
      None (the caller reads every row).
    * Datetimes must be `datetime`; naive ones are taken as UTC (as everywhere in
      mlmkit, see [`utc`][mlmkit.windows.utc]), and ``start`` must be earlier than ``end``.
    * ``now`` defaults to the current time; jobs pass their run time.
    * ``name`` names the argument in errors (``"baseline"`` gives ``baseline``,
      ``baseline start``, ``baseline end``).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> r = resolve_range("24h", now=datetime(2026, 1, 2, tzinfo=UTC))
    >>> r.start.isoformat(), r.end.isoformat()
    ('2026-01-01T00:00:00+00:00', '2026-01-02T00:00:00+00:00')
    >>> try:
    ...     resolve_range("7d", start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))
    ... except ValueError as err:
    ...     print(err)
    window must be None when start or end is given (a window or start/end, not both); got '7d'
    """
    start_name, end_name = ("start", "end") if name == "window" else (f"{name} start",
                                                                      f"{name} end")
    fallback: WindowLike | None = default
    if isinstance(window, DefaultWindow):
        window, fallback = None, str(window)
    if window is not None and (start is not None or end is not None):
        raise invalid(name, "None when start or end is given (a window or start/end, not both)",
                      window)
    if isinstance(window, _PAIR_TYPES):
        if len(window) != 2:
            raise invalid(name, "a duration or a (start, end) pair", window)
        start, end = window
        if start is None or end is None:
            raise invalid(name, "a (start, end) pair of datetimes", window)
        window = None
    anchor = utc(now, "now") if now is not None else utcnow()
    if window is None and start is None and end is None:
        if fallback is None:
            return None
        window = fallback
    if window is not None:
        return TimeRange(_back(anchor, window, name), anchor)
    stop = utc(end, end_name) if end is not None else anchor
    if start is not None:
        begin = utc(start, start_name)
    else:
        begin = EPOCH if fallback is None else _back(stop, fallback, "default")
    if begin >= stop:
        raise invalid(start_name, f"earlier than {end_name} ({stop.isoformat()})",
                      begin.isoformat())
    return TimeRange(begin, stop)


def _back(end: datetime, window: WindowLike, name: str) -> datetime:
    """``end`` minus the ``window`` duration; a window reaching before year 1 is refused."""
    try:
        return end - parse_window(window, name)
    except OverflowError as err:
        raise invalid(name, f"a duration that starts after year 1 (counted back from "
                      f"{end.isoformat()})", window) from err
