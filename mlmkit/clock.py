"""The one clock every layer reads, injectable so that time can be simulated.

``mlmkit.values.utcnow()`` — used by windows, alert cool-downs, rollouts, jobs, retention and
the Prometheus exporter — asks this module. By default it is the system clock; a simulation
installs a [`SimulatedClock`][mlmkit.clock.SimulatedClock] with
[`use_clock`][mlmkit.clock.use_clock] and advances it in steps, so a month of operation runs in
seconds and every component agrees on what "now" is.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> sim = SimulatedClock(datetime(2026, 1, 5, tzinfo=UTC))
>>> sim.advance(timedelta(hours=2)).isoformat()
'2026-01-05T02:00:00+00:00'
>>> with use_clock(sim):   # now every utcnow() in mlmkit reads 2026-01-05 02:00 UTC
...     pass
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from mlmkit._validation import invalid

__all__ = ["SimulatedClock", "now", "use_clock"]

Clock = Callable[[], datetime]
_source: Clock | None = None
_lock = threading.Lock()


def now() -> datetime:
    """Return the current time as an aware UTC datetime, from the installed clock."""
    source = _source
    return datetime.now(UTC) if source is None else source()


@contextlib.contextmanager
def use_clock(source: Clock) -> Iterator[Clock]:
    """Install ``source`` as the process-wide clock for the ``with`` block (threads included)."""
    global _source
    if not callable(source):
        raise invalid("source", "a callable returning an aware datetime", source)
    with _lock:
        previous, _source = _source, source
    try:
        yield source
    finally:
        with _lock:
            _source = previous


class SimulatedClock:
    """A clock that stands still until it is advanced; callable, so it can be installed."""

    def __init__(self, start: datetime) -> None:
        if not isinstance(start, datetime) or start.tzinfo is None:
            raise invalid("start", "an aware datetime", start)
        self._now = start.astimezone(UTC)
        self._guard = threading.Lock()

    def __call__(self) -> datetime:
        """Return the simulated current time."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by ``delta`` (never backwards) and return the new time."""
        if not isinstance(delta, timedelta) or delta < timedelta(0):
            raise invalid("delta", "a non-negative timedelta", delta)
        with self._guard:
            self._now += delta
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``, which must not be earlier than the current time."""
        if not isinstance(moment, datetime) or moment.tzinfo is None or moment < self._now:
            raise invalid("moment", f"an aware datetime not before {self._now.isoformat()}",
                          moment)
        with self._guard:
            self._now = moment.astimezone(UTC)
