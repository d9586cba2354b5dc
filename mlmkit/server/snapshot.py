"""A snapshot of the exporter's view of a workspace, refreshed in the background.

``/metrics`` and ``/health/ready`` of ``mlmkit serve`` answer from a
[`Snapshot`][mlmkit.server.Snapshot]: a thread reads the workspace once every ``interval``
seconds (the queries of [`generate_metrics`][mlmkit.ops.generate_metrics], through one short open of
the file) and keeps the last good exposition in memory with the time it was taken. A scrape or a
probe therefore never opens the file: it answers in microseconds whatever else holds the workspace,
and exports how old its values are.

=========================================== =====================================================
metric (added to the cached exposition)     meaning
=========================================== =====================================================
``mlmkit_snapshot_age_seconds``             seconds since the last successful refresh
                                            (``+Inf`` before the first one)
``mlmkit_snapshot_refresh_errors_total``    refreshes that failed since the snapshot started
``mlmkit_snapshot_last_refresh_ok``         1 when the newest refresh attempt succeeded
=========================================== =====================================================

Readiness is 503 before the first successful refresh, when the last refresh failed for any
reason but a lock held by another process (a truncated file, a newer schema, a missing file:
the reason is in the body), and when the snapshot is older than ``max_age`` (a lock held that
long counts too).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlmkit._validation import check_real
from mlmkit.exceptions import LockedError, MlmkitError
from mlmkit.ops._access import check_schema_current
from mlmkit.ops._exposition import CounterFamily, GaugeFamily, exposition
from mlmkit.ops.health import HealthResult
from mlmkit.ops.prometheus import MlmkitCollector, read_exposition_data
from mlmkit.store import migrations
from mlmkit.store.database import Database
from mlmkit.values import WindowLike, parse_window

__all__ = ["Snapshot", "Via"]

logger = logging.getLogger("mlmkit.server.snapshot")


Via = Callable[[Callable[[Database], dict[str, Any]]], dict[str, Any]]
"""Runs a read on the process that owns the file: ``via(read)`` returns ``read(db)``."""


class _Reader(MlmkitCollector):
    """The exporter's collector, remembering why its one read of the file failed."""

    error: MlmkitError | OSError | None = None
    via: Via | None = None

    def _read(self) -> dict[str, Any]:
        try:
            if self.via is None:
                return super()._read()
            window, path = self.window, self.path

            def read(db: Database) -> dict[str, Any]:
                check_schema_current(db, path)  # another process may have changed it
                return read_exposition_data(db, window)

            return self.via(read)
        except (MlmkitError, OSError) as err:
            self.error = err
            raise


@dataclass(frozen=True)
class _State:
    """What a scrape sees; replaced whole (one reference swap) by each refresh."""

    text: bytes | None = None  # last good exposition
    taken_at: float | None = None  # monotonic time of the last good refresh
    taken_wall: float | None = None  # unix time of the same
    errors: int = 0
    last_error: str | None = None  # reason of the newest attempt, None when it succeeded
    last_error_fatal: bool = False  # the failure was not a lock held by someone else


class Snapshot:
    """The last good metrics and readiness of the workspace at ``path``.

    Parameters
    ----------
    path
        The workspace file (never created or migrated).
    interval
        Seconds between background refreshes.
    window
        Window of the model performance gauges (as ``mlmkit serve --window``).
    max_age
        Readiness fails when the last good refresh is older than this many seconds
        (default ``max(10 * interval, 60)``).
    lock_timeout
        Seconds one refresh waits for the file when another process holds it.

    Examples
    --------
    >>> import tempfile, pathlib, mlmkit
    >>> db = pathlib.Path(tempfile.mkdtemp()) / "ws.duckdb"
    >>> mlmkit.open(db).close()
    >>> snap = Snapshot(db, interval=60)
    >>> snap.readiness().status_code  # nothing read yet
    503
    >>> snap.refresh()
    True
    >>> snap.readiness().status_code, b"mlmkit_workspace_up 1.0" in snap.metrics_text()
    (200, True)
    """

    def __init__(self, path: str | os.PathLike[str], *, interval: float = 5.0,
                 window: WindowLike = "1h", max_age: float | None = None,
                 lock_timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self.interval = check_real("interval", interval, low=0.01)
        self.window = parse_window(window)
        self.max_age = (max(10.0 * self.interval, 60.0) if max_age is None
                        else check_real("max_age", max_age, low=0.0))
        self.lock_timeout = check_real("lock_timeout", lock_timeout, low=0.0)
        self._state = _State()
        self._via: Via | None = None
        self._refreshing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- refreshing -------------------------------------------------------------------------
    def read_through(self, via: Via | None) -> None:
        """Read through the file's owner instead of opening the file (``None``: open it).

        ``mlmkit serve`` passes its writer thread, which holds the workspace open: a refresh
        then never takes the file away from ingestion.
        """
        self._via = via

    def refresh(self) -> bool:
        """Read the workspace now; returns whether it succeeded (a failure keeps old values).

        An unexpected error (a bug, not an unreadable file) is counted as a failed refresh,
        makes readiness fail, and is raised.
        """
        with self._refreshing:
            reader = _Reader(self.path, window=self.window, lock_timeout=self.lock_timeout)
            reader.via = self._via
            try:
                text = exposition(list(reader.families()))
            except Exception as err:
                self._failed(f"{type(err).__name__}: {err}", fatal=True)
                raise
            if reader.error is None:
                self._state = _State(text, time.monotonic(), time.time(), self._state.errors)
                return True
            why = reader.error
            self._failed(f"{type(why).__name__}: {why}",
                         fatal=not isinstance(why, LockedError | TimeoutError))
            return False

    def _failed(self, reason: str, *, fatal: bool) -> None:
        state = self._state
        self._state = _State(state.text, state.taken_at, state.taken_wall, state.errors + 1,
                             reason, fatal)
        logger.warning("snapshot refresh of %s failed: %s", self.path, reason)

    def start(self) -> Snapshot:
        """Refresh in a background thread every ``interval`` seconds (the first one at once)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mlmkit-snapshot",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background thread (waits for a refresh in progress up to ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.refresh()
            except Exception:  # recorded by refresh(); the refresh thread must not die
                logger.exception("snapshot refresh of %s crashed", self.path)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def __enter__(self) -> Snapshot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering (no I/O) -----------------------------------------------------------------
    @property
    def age_seconds(self) -> float:
        """Seconds since the last successful refresh (``inf`` before the first)."""
        taken = self._state.taken_at
        return math.inf if taken is None else time.monotonic() - taken

    @property
    def refresh_errors(self) -> int:
        """Failed refreshes since this snapshot was created."""
        return self._state.errors

    def metrics_text(self) -> bytes:
        """The cached Prometheus exposition plus the snapshot's own age and error count."""
        state = self._state
        body = state.text if state.text is not None else (
            b"# HELP mlmkit_workspace_up 1 when the workspace file could be read\n"
            b"# TYPE mlmkit_workspace_up gauge\nmlmkit_workspace_up 0.0\n")
        return body + self._own_lines(state)

    def _own_lines(self, state: _State) -> bytes:
        age = math.inf if state.taken_at is None else time.monotonic() - state.taken_at
        fresh = GaugeFamily("mlmkit_snapshot_age_seconds", "Seconds since the snapshot behind "
                            "this exposition was read from the workspace")
        fresh.add_metric([], age)
        errors = CounterFamily("mlmkit_snapshot_refresh_errors_total",
                               "Snapshot refreshes that failed")
        errors.add_metric([], state.errors)
        ok = GaugeFamily("mlmkit_snapshot_last_refresh_ok",
                         "1 when the newest refresh succeeded")
        ok.add_metric([], 0.0 if state.last_error else 1.0)
        return exposition([fresh, errors, ok])

    def readiness(self) -> HealthResult:
        """200 when a recent refresh succeeded; else 503 with the reason (no file access)."""
        state = self._state
        age = math.inf if state.taken_at is None else time.monotonic() - state.taken_at
        info: dict[str, Any] = {
            "snapshot_age_s": None if math.isinf(age) else round(age, 3),
            "snapshot_taken_at": state.taken_wall, "refresh_errors": state.errors}
        if state.last_error is not None:
            info["last_error"] = state.last_error
        if state.taken_at is None:
            reason = state.last_error or "no snapshot taken yet"
            return HealthResult(503, {"status": "error", "error": reason, **info})
        if state.last_error is not None and state.last_error_fatal:
            return HealthResult(503, {"status": "error", "error": state.last_error, **info})
        if age > self.max_age:
            return HealthResult(503, {"status": "error", **info, "error":
                                      f"snapshot is {age:.0f} s old (max_age {self.max_age:g} s)"})
        return HealthResult(200, {"status": "ok",
                                  "schema_version": migrations.latest_version(), **info})

    def __repr__(self) -> str:
        return (f"Snapshot({self.path!r}, interval={self.interval:g}, "
                f"age_seconds={self.age_seconds:.1f}, errors={self.refresh_errors})")
