"""The buffered writer (``ws.log.buffered()``): predictions kept in memory, written in batches.

Flushed by size, by age (a timer thread), on close, at interpreter exit and on SIGTERM; a
forked child starts with an empty buffer of its own (see
[`BufferedWriter`][mlmkit.services.log.BufferedWriter]).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Mapping
from datetime import datetime
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

import polars as pl

from mlmkit._faults import fault_point
from mlmkit._validation import check_int, check_real, invalid
from mlmkit.exceptions import MlmkitError
from mlmkit.services.ingest import Feature, prediction_row
from mlmkit.values import Task, VersionLike

if TYPE_CHECKING:
    from mlmkit.services.log import PredictionLog

__all__ = ["BufferedWriter"]


class BufferedWriter:
    """Collects predictions in memory and writes them as one batch.

    Durability trade-off: a prediction is durable only once its batch is flushed: every
    ``max_rows`` rows, once the oldest buffered row is ``max_seconds`` old (a timer thread
    checks, so an idle writer flushes too), on
    [`flush`][mlmkit.services.log.BufferedWriter.flush] /
    [`close`][mlmkit.services.log.BufferedWriter.close], at interpreter exit and on SIGTERM
    (the handler, installed when a writer is created in the main thread, flushes every open writer
    and then runs the handler that was there before). A crash (``kill -9``, power loss) loses at
    most the unflushed buffer; in exchange a single thread logs hundreds of thousands of predictions
    a second. Each call is validated when it is made, so a bad call raises at once and never poisons
    a batch.

    Examples
    --------
    >>> import mlmkit
    >>> with mlmkit.open() as ws:
    ...     with ws.log.buffered(max_rows=100) as buf:
    ...         for i in range(250):
    ...             _ = buf.track("m", "1.0.0", i % 2 == 0, score=0.5)
    ...     ws.log.count("m")
    250
    """

    def __init__(self, log: PredictionLog, *, max_rows: int = 10_000,
                 max_seconds: float = 1.0) -> None:
        self._log = log
        self.max_rows = check_int("max_rows", max_rows, low=1)
        self.max_seconds = check_real("max_seconds", max_seconds, low=0.0)
        self._columns: dict[str, list[object]] = {}
        self._keys: tuple[str, ...] = ()
        self._lists: list[list[object]] = []
        self._prefix = uuid.uuid4().hex[:14]
        self._counter = 0
        self._caller_ids = False
        self._size = 0
        self._first_at: float | None = None
        self._kinds: dict[tuple[str, str], str] = {}
        self._tasks: dict[str, Task] = {}
        self._task: Task | None = None  # of the buffered rows
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self.written = 0
        _exit_flush.register(self)
        self._timer = False
        self._start_timer()

    def _start_timer(self) -> None:
        self._timer = True
        threading.Thread(target=_tick, args=(weakref.ref(self), self._closed,
                                             min(max(self.max_seconds / 4, 0.05), 1.0)),
                         name="mlmkit-buffered-flush", daemon=True).start()

    def _after_fork_child(self) -> None:
        """In a forked child: the buffer belongs to the parent (which flushes it).

        The child starts empty, with its own id prefix (ids stay unique), a new lock (the
        parent's may have been held by another thread at the fork) and, on its first
        [`track`][mlmkit.services.log.BufferedWriter.track], its own timer thread (threads do
        not survive a fork).
        """
        self._columns, self._keys, self._lists = {}, (), []
        self._size, self._first_at, self._caller_ids = 0, None, False
        self._prefix, self._counter = uuid.uuid4().hex[:14], 0
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._timer = False
        self.written = 0

    def track(self, model_name: str, version: VersionLike, prediction: object = None, *,
              actual: object = None, score: float | None = None,
              confidence: float | None = None,
              probabilities: Mapping[object, float] | None = None,
              features: Mapping[str, object] | None = None,
              prediction_id: str | None = None, timestamp: datetime | None = None,
              unit_id: str | int | None = None, role: str = "served") -> str:
        """Validate and buffer one prediction; returns its id (generated if not given).

        The arguments are those of
        [`PredictionLog.track`][mlmkit.services.log.PredictionLog.track] for the model's task
        (looked up once per model by this writer; the flush checks it again). A batch holds
        one task: a row of another task than the buffered ones flushes them first, so
        interleave models of different tasks through separate writers.
        """
        task = self._tasks.get(model_name)
        if task is None:
            task = self._tasks[model_name] = self._log.task(model_name)
        row, canonical = prediction_row(
            model_name, version, prediction, actual=actual, score=score, confidence=confidence,
            probabilities=probabilities, features=features, prediction_id=prediction_id,
            timestamp=timestamp, unit_id=unit_id, role=role, max_future=self._log.max_future,
            task=task)
        if canonical:
            self._check_kinds(model_name, canonical)
        values: dict[str, object] = {_INPUT.get(k, k): v for k, v in row.items()}
        if "prediction_id" not in row:
            self._counter += 1
            values["prediction_id"] = pid = f"{self._prefix}{self._counter:010x}"
        else:
            pid = row["prediction_id"]
            self._caller_ids = True
        values.pop("labelled_at", None)
        del values["ts"]
        values["timestamp"] = round(row["ts"].timestamp() * 1_000_000)
        for key, (_, feature) in canonical.items():
            values[key] = feature
        if not self._timer:  # a forked child: its own timer thread
            self._start_timer()
        with self._lock:
            if task is not self._task:  # a batch holds one task: flush the other task's rows
                if self._size:
                    self.flush()
                self._task = task
            keys = tuple(values)
            if keys == self._keys:
                for column, value in zip(self._lists, values.values(), strict=True):
                    column.append(value)
            else:
                self._append_new_shape(values)
            self._size += 1
            if self._first_at is None:
                self._first_at = time.monotonic()
            full = self._size >= self.max_rows or self._due()
        if full:
            self.flush()
        return pid

    def _due(self) -> bool:
        return self._first_at is not None and \
            time.monotonic() - self._first_at >= self.max_seconds

    def _check_kinds(self, model_name: str, canonical: Mapping[str, Feature]) -> None:
        """A feature keeps one kind: in this writer's buffer and as logged before."""
        for feature, (kind, value) in canonical.items():
            if kind is None:
                continue
            known = self._kinds.get((model_name, feature))
            if known is None:
                known = self._log.store.feature_map(model_name).get(feature, ("", kind))[1]
                self._kinds[(model_name, feature)] = known
            if known != kind:
                raise invalid(f"features[{feature!r}]", f"a {known} value (logged as {known} "
                              f"for {model_name!r} before)", value)

    def _append_new_shape(self, row: dict[str, object]) -> None:
        for key, value in row.items():
            self._columns.setdefault(key, [None] * self._size).append(value)
        for column in self._columns.values():
            if len(column) <= self._size:
                column.append(None)
        self._keys = tuple(row)
        self._lists = [self._columns[k] for k in self._keys]

    def flush(self) -> int:
        """Write the buffer as one batch; returns rows written."""
        with self._lock:
            columns, self._columns, self._size, self._first_at = self._columns, {}, 0, None
            self._keys, self._lists = (), []
            caller_ids, self._caller_ids = self._caller_ids, False
            if not columns:
                return 0
            frame = pl.DataFrame({k: pl.Series(k, v, strict=False) for k, v in columns.items()})
            frame = frame.with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")))
            fault_point("log.flush.before_insert")
            # ids this writer generated (random prefix + counter) cannot clash with the table
            written = self._log._insert(frame, generated_ids=not caller_ids)
            fault_point("log.flush.after_insert")
            self.written += written
        return written

    def close(self) -> None:
        """Flush what is buffered and stop the timer."""
        self._closed.set()
        _exit_flush.unregister(self)
        self.flush()

    def __enter__(self) -> BufferedWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


_INPUT = {"label": "prediction", "value": "prediction", "actual_label": "actual",
          "actual_value": "actual"}
"""Canonical row keys of each task -> the batch column the flush validates them under."""


def _tick(ref: weakref.ref[BufferedWriter], closed: threading.Event, every: float) -> None:
    """Timer thread: flush a writer whose oldest row is due, until it closes or is collected."""
    while not closed.wait(every):
        writer = ref()
        if writer is None:
            return
        if writer._due():
            writer.flush()
        del writer


class _ExitFlush:
    """Flushes open writers at interpreter exit and on SIGTERM (then the previous handler)."""

    def __init__(self) -> None:
        self.writers: weakref.WeakSet[BufferedWriter] = weakref.WeakSet()
        self.previous: object = None
        self.at_exit = self.on_signal = False

    def register(self, writer: BufferedWriter) -> None:
        """Flush ``writer`` at exit and on SIGTERM (the handler is set from the main thread)."""
        if not self.at_exit:
            atexit.register(self.flush_all)
            self.at_exit = True
        if not self.on_signal and threading.current_thread() is threading.main_thread():
            self.previous = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, self.on_sigterm)
            self.on_signal = True
        self.writers.add(writer)

    def unregister(self, writer: BufferedWriter) -> None:
        self.writers.discard(writer)

    def after_fork_child(self) -> None:
        for writer in list(self.writers):
            writer._after_fork_child()
        # The parent's SIGTERM handler does not belong to the child: a forked worker (a
        # multiprocessing pool, gunicorn, Celery) must die on SIGTERM as it would without
        # mlmkit, not run a flush of writers it inherited (a pool's terminate() hung on that
        # in CI). A writer the child uses from its main thread installs the handler again.
        if self.on_signal:
            previous = self.previous if self.previous is not None else signal.SIG_DFL
            with contextlib.suppress(ValueError):  # fork from a thread: no handler to reset
                signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]
            self.on_signal = False

    def flush_all(self) -> None:
        for writer in list(self.writers):
            try:
                writer.close()
            except MlmkitError as err:  # e.g. its workspace was closed first: say so
                warnings.warn(f"mlmkit: a buffered writer could not flush at exit: {err}",
                              RuntimeWarning, stacklevel=1)

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.flush_all()
        previous = self.previous
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:  # default action: terminate, as without us
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


_exit_flush = _ExitFlush()
os.register_at_fork(after_in_child=_exit_flush.after_fork_child)
