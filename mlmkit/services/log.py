"""The prediction log (``ws.log``): track, track in batches, delayed labels, reads, retention."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from mlmkit._validation import check_int, check_name, check_probability, check_real, invalid
from mlmkit.store.predictions.batch import normalize, to_polars
from mlmkit.store.predictions.monitoring import refresh_daily_summary
from mlmkit.store.predictions.writes import PredictionStore, retention_cutoff
from mlmkit.values import Version, VersionLike, WindowLike, resolve_range, utc, utcnow

__all__ = ["BufferedWriter", "PredictionLog"]


@functools.lru_cache(maxsize=1024)
def _canonical_text(version: str) -> str:
    return str(Version.parse(version))


def _canonical(version: VersionLike) -> str:
    return _canonical_text(version) if isinstance(version, str) else str(Version.parse(version))


def _as_bool(name: str, value: Any, *, nullable: bool) -> bool | None:
    if value is None:
        if nullable:
            return None
        raise invalid(name, "a boolean or 0/1", value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise invalid(name, "a boolean or 0/1", value)


class PredictionLog:
    """Every prediction a model made, with its ground truth once it arrives.

    Parameters
    ----------
    store
        The :class:`~mlmkit.store.predictions.PredictionStore` to write to.
    """

    def __init__(self, store: PredictionStore) -> None:
        self.store = store

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
        row = self._row(model_name, version, prediction, actual, score, confidence,
                        prediction_id, timestamp, unit_id, role)
        if features is not None and not isinstance(features, Mapping):
            raise invalid("features", "a mapping of feature name to value", features)
        for key in features or {}:
            check_name("features key", key)
        return self.store.insert_one(row, dict(features or {}))

    @staticmethod
    def _row(model_name: str, version: VersionLike, prediction: Any, actual: Any,
             score: Any, confidence: Any, prediction_id: Any, timestamp: Any, unit_id: Any,
             role: str) -> dict[str, Any]:
        check_name("model_name", model_name)
        pred = _as_bool("prediction", prediction, nullable=False)
        row: dict[str, Any] = {"model_name": model_name, "version": _canonical(version),
                               "prediction": pred,
                               "ts": utc(timestamp) if timestamp is not None else utcnow()}
        if actual is not None:
            row["actual"] = _as_bool("actual", actual, nullable=True)
            row["labelled_at"] = utcnow()
        if confidence is not None:
            row["confidence"] = check_probability("confidence", confidence)
        if score is not None:
            row["score"] = check_probability("score", score)
        elif confidence is not None:
            row["score"] = row["confidence"] if pred else 1.0 - row["confidence"]
        if prediction_id is not None:
            row["prediction_id"] = check_name("prediction_id", str(prediction_id))
        if unit_id is not None:
            row["unit_id"] = str(unit_id)
        if role not in ("served", "shadow"):
            raise invalid("role", "'served' or 'shadow'", role)
        row["role"] = role
        return row

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
        return self.store.insert_batch(normalize(frame, unique_ids=generated_ids),
                                       check_ids=not generated_ids)

    def record_actuals(self, prediction_ids: Iterable[Any], actuals: Iterable[Any], *,
                       at: datetime | None = None) -> int:
        """Attach ground truth to logged predictions; returns labels recorded.

        Every id must be in the log and appear once; otherwise nothing is recorded.
        """
        ids = to_polars({"prediction_id": list(prediction_ids)
                         if not isinstance(prediction_ids, (pl.Series, np.ndarray, pa.Array))
                         else prediction_ids}, "prediction_ids").get_column("prediction_id")
        values = pl.Series("actual", actuals, strict=False)
        if len(ids) != len(values):
            raise invalid("actuals", f"as many values as prediction_ids ({len(ids)})",
                          f"{len(values)} values")
        if len(ids) == 0:
            return 0
        if ids.null_count():
            raise invalid("prediction_ids", "ids without nulls", None)
        ids = ids.cast(pl.String)
        if ids.is_duplicated().any():
            raise invalid("prediction_ids", "unique ids",
                          ids.filter(ids.is_duplicated())[0])
        labels = _label_array(values)
        return self.store.record_actuals(ids.to_arrow(), labels,
                                         utc(at) if at is not None else utcnow())

    def record_actual(self, prediction_id: str, actual: bool | int, *,
                      at: datetime | None = None) -> None:
        """Attach ground truth to one logged prediction."""
        self.record_actuals([prediction_id], [actual], at=at)

    def predictions(self, model_name: str, version: VersionLike | None = None, *,
                    window: WindowLike | None = None, start: datetime | None = None,
                    end: datetime | None = None, labelled_only: bool = False) -> pl.DataFrame:
        """Logged rows of ``model_name`` (optionally one version, one window) as polars."""
        check_name("model_name", model_name)
        versions = None if version is None else [str(Version.parse(version))]
        span = None
        if window is not None or start is not None or end is not None:
            span = resolve_range(window, start=start, end=end, default=None) \
                if window is not None or start is not None else \
                resolve_range(start=datetime(1970, 1, 1), end=end)
        return self.store.select(model_name, versions=versions, time_range=span,
                                 labelled_only=labelled_only)

    def count(self, model_name: str | None = None) -> int:
        """Number of logged predictions."""
        return self.store.count(model_name)

    def apply_retention(self, days: float = 30) -> int:
        """Delete predictions older than ``days``; returns rows removed.

        Per-day summaries (confusion counts per model and version) of the rows about to go
        are written to ``daily_summary`` first, so 90-day trends keep working.
        """
        span = check_real("days", days, low=0.0, low_open=True)
        cutoff = retention_cutoff(utcnow(), span)
        # Daily confusion counts outlive the raw rows, so long trends survive retention.
        refresh_daily_summary(self.store.db, before=cutoff)
        return self.store.delete_before(cutoff)

    def buffered(self, *, max_rows: int = 10_000, max_seconds: float = 1.0) -> BufferedWriter:
        """A :class:`BufferedWriter` for serving loops (see its durability note)."""
        return BufferedWriter(self, max_rows=max_rows, max_seconds=max_seconds)


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

    Durability trade-off: a prediction is durable only once its batch is flushed (every
    ``max_rows`` rows, when a call finds the oldest buffered row older than ``max_seconds``,
    on :meth:`flush` and on exit). A crash loses at most the unflushed buffer; in exchange a
    single thread logs hundreds of thousands of predictions a second. Each call is validated
    when it is made, so a bad call raises at once and never poisons a batch.

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
        self._first_at: datetime | None = None
        self._lock = threading.Lock()
        self.written = 0

    def track(self, model_name: str, version: VersionLike, prediction: bool | int, *,
              actual: bool | int | None = None, score: float | None = None,
              confidence: float | None = None, features: Mapping[str, Any] | None = None,
              prediction_id: str | None = None, timestamp: datetime | None = None,
              unit_id: str | int | None = None, role: str = "served") -> str:
        """Validate and buffer one prediction; returns its id (generated if not given)."""
        row = PredictionLog._row(model_name, version, prediction, actual, score, confidence,
                                 prediction_id, timestamp, unit_id, role)
        if "prediction_id" not in row:
            self._counter += 1
            row["prediction_id"] = f"{self._prefix}{self._counter:010x}"
        else:
            self._caller_ids = True
        row.pop("labelled_at", None)
        ts = row.pop("ts")
        row["timestamp"] = round(ts.timestamp() * 1_000_000)
        if features:
            row.update(features)
        with self._lock:
            keys = tuple(row)
            if keys == self._keys:
                for column, value in zip(self._lists, row.values(), strict=True):
                    column.append(value)
            else:
                self._append_new_shape(row)
            self._size += 1
            if self._first_at is None:
                self._first_at = ts
            full = self._size >= self.max_rows or \
                (ts - self._first_at).total_seconds() >= self.max_seconds
        if full:
            self.flush()
        return str(row["prediction_id"])

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
        # ids this writer generated (random prefix + counter) cannot clash with the table
        written = self._log._insert(frame, generated_ids=not caller_ids)
        self.written += written
        return written

    def close(self) -> None:
        """Flush what is buffered."""
        self.flush()

    def __enter__(self) -> BufferedWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
