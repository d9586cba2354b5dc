"""Standard (Vixie) cron expressions, evaluated as pure functions of an injected clock.

The scheduler reads cadences with these semantics, not APScheduler's own cron syntax (which
numbers weekdays from Monday, so ``0 2 * * 0`` would run on Mondays):

- five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or ``jan``-``dec``),
  day of week (0-7 or ``sun``-``sat``; both 0 and 7 are Sunday);
- each field is a comma list of ``*``, ``N``, ``N-M``, ``*/S``, ``N-M/S`` or ``N/S`` (``N``
  to the field's maximum, every ``S``); names are case-insensitive;
- macros ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``)
  and ``@hourly``;
- the Vixie day rule: when the day-of-month and day-of-week fields both are restricted (do not
  start with ``*``) a day matches if EITHER matches; otherwise both must match.

Times are wall-clock times in the schedule's zone. A wall time skipped by a daylight-saving
jump fires at the end of the gap; a repeated wall time fires once (its first occurrence),
except that a schedule whose minute or hour field starts with ``*`` keeps firing through the
repeated hour (Vixie cron's rules).

Examples
--------
>>> from datetime import datetime, UTC
>>> [t.strftime("%a %Y-%m-%d %H:%M") for t in
...  next_fire_times("0 2 * * 0", datetime(2024, 1, 1, tzinfo=UTC), 2)]
['Sun 2024-01-07 02:00', 'Sun 2024-01-14 02:00']
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mlmkit._validation import invalid

__all__ = ["CronSchedule", "next_fire_times", "parse_cron"]

_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@hourly": "0 * * * *"}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, low, high, names mapped to numbers)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
    ("month", 1, 12, {n: i + 1 for i, n in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {n: i for i, n in enumerate(_DAYS)}))
_FEB_DAYS = 29
_MONTH_DAYS = (31, _FEB_DAYS, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_SEARCH_DAYS = 366 * 9  # 29 February can be eight years away (2096 -> 2104)
_EXPECTATION = "a five-field crontab expression (minute hour day month weekday) or a macro"


def _number(token: str, name: str, low: int, high: int, names: dict[str, int],
            expr: str, arg: str) -> int:
    key = token.lower()
    if key in names:
        return names[key]
    if not token.isdigit() or not low <= int(token) <= high:
        raise invalid(arg, f"{_EXPECTATION}; {name} values are {low}-{high}", expr)
    return int(token)


def _field(text: str, index: int, expr: str, arg: str) -> frozenset[int]:
    name, low, high, names = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise invalid(arg, f"{_EXPECTATION}; a {name} step is a positive integer",
                              expr)
            step = int(step_text)
        if base == "*":
            first, last = low, high
        else:
            start, dash, end = base.partition("-")
            first = _number(start, name, low, high, names, expr, arg)
            last = _number(end, name, low, high, names, expr, arg) if dash else (
                high if slash else first)
            if last < first:
                raise invalid(arg, f"{_EXPECTATION}; a {name} range runs low-high", expr)
        values.update(range(first, last + 1, step))
    if index == 4 and 7 in values:  # 7 is Sunday as well
        values.discard(7)
        values.add(0)
    return frozenset(values)


@dataclasses.dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression in a time zone; `next_after` is a pure function.

    Build it with `parse_cron`. ``day_or`` is the Vixie rule: True when both day
    fields are restricted, so a day matching either fires. ``frequent`` is Vixie's rule for
    daylight saving: a schedule whose minute or hour field starts with ``*`` runs by the real
    clock, so it also fires in the hour repeated after the clocks go back.
    """

    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_or: bool
    frequent: bool = False  # minute or hour starts with "*": also fires in a repeated hour
    tz: tzinfo = UTC

    def _day_matches(self, day: datetime) -> bool:
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        return (dom or dow) if self.day_or else (dom and dow)

    def _next_wall(self, wall: datetime) -> datetime:
        """The first matching naive wall time at or after ``wall`` (whole minutes)."""
        limit = wall + timedelta(days=_SEARCH_DAYS)
        while wall < limit:
            if wall.month not in self.months:
                wall = (wall.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(
                    day=1)
            elif not self._day_matches(wall):
                wall = wall.replace(hour=0, minute=0) + timedelta(days=1)
            elif wall.hour not in self.hours:
                wall = wall.replace(minute=0) + timedelta(hours=1)
            elif wall.minute not in self.minutes:
                wall += timedelta(minutes=1)
            else:
                return wall
        raise invalid("cron", "an expression that fires at least every eight years", self.expr)

    def _first_after(self, moment: datetime, wall: datetime) -> datetime:
        """The first fire (in UTC) after the UTC ``moment``, searching from naive ``wall``."""
        while True:
            wall = self._next_wall(wall)
            candidate = _existing(wall, self.tz)
            if self.frequent:  # by the real clock: skip a DST gap, repeat a repeated hour
                if candidate.astimezone(self.tz).replace(tzinfo=None) != wall:
                    wall += timedelta(minutes=1)
                    continue
                if candidate <= moment:
                    candidate = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
            if candidate > moment:
                return candidate
            wall += timedelta(minutes=1)

    def next_after(self, after: datetime) -> datetime:
        """The first fire time strictly after ``after``, as an aware UTC datetime.

        A naive ``after`` is read as UTC. (UTC, because Python compares two datetimes of one
        zone by wall time, which misorders the repeated hour after the clocks go back.)
        """
        moment = (after if after.tzinfo is not None else after.replace(tzinfo=UTC)).astimezone(
            UTC)
        local = moment.astimezone(self.tz)
        wall = local.replace(tzinfo=None, second=0, microsecond=0, fold=0)
        found = self._first_after(moment, wall + timedelta(minutes=1))
        back = _fall_back(moment, found, self.tz) if self.frequent else None
        if back is not None:  # the clock went back before ``found``: the hour repeats
            found = min(found, self._first_after(moment, back))
        return found

    def fire_times(self, after: datetime, n: int) -> list[datetime]:
        """The next ``n`` fire times strictly after ``after``."""
        times: list[datetime] = []
        for _ in range(n):
            after = self.next_after(after)
            times.append(after)
        return times


def _existing(wall: datetime, tz: tzinfo) -> datetime:
    """``wall`` in zone ``tz`` as a UTC instant (its first occurrence).

    A wall time in a DST gap becomes the end of the gap, the first wall time that exists.
    """
    probe = wall
    while True:
        candidate = probe.replace(tzinfo=tz).astimezone(UTC)
        if candidate.astimezone(tz).replace(tzinfo=None) == probe:
            return candidate
        probe += timedelta(minutes=1)


def _fall_back(moment: datetime, until: datetime, tz: tzinfo) -> datetime | None:
    """The wall time the clock jumps back to between ``moment`` and ``until``, if it does."""
    before, after = moment.astimezone(tz).utcoffset(), until.astimezone(tz).utcoffset()
    if before is None or after is None or after >= before:
        return None
    low, high = moment.astimezone(UTC), until.astimezone(UTC)
    while high - low > timedelta(minutes=1):  # the first minute with the later offset
        mid = low + (high - low) / 2
        if mid.astimezone(tz).utcoffset() == before:
            low = mid
        else:
            high = mid
    return high.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)


def _zone(tz: str | tzinfo) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    if not isinstance(tz, str):
        raise invalid("timezone", "an IANA time zone name such as 'Europe/Berlin'", tz)
    if tz.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise invalid("timezone", "an IANA time zone name such as 'Europe/Berlin'", tz) from err


def parse_cron(expr: str, tz: str | tzinfo = "UTC", *, name: str = "cron") -> CronSchedule:
    """Parse a standard cron expression (see the module docstring) read in zone ``tz``.

    ``name`` is the argument named by the [`ValidationError`][mlmkit.exceptions.ValidationError].

    Examples
    --------
    >>> s = parse_cron("*/15 9-17 * * mon-fri")
    >>> sorted(s.minutes), min(s.hours), max(s.hours), sorted(s.weekdays)
    ([0, 15, 30, 45], 9, 17, [1, 2, 3, 4, 5])
    >>> parse_cron("0 0 1,15 * 5").day_or, parse_cron("0 0 * * 5").day_or
    (True, False)
    """
    if not isinstance(expr, str):
        raise invalid(name, _EXPECTATION, expr)
    text = _MACROS.get(expr.strip().lower(), expr)
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise invalid(name, _EXPECTATION, expr)
    minutes, hours, days, months, weekdays = (_field(p, i, expr, name) for i, p in enumerate(parts))
    day_or = not parts[2].startswith("*") and not parts[4].startswith("*")
    if not day_or and not any(d <= _MONTH_DAYS[m - 1] for m in months for d in days):
        raise invalid(name, f"{_EXPECTATION} naming a day that exists in its months", expr)
    frequent = parts[0].startswith("*") or parts[1].startswith("*")
    return CronSchedule(expr, minutes, hours, days, months, weekdays, day_or, frequent,
                        _zone(tz))


def next_fire_times(expr: str | CronSchedule, after: datetime, n: int = 1, *,
                    tz: str | tzinfo = "UTC") -> list[datetime]:
    """The next ``n`` times ``expr`` fires strictly after ``after`` (aware UTC datetimes).

    Pure: the clock is the ``after`` argument, so simulations and tests drive the same code
    path as [`mlmkit.ops.run_scheduler`][mlmkit.ops.run_scheduler].

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> [t.strftime("%a %d %H:%M") for t in
    ...  next_fire_times("0 0 1,15 * 5", datetime(2024, 1, 1, tzinfo=UTC), 4)]
    ['Fri 05 00:00', 'Fri 12 00:00', 'Mon 15 00:00', 'Fri 19 00:00']
    """
    schedule = expr if isinstance(expr, CronSchedule) else parse_cron(expr, tz)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise invalid("n", "a non-negative integer", n)
    if not isinstance(after, datetime):
        raise invalid("after", "a datetime", after)
    return schedule.fire_times(after, n)
