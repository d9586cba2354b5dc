"""The prediction log (``ws.log``): track, track in batches, delayed labels, reads, retention."""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from mlmkit._faults import fault_point
from mlmkit._validation import check_choice, check_int, check_name, check_real, invalid
from mlmkit.exceptions import MlmkitError
from mlmkit.services.ingest import (
    DEFAULT_MAX_FUTURE,
    check_max_future,
    prediction_batch,
    prediction_row,
    to_polars,
)
from mlmkit.store.predictions.monitoring import retire_days
from mlmkit.store.predictions.writes import PredictionStore, retention_cutoff
from mlmkit.values import Version, VersionLike, WindowLike, resolve_range, utc, utcnow

__all__ = ["BufferedWriter", "LabelsRecorded", "PredictionLog", "retention_floor"]


class LabelsRecorded(int):
    """Rows labelled by :meth:`PredictionLog.record_actuals` (an ``int``), with ``skipped``.

    ``skipped`` counts the ids matching no row that ``on_unknown="skip"`` passed over.
    """

    skipped: int

    def __new__(cls, changed: int, skipped: int = 0) -> LabelsRecorded:
        """Build the count; ``skipped`` ids were unknown and passed over."""
        value = super().__new__(cls, changed)
        value.skipped = skipped
        return value


class PredictionLog:
    """Every prediction a model made, with its ground truth once it arrives.

    Parameters
    ----------
    store
        The :class:`~mlmkit.store.predictions.PredictionStore` to write to.
    max_future
        Clock-skew bound: a prediction timestamped more than this (a timedelta, or seconds)
        in the future is refused (default 5 minutes). Naive timestamps are taken as UTC.
    """

    def __init__(self, store: PredictionStore, *,
                 max_future: timedelta | float = DEFAULT_MAX_FUTURE) -> None:
        self.store = store
        self.max_future = check_max_future(max_future)

    def track(self, model_name: str, version: VersionLike, prediction: bool | int, *,
              actual: bool | int | None = None, score: float | None = None,
              confidence: float | None = None, features: Mapping[str, Any] | None = None,
              prediction_id: str | None = None, timestamp: datetime | None = None,
              unit_id: str | int | None = None, role: str = "served") -> str:
        """Log one prediction; durable when it returns. Returns the prediction id.

        ``score`` is the positive-class score in [0, 1]; ``confidence`` is the confidence in
        the predicted label (``score = confidence`` if ``prediction`` else ``1 - confidence``).
        ``role="shadow"`` logs a version that scored the unit without serving it; it may reuse
        the served row's ``prediction_id`` so that one label reaches both.

        Examples
        --------
        >>> import mlmkit
        >>> with mlmkit.open() as ws:
        ...     pid = ws.log.track("n1-detector", "1.0.0", True, confidence=0.9)
        ...     ws.log.predictions("n1-detector")["score"].to_list()
        [0.9]
        """
        row, canonical = prediction_row(
            model_name, version, prediction, actual=actual, score=score, confidence=confidence,
            features=features, prediction_id=prediction_id, timestamp=timestamp,
            unit_id=unit_id, role=role, max_future=self.max_future)
        return self.store.insert_one(row, canonical)

    def track_prediction(self, *args: Any, **kwargs: Any) -> str:
        """Alias of :meth:`track` (the seed's name)."""
        return self.track(*args, **kwargs)

    def track_batch(self, frame: Any) -> int:
        """Log a batch (polars, pandas or pyarrow); returns rows written. All rows or none.

        Columns: ``model_name, version, prediction`` and optional ``actual, score, confidence,
        prediction_id, timestamp, unit_id, role``; every other column (or the fields of a
        struct column ``features``) is a feature. Give ``prediction_id`` (your request ids)
        for rows whose labels arrive later: rows logged without ids keep a NULL id, which
        halves the cost of large batches but leaves nothing to attach a label to.
        """
        return self._insert(frame, generated_ids=False)

    def _insert(self, frame: Any, *, generated_ids: bool) -> int:
        batch = prediction_batch(frame, unique_ids=generated_ids, max_future=self.max_future)
        return self.store.insert_batch(batch, now=utcnow(), check_ids=not generated_ids)

    def record_actuals(self, prediction_ids: Iterable[Any], actuals: Iterable[Any], *,
                       model_name: str | None = None, version: VersionLike | None = None,
                       on_unknown: str = "raise", at: datetime | None = None
                       ) -> LabelsRecorded:
        """Attach ground truth to the logged predictions of one model; returns rows labelled.

        Labels are scoped: give ``model_name`` (and optionally ``version``) so that a request
        id reused by another model never labels that model's rows. Without ``model_name`` an
        id logged by several models is refused (:class:`~mlmkit.exceptions.ValidationError`
        naming them); an id logged by one model labels its rows (every version and role).
        Each id must appear once. An id with no row in scope rejects the whole call
        (:class:`~mlmkit.exceptions.NotFoundError`, nothing recorded) unless
        ``on_unknown="skip"``: then the known ids are labelled and ``result.skipped`` counts
        the others. The result is an ``int`` (rows changed) with a ``skipped`` attribute.
        """
        if model_name is not None:
            check_name("model_name", model_name)
        ver = None if version is None else str(Version.parse(version, "version"))
        check_choice("on_unknown", on_unknown, ("raise", "skip"))
        ids = to_polars({"prediction_id": list(prediction_ids)
                         if not isinstance(prediction_ids, (pl.Series, np.ndarray, pa.Array))
                         else prediction_ids}, "prediction_ids").get_column("prediction_id")
        values = pl.Series("actual", actuals, strict=False)
        if len(ids) != len(values):
            raise invalid("actuals", f"as many values as prediction_ids ({len(ids)})",
                          f"{len(values)} values")
        if len(ids) == 0:
            return LabelsRecorded(0)
        if ids.null_count():
            raise invalid("prediction_ids", "ids without nulls", None)
        ids = ids.cast(pl.String)
        if ids.is_duplicated().any():
            raise invalid("prediction_ids", "unique ids",
                          ids.filter(ids.is_duplicated())[0])
        labels = _label_array(values)
        changed, skipped = self.store.record_actuals(
            ids.to_arrow(), labels, utc(at, "at") if at is not None else utcnow(),
            model_name=model_name, version=ver, skip_unknown=on_unknown == "skip")
        return LabelsRecorded(changed, skipped)

    def record_actual(self, prediction_id: str, actual: bool | int, *,
                      model_name: str | None = None, version: VersionLike | None = None,
                      at: datetime | None = None) -> None:
        """Attach ground truth to one logged prediction (scoped as :meth:`record_actuals`)."""
        self.record_actuals([prediction_id], [actual], model_name=model_name, version=version,
                            at=at)

    def predictions(self, model_name: str, version: VersionLike | None = None, *,
                    window: WindowLike | None = None, start: datetime | None = None,
                    end: datetime | None = None, labelled_only: bool = False) -> pl.DataFrame:
        """Logged rows of ``model_name`` (optionally one version, one window) as polars."""
        check_name("model_name", model_name)
        versions = None if version is None else [str(Version.parse(version))]
        span = resolve_range(window, start=start, end=end, default=None)
        return self.store.select(model_name, versions=versions, time_range=span,
                                 labelled_only=labelled_only)

    def count(self, model_name: str | None = None) -> int:
        """Number of logged predictions."""
        return self.store.count(model_name)

    def apply_retention(self, days: float = 30, *, now: datetime | None = None) -> int:
        """Delete the whole UTC days older than ``days``; returns prediction rows removed.

        The cut-off ``now - days`` is floored to midnight UTC, so only complete days go, and
        each goes with its daily summary (confusion counts and score sums per model, version
        and role, written to ``daily_summary`` in the same transaction as the delete): long
        trends keep every prediction ever logged. The ``retention`` job calls this too.
        """
        span = check_real("days", days, low=0.0, low_open=True)
        floor = retention_floor(utcnow() if now is None else utc(now, "now"), span)
        return retire_days(self.store.db, floor)[0]

    def buffered(self, *, max_rows: int = 10_000, max_seconds: float = 1.0) -> BufferedWriter:
        """A :class:`BufferedWriter` for serving loops (see its durability note)."""
        return BufferedWriter(self, max_rows=max_rows, max_seconds=max_seconds)


def retention_floor(now: datetime, days: float) -> datetime:
    """The retention cut-off ``now - days`` floored to midnight UTC (whole days only)."""
    cutoff = retention_cutoff(now, days).astimezone(UTC)
    return cutoff.replace(hour=0, minute=0, second=0, microsecond=0)


def _label_array(values: pl.Series) -> pa.Array:
    if values.dtype == pl.Boolean and not values.null_count():
        return values.to_arrow()
    if values.dtype.is_integer() and values.is_in([0, 1]).all():
        return values.cast(pl.Boolean).to_arrow()
    bad = values.filter(values.is_null() | ~values.cast(pl.String).is_in(
        ["true", "false", "0", "1"]))
    shown = bad[0] if len(bad) else values[0]
    raise invalid("actuals", "booleans or 0/1 without nulls", shown)


class BufferedWriter:
    """Collects predictions in memory and writes them as one batch.

    Durability trade-off: a prediction is durable only once its batch is flushed: every
    ``max_rows`` rows, once the oldest buffered row is ``max_seconds`` old (a timer thread
    checks, so an idle writer flushes too), on :meth:`flush` / :meth:`close`, at interpreter
    exit and on SIGTERM (the handler, installed when a writer is created in the main thread,
    flushes every open writer and then runs the handler that was there before). A crash
    (``kill -9``, power loss) loses at most the unflushed buffer; in exchange a single
    thread logs hundreds of thousands of predictions a second. Each call is validated when
    it is made, so a bad call raises at once and never poisons a batch.

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
        self._columns: dict[str, list[Any]] = {}
        self._keys: tuple[str, ...] = ()
        self._lists: list[list[Any]] = []
        self._prefix = uuid.uuid4().hex[:14]
        self._counter = 0
        self._caller_ids = False
        self._size = 0
        self._first_at: float | None = None
        self._kinds: dict[tuple[str, str], str] = {}
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
        :meth:`track`, its own timer thread (threads do not survive a fork).
        """
        self._columns, self._keys, self._lists = {}, (), []
        self._size, self._first_at, self._caller_ids = 0, None, False
        self._prefix, self._counter = uuid.uuid4().hex[:14], 0
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._timer = False
        self.written = 0

    def track(self, model_name: str, version: VersionLike, prediction: bool | int, *,
              actual: bool | int | None = None, score: float | None = None,
              confidence: float | None = None, features: Mapping[str, Any] | None = None,
              prediction_id: str | None = None, timestamp: datetime | None = None,
              unit_id: str | int | None = None, role: str = "served") -> str:
        """Validate and buffer one prediction; returns its id (generated if not given)."""
        row, canonical = prediction_row(
            model_name, version, prediction, actual=actual, score=score, confidence=confidence,
            features=features, prediction_id=prediction_id, timestamp=timestamp,
            unit_id=unit_id, role=role, max_future=self._log.max_future)
        if canonical:
            self._check_kinds(model_name, canonical)
        if "prediction_id" not in row:
            self._counter += 1
            row["prediction_id"] = f"{self._prefix}{self._counter:010x}"
        else:
            self._caller_ids = True
        row.pop("labelled_at", None)
        row["timestamp"] = round(row.pop("ts").timestamp() * 1_000_000)
        for key, (_, value) in canonical.items():
            row[key] = value
        if not self._timer:  # a forked child: its own timer thread
            self._start_timer()
        with self._lock:
            keys = tuple(row)
            if keys == self._keys:
                for column, value in zip(self._lists, row.values(), strict=True):
                    column.append(value)
            else:
                self._append_new_shape(row)
            self._size += 1
            if self._first_at is None:
                self._first_at = time.monotonic()
            full = self._size >= self.max_rows or self._due()
        if full:
            self.flush()
        return str(row["prediction_id"])

    def _due(self) -> bool:
        return self._first_at is not None and \
            time.monotonic() - self._first_at >= self.max_seconds

    def _check_kinds(self, model_name: str, canonical: Mapping[str, tuple[str | None, Any]]
                     ) -> None:
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

    def _append_new_shape(self, row: dict[str, Any]) -> None:
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
        self.previous: Any = None
        self.at_exit = self.on_signal = False

    def register(self, writer: BufferedWriter) -> None:
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

    def flush_all(self) -> None:
        for writer in list(self.writers):
            try:
                writer.close()
            except MlmkitError as err:  # e.g. its workspace was closed first: say so
                warnings.warn(f"mlmkit: a buffered writer could not flush at exit: {err}",
                              RuntimeWarning, stacklevel=1)

    def on_sigterm(self, signum: int, frame: Any) -> None:
        self.flush_all()
        previous = self.previous
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:  # default action: terminate, as without us
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


_exit_flush = _ExitFlush()
os.register_at_fork(after_in_child=_exit_flush.after_fork_child)
