"""A buffered client: predictions collected in memory, posted in batches (like BufferedWriter)."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlmkit._validation import check_int, check_real
from mlmkit.client._http import Client, RejectedError, UnavailableError

__all__ = ["BufferedClient"]

logger = logging.getLogger("mlmkit.client")
_OPEN: weakref.WeakSet[BufferedClient] = weakref.WeakSet()
_OPEN_HOOK: list[bool] = []


class BufferedClient:
    """Collects predictions and posts them as one batch to ``mlmkit serve``.

    A prediction is durable once its batch is acknowledged: every ``max_rows`` rows, once the
    oldest buffered row is ``max_seconds`` old (a timer thread checks), on
    [`flush`][mlmkit.client.BufferedClient.flush] /
    [`close`][mlmkit.client.BufferedClient.close] and at interpreter exit. Each
    [`track`][mlmkit.client.BufferedClient.track] is validated when it is made (the checks
    of ``ws.log.track``), so a bad call raises at once and never poisons a batch. A batch the server
    cannot take now (unreachable after the retries) stays buffered and is tried again; beyond
    ``max_pending`` rows [`track`][mlmkit.client.BufferedClient.track] raises
    [`UnavailableError`][mlmkit.client.UnavailableError] instead of growing without bound.
    After ``fork()`` the child starts empty (the parent flushes its own rows) with its own ids.

    Parameters
    ----------
    base_url, token
        As for [`Client`][mlmkit.client.Client]; other keyword arguments go to it as well.
    max_rows
        Rows per batch.
    max_seconds
        Longest a row waits in the buffer.
    max_pending
        Most rows held while the server is unreachable.
    tasks
        The task of each model this client logs (``{"intent": "multiclass"}``): its rows are
        validated locally as that task logs them (`mlmkit.services.ingest`); a model not
        named is validated as binary, unless ``track`` is given ``task=``. The server
        validates every row again by the task it registered for the model.
    """

    def __init__(self, base_url: str, token: str | None = None, *, max_rows: int = 1_000,
                 max_seconds: float = 1.0, max_pending: int = 100_000,
                 tasks: Mapping[str, str] | None = None, **client_options: Any) -> None:
        from mlmkit.values import parse_task

        self.tasks = {name: parse_task(t, f"tasks[{name!r}]") for name, t in (tasks or {}).items()}
        self.client = Client(base_url, token, **client_options)
        self.max_rows = check_int("max_rows", max_rows, low=1)
        self.max_seconds = check_real("max_seconds", max_seconds, low=0.0)
        self.max_pending = check_int("max_pending", max_pending, low=max_rows)
        self.written = 0
        self._start(os.getpid())
        if not _OPEN_HOOK:  # registered on first use: importing the module does nothing
            atexit.register(_flush_at_exit)
            _OPEN_HOOK.append(True)
        _OPEN.add(self)

    def _start(self, pid: int) -> None:
        self._pid = pid
        self._rows: list[dict[str, Any]] = []
        self._first_at: float | None = None
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._closed = threading.Event()
        self._timer: threading.Thread | None = None

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:  # the buffered rows are the parent's to send
            self._start(os.getpid())

    def track(self, model_name: str, version: Any, prediction: Any = None, *,
              actual: Any = None, score: float | None = None,
              confidence: float | None = None, features: Mapping[str, Any] | None = None,
              prediction_id: str | None = None, timestamp: datetime | None = None,
              unit_id: str | int | None = None, role: str = "served",
              probabilities: Mapping[Any, float] | None = None, task: str | None = None
              ) -> str:
        """Validate and buffer one prediction; returns its id (generated if not given).

        The arguments are those of ``ws.log.track`` for the model's task: ``task`` (or the
        client's ``tasks``; default binary) says which, so that a multiclass, regression or
        score-only row is checked as its task logs it, not refused as a bad binary row.
        """
        from mlmkit.catalogue import Task
        from mlmkit.services.ingest import prediction_row
        from mlmkit.values import parse_task

        kind = parse_task(task) if task is not None else self.tasks.get(model_name,
                                                                         Task.BINARY)
        prediction_row(model_name, version, prediction, actual=actual, score=score,
                       confidence=confidence, features=features, prediction_id=prediction_id,
                       timestamp=timestamp, unit_id=unit_id, role=role,
                       probabilities=probabilities, task=kind)
        if kind is not Task.BINARY:  # a model's task never changes: later rows and the flush
            self.tasks[model_name] = kind  # (one task per posted batch) use it
        self._check_fork()
        row = self.client.row(model_name, version, prediction, actual=actual, score=score,
                              confidence=confidence, features=features,
                              prediction_id=prediction_id,
                              timestamp=timestamp or datetime.now(UTC), unit_id=unit_id,
                              role=role, probabilities=probabilities)
        with self._lock:
            if len(self._rows) >= self.max_pending:
                raise UnavailableError(f"max_pending ({self.max_pending}) rows are waiting for "
                                       f"{self.client.base_url}; the prediction was not buffered")
            self._rows.append(row)
            if self._first_at is None:
                self._first_at = time.monotonic()
            full = len(self._rows) >= self.max_rows
            if self._timer is None:
                self._timer = threading.Thread(target=_tick, args=(
                    weakref.ref(self), self._closed, min(max(self.max_seconds / 4, 0.05), 1.0)),
                    name="mlmkit-client-flush", daemon=True)
                self._timer.start()
        if full:
            try:
                self.flush()
            except UnavailableError as err:  # the rows stay buffered; the timer tries again
                logger.warning("buffered flush to %s failed: %s", self.client.base_url, err)
        return str(row["prediction_id"])

    def _due(self) -> bool:
        first = self._first_at
        return first is not None and time.monotonic() - first >= self.max_seconds

    def flush(self) -> int:
        """Post every buffered row now; returns the rows the server wrote."""
        self._check_fork()
        written = 0
        with self._flushing:
            while True:
                with self._lock:
                    batch, self._rows = self._rows[:self.max_rows], self._rows[self.max_rows:]
                    self._first_at = time.monotonic() if self._rows else None
                if not batch:
                    return written
                groups = self._by_task(batch)  # the server takes one task per batch
                while groups:
                    try:
                        answer = self.client.track_batch(groups[0])
                    except RejectedError:
                        self._unsend([r for g in groups[1:] for r in g])
                        raise  # a batch the server refuses is dropped: retrying cannot help
                    except UnavailableError:  # kept (ids fixed: a replay is harmless), retried
                        self._unsend([r for g in groups for r in g])
                        raise
                    groups.pop(0)
                    written += answer["written"]
                    self.written += answer["written"]

    def _by_task(self, batch: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """``batch`` split by the task of each row's model (order kept within a task)."""
        groups: dict[object, list[dict[str, Any]]] = {}
        for row in batch:
            groups.setdefault(self.tasks.get(row["model_name"]), []).append(row)
        return list(groups.values())

    def _unsend(self, rows: list[dict[str, Any]]) -> None:
        """Put ``rows`` back at the head of the buffer (to be posted again later)."""
        if rows:
            with self._lock:
                self._rows[:0] = rows
                self._first_at = time.monotonic()

    @property
    def pending(self) -> int:
        """Rows buffered, not yet acknowledged."""
        return len(self._rows)

    def close(self) -> None:
        """Flush and stop the timer (the client's connections are closed too)."""
        self._closed.set()
        _OPEN.discard(self)
        try:
            self.flush()
        finally:
            self.client.close()

    def __enter__(self) -> BufferedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BufferedClient({self.client.base_url!r}, pending={self.pending})"


def _tick(ref: weakref.ref[BufferedClient], closed: threading.Event, every: float) -> None:
    """Timer thread: flush a client whose oldest row is due, until it closes or is collected."""
    pid = os.getpid()
    while not closed.wait(every):
        buffered = ref()
        if buffered is None or os.getpid() != pid:
            return
        if buffered._due():
            try:
                buffered.flush()
            except (UnavailableError, RejectedError) as err:  # reported; rows kept if retryable
                logger.warning("buffered flush to %s failed: %s", buffered.client.base_url, err)
        del buffered


def _flush_at_exit() -> None:
    for buffered in list(_OPEN):
        if buffered._pid != os.getpid() or not buffered.pending:
            continue
        try:
            buffered.flush()
        except (UnavailableError, RejectedError) as err:
            logger.error("at exit, %d prediction(s) could not be sent to %s: %s",
                         buffered.pending, buffered.client.base_url, err)
