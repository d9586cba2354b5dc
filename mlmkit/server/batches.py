"""Row batches on their way to the writer: prepared (stored columns), small requests' rows.

`Prepared` is a validated batch converted to its stored
columns; `Rows` a small request's row objects validated with
the requests of the same shape (see `GroupCommitWriter`).
`combine` makes one INSERT of a group, `same_rows` recognises a retry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlmkit.exceptions import DuplicateError

if TYPE_CHECKING:
    from mlmkit.store.predictions.batch import Batch
    from mlmkit.workspace import Workspace

__all__ = ["Prepared", "Rows", "combine", "same_rows"]

_COMPARED = ("model_name", "version", "prediction_id", "prediction", "score", "confidence",
             "unit_id", "role", "ts", "actual", "label", "actual_label", "value", "actual_value",
             "probabilities")


class Prepared:
    """A validated batch converted to its stored columns, ready to be concatenated.

    Built in the request's thread (`GroupCommitWriter.prepare`), so the one writer
    thread only concatenates and inserts. Rows without a timestamp are stamped with the
    time of preparation, labels logged with a row with ``labelled_at`` of that time.
    """

    __slots__ = ("batch", "stamped")

    def __init__(self, batch: Batch, now: datetime) -> None:
        import polars as pl

        from mlmkit.store.predictions.batch import Batch

        stamp = pl.lit(now.astimezone(UTC).replace(tzinfo=None)).dt.replace_time_zone("UTC") \
            .dt.cast_time_unit("us")
        extra = []
        if not batch.has_timestamps:
            extra.append(stamp.alias("ts"))
        if batch.has_actuals:
            extra.append(pl.when(pl.col(batch.label_column).is_not_null()).then(stamp)
                         .alias("labelled_at"))
        frame = batch.frame.select(batch.exprs)
        if extra:
            frame = frame.with_columns(extra)
        self.stamped = not batch.has_timestamps
        """Whether ``ts`` was stamped here (then a retry's ``ts`` is not compared)."""
        self.batch = Batch(frame, tuple(pl.col(c) for c in frame.columns), batch.features,
                           batch.models, batch.has_ids, True, False)

    def slice(self, offset: int, length: int) -> Prepared:
        """Rows ``offset .. offset + length`` (one request of a group validated together)."""
        import dataclasses

        frame = self.batch.frame.slice(offset, length)
        out = object.__new__(Prepared)
        out.stamped = self.stamped
        out.batch = dataclasses.replace(
            self.batch, frame=frame,
            models=tuple(sorted(frame.get_column("model_name").unique().to_list())))
        return out

class Rows:
    """A small request's row objects, validated on the writer thread with its group.

    Requests of one `row_shape` that wait together are validated
    as ONE frame (one pass of the validator instead of one per request); if that frame fails,
    each request is validated alone, so errors name the request's own rows.
    """

    __slots__ = ("max_future", "rows", "shape", "tasks")

    def __init__(self, rows: list[dict[str, Any]], shape: tuple[str, ...],
                 max_future: timedelta, tasks: dict[str, Any] | None = None) -> None:
        self.rows = rows
        self.shape = shape
        self.max_future = max_future
        self.tasks = tasks
        """``{model: task}`` of the rows' models (looked up before queueing)."""

def combine(batches: list[Batch]) -> Batch | None:
    """One batch of every request's prepared rows (one INSERT), or None if an id repeats."""
    import polars as pl

    from mlmkit.store.predictions.batch import Batch

    frame = pl.concat([b.frame for b in batches], how="diagonal_relaxed")
    has_ids = any(b.has_ids for b in batches)
    if has_ids:
        keys = frame.select("model_name", "version", "prediction_id") \
            .filter(pl.col("prediction_id").is_not_null())
        if keys.is_duplicated().any():
            return None
    features = {f: spec for b in batches for f, spec in b.features.items()}
    models = tuple(sorted({m for b in batches for m in b.models}))
    return Batch(frame, tuple(pl.col(c) for c in frame.columns), features, models, has_ids,
                 True, False)


def same_rows(ws: Workspace, prepared: Prepared, err: DuplicateError) -> int:
    """Rows of ``batch`` already logged with the same values (all of them), else raise ``err``."""
    import polars as pl

    batch = prepared.batch
    if not batch.has_ids:
        raise err
    compared = {*_COMPARED, *(column for column, _ in batch.features.values())}
    if prepared.stamped:  # the retry's rows were stamped on arrival: another time
        compared.discard("ts")
    exprs = [e for e in batch.exprs if e.meta.output_name() in compared]
    rows = batch.frame.select(exprs).to_arrow(compat_level=pl.CompatLevel.newest())
    if ws.log.store.count_logged(rows) != batch.num_rows:  # (None: a feature never logged)
        raise err
    return batch.num_rows
