"""The prediction log (``ws.log``): track, track in batches, delayed labels, reads, retention."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import polars as pl

from mlmkit._validation import check_name, check_real, invalid
from mlmkit.services.buffered import BufferedWriter
from mlmkit.services.ingest import (
    DEFAULT_MAX_FUTURE,
    TaskLookup,
    check_max_future,
    label_request,
    prediction_batch,
    prediction_row,
)
from mlmkit.store.predictions.monitoring import retire_days
from mlmkit.store.predictions.writes import BASE_COLUMNS, PredictionStore
from mlmkit.values import Task, Version, VersionLike, WindowLike, resolve_range, utc, utcnow

__all__ = ["BufferedWriter", "LabelsRecorded", "PredictionLog", "retention_floor"]


class LabelsRecorded(int):
    """Rows labelled by `PredictionLog.record_actuals` (an ``int``), with ``skipped``.

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
        The `PredictionStore` to write to.
    max_future
        Clock-skew bound: a prediction timestamped more than this (a timedelta, or seconds)
        in the future is refused (default 5 minutes). Naive timestamps are taken as UTC.
    tasks
        ``tasks(model_names) -> {model_name: task}``: the task of registered models, looked up
        once per call or batch (default: the workspace's registry table); others are binary.
    """

    def __init__(self, store: PredictionStore, *,
                 max_future: timedelta | float = DEFAULT_MAX_FUTURE,
                 tasks: TaskLookup | None = None) -> None:
        self.store = store
        self.max_future = check_max_future(max_future)
        self.tasks: TaskLookup = tasks or store.tasks

    def task(self, model_name: str) -> Task:
        """The task of ``model_name`` as ingestion applies it (binary when unregistered)."""
        check_name("model_name", model_name)
        return self.tasks([model_name]).get(model_name, Task.BINARY)

    def track(self, model_name: str, version: VersionLike, prediction: object = None, *,
              actual: object = None, score: float | None = None,
              confidence: float | None = None,
              probabilities: Mapping[object, float] | None = None,
              features: Mapping[str, object] | None = None,
              prediction_id: str | None = None, timestamp: datetime | None = None,
              unit_id: str | int | None = None, role: str = "served") -> str:
        """Log one prediction; durable when it returns. Returns the prediction id.

        What ``prediction`` and ``actual`` are depends on the model's task (registered with
        ``ModelMetadata(task=...)``; unregistered models are binary): booleans (0/1) for
        binary, class labels (str or int) for multiclass, with optional ``probabilities`` (a
        mapping label -> probability summing to 1 that contains the predicted label),
        numbers for regression; a score-only model gives ``score`` (any finite number) and
        optionally ``prediction`` (a boolean flag) and ``actual`` (a confirmed anomaly).
        For binary models ``score`` is the positive-class score in [0, 1]; ``confidence`` is
        the confidence in the predicted label (``score = confidence`` if ``prediction`` else
        ``1 - confidence``).
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
            probabilities=probabilities, features=features, prediction_id=prediction_id,
            timestamp=timestamp, unit_id=unit_id, role=role, max_future=self.max_future,
            task=self.task(model_name))
        return self.store.insert_one(row, canonical)

    def track_prediction(self, model_name: str, version: VersionLike, prediction: object = None,
                         *, actual: object = None, score: float | None = None,
                         confidence: float | None = None,
                         probabilities: Mapping[object, float] | None = None,
                         features: Mapping[str, object] | None = None,
                         prediction_id: str | None = None, timestamp: datetime | None = None,
                         unit_id: str | int | None = None, role: str = "served") -> str:
        """Alias of [`track`][mlmkit.services.log.PredictionLog.track] (the seed's name)."""
        return self.track(model_name, version, prediction, actual=actual, score=score,
                          confidence=confidence, probabilities=probabilities, features=features,
                          prediction_id=prediction_id, timestamp=timestamp, unit_id=unit_id,
                          role=role)

    def track_batch(self, frame: object) -> int:
        """Log a batch (polars, pandas or pyarrow); returns rows written. All rows or none.

        Columns: ``model_name, version, prediction`` and optional ``actual, score, confidence,
        probabilities, prediction_id, timestamp, unit_id, role``; every other column (or the
        fields of a struct column ``features``) is a feature. A batch holds models of one
        task, and its columns are those of the task (see `track`; a score-only batch needs
        ``score``, not ``prediction``); multiclass ``probabilities`` is a struct column
        (a field per class), a list of ``{label, p}`` structs, a map, or a column of dicts.
        Give ``prediction_id`` (your request ids) for rows whose labels arrive later: rows
        logged without ids keep a NULL id, which halves the cost of large batches but leaves
        nothing to attach a label to.
        """
        return self._insert(frame, generated_ids=False)

    def _insert(self, frame: object, *, generated_ids: bool) -> int:
        batch = prediction_batch(frame, unique_ids=generated_ids, max_future=self.max_future,
                                 tasks=self.tasks)
        return self.store.insert_batch(batch, now=utcnow(), check_ids=not generated_ids)

    def record_actuals(self, prediction_ids: Iterable[object], actuals: Iterable[object], *,
                       model_name: str | None = None, version: VersionLike | None = None,
                       on_unknown: str = "raise", at: datetime | None = None
                       ) -> LabelsRecorded:
        """Attach ground truth to the logged predictions of one model; returns rows labelled.

        Labels are scoped: give ``model_name`` (and optionally ``version``) so that a request
        id reused by another model never labels that model's rows. Without ``model_name`` an
        id logged by several models is refused
        ([`ValidationError`][mlmkit.exceptions.ValidationError] naming them); an id logged by one
        model labels its rows (every version and role). Each id must appear once. An id with no row
        in scope rejects the whole call ([`NotFoundError`][mlmkit.exceptions.NotFoundError], nothing
        recorded) unless ``on_unknown="skip"``: then the known ids are labelled and
        ``result.skipped`` counts the others. The result is an ``int`` (rows changed) with a
        ``skipped`` attribute. ``actuals`` are of the model's task: booleans (0/1) for binary
        and score-only models, class labels for multiclass, numbers for regression.
        """
        request = label_request(prediction_ids, actuals, model_name=model_name, version=version,
                                on_unknown=on_unknown,
                                task_of=lambda ids: self._label_task(model_name, ids))
        if request is None:
            return LabelsRecorded(0)
        changed, skipped = self.store.record_actuals(
            request.ids, request.values, utc(at, "at") if at is not None else utcnow(),
            model_name=model_name, version=request.version,
            skip_unknown=request.skip_unknown, column=request.column)
        return LabelsRecorded(changed, skipped)

    def _label_task(self, model_name: str | None, ids: pl.Series) -> Task:
        if model_name is not None:
            return self.task(model_name)
        found = self.store.label_tasks(ids.to_arrow())  # (empty when every model is binary)
        if len(kinds := set(found.values())) > 1:
            raise invalid("model_name", "given: these ids were logged by models of several "
                          "tasks", dict(sorted(found.items())))
        return kinds.pop() if kinds else Task.BINARY

    def record_actual(self, prediction_id: str, actual: object, *,
                      model_name: str | None = None, version: VersionLike | None = None,
                      at: datetime | None = None) -> None:
        """Attach ground truth to one logged prediction (scoped as `record_actuals`)."""
        self.record_actuals([prediction_id], [actual], model_name=model_name, version=version,
                            at=at)

    def predictions(self, model_name: str, version: VersionLike | None = None, *,
                    window: WindowLike | None = None, start: datetime | None = None,
                    end: datetime | None = None, labelled_only: bool = False) -> pl.DataFrame:
        """Logged rows of ``model_name`` (optionally one version, one window) as polars."""
        check_name("model_name", model_name)
        versions = None if version is None else [str(Version.parse(version))]
        span = resolve_range(window, start=start, end=end, default=None)
        task = self.task(model_name)
        columns = BASE_COLUMNS + _TASK_COLUMNS.get(task, ())
        return self.store.select(model_name, versions=versions, time_range=span,
                                 labelled_only=labelled_only, columns=columns)

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
        """A `BufferedWriter` for serving loops (see its durability note)."""
        return BufferedWriter(self, max_rows=max_rows, max_seconds=max_seconds)


def retention_floor(now: datetime, days: float) -> datetime:
    """The retention cut-off ``now - days`` floored to midnight UTC (whole days only)."""
    cutoff = (now - timedelta(days=days)).astimezone(UTC)
    return cutoff.replace(hour=0, minute=0, second=0, microsecond=0)


_TASK_COLUMNS = {Task.MULTICLASS: ("label", "actual_label", "probabilities"),
                 Task.REGRESSION: ("value", "actual_value")}
