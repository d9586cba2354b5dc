"""Request bodies of the ingestion API: bounded reading, parsing, and the JSON error shape.

Every body becomes a polars frame validated by `mlmkit.services.ingest.prediction_batch`
(the validator of ``ws.log.track_batch``), so a row posted over HTTP is stored exactly as the
same row given to ``track_batch``. JSON has no datetime type: a string ``timestamp`` column is
parsed as ISO 8601 (naive values are UTC, as in ``track_batch``).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlmkit._validation import invalid, show
from mlmkit.exceptions import (
    DuplicateError,
    LockedError,
    MlmkitError,
    NotFoundError,
    StateError,
    ValidationError,
)
from mlmkit.server.jsontext import loads, plain

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from mlmkit.store.predictions.batch import Batch

__all__ = ["BodyTimeout", "BodyTooLarge", "error_payload", "media_type", "parse_predictions",
           "parse_rows", "problem", "read_body", "row_shape", "rows_batch", "status_of"]

JSON = "application/json"
NDJSON = "application/x-ndjson"
ARROW = "application/vnd.apache.arrow.stream"


class BodyTooLarge(MlmkitError):
    """The request body exceeds the server's limit (HTTP 413)."""


class BodyTimeout(MlmkitError):
    """The request body did not arrive in time (HTTP 408)."""


async def read_body(chunks: AsyncIterator[bytes], limit: int, declared: str | None, *,
                    timeout: float | None = None) -> bytes:
    """The body, read chunk by chunk; `BodyTooLarge` as soon as it passes ``limit``.

    `BodyTimeout` when the whole body has not arrived within ``timeout`` seconds (a
    client sending slowly keeps no connection and no memory for long).
    """
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body must be at most {limit} bytes; got Content-Length "
                           f"{declared}")
    parts: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body must be at most {limit} bytes; got more")
            parts.append(chunk)

    try:  # (asyncio.timeout: no task per request, as wait_for made)
        async with asyncio.timeout(timeout):
            await read()
    except TimeoutError as err:
        raise BodyTimeout(f"request body must arrive within {timeout:g} s; got {size} bytes "
                          "by then") from err
    return b"".join(parts)


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` header, lower-case (JSON when absent)."""
    return (content_type or JSON).split(";")[0].strip().lower()


def _timestamps(frame: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    if "timestamp" not in frame.columns or frame.schema["timestamp"] != pl.String:
        return frame
    text = frame.get_column("timestamp")
    try:
        parsed = text.str.to_datetime(time_unit="us", time_zone="UTC", strict=True)
    except pl.exceptions.PolarsError:
        parsed = None
    if parsed is None or parsed.null_count() != text.null_count():  # mixed formats: row by row
        values = [_iso(i, v) for i, v in enumerate(text.to_list())]
        parsed = pl.Series("timestamp", values, dtype=pl.Datetime("us", "UTC"))
    return frame.with_columns(parsed.alias("timestamp"))


def _iso(row: int, value: str | None) -> datetime | None:
    from mlmkit.values import utc

    if value is None:
        return None
    try:
        return utc(datetime.fromisoformat(value), "timestamp")
    except ValueError as err:
        raise invalid(f"timestamp (row {row})", "an ISO 8601 time", value) from err


def parse_predictions(body: bytes, content_type: str | None, *, max_future: Any,
                      tasks: Any = None) -> Batch | None:
    """Parse and validate a predictions body into the canonical `Batch`.

    ``None`` for a body without rows (``[]``, empty NDJSON): nothing to write.
    """
    from mlmkit.services.ingest import prediction_batch

    media = media_type(content_type)
    if media == ARROW:
        return prediction_batch(_arrow(body), max_future=max_future, tasks=tasks)
    frame = _read_json(body, media)
    if frame is not None:  # polars' own reader (no Python row objects): ~2.5x faster
        return prediction_batch(_timestamps(frame), max_future=max_future, tasks=tasks) \
            if frame.height else None
    rows = parse_rows(body, content_type)
    return rows_batch(rows, max_future=max_future, tasks=tasks) if rows else None


def _arrow(body: bytes) -> pa.Table:
    """The table of a body holding exactly one Arrow IPC stream."""
    import pyarrow as pa

    source = pa.BufferReader(body)
    try:
        table = pa.ipc.open_stream(source).read_all()
    except (pa.ArrowException, OSError) as err:
        raise invalid("body", "an Arrow IPC stream", f"{len(body)} bytes") from err
    if rest := len(body) - source.tell():  # a second stream, say: never silently dropped
        raise invalid("body", "one Arrow IPC stream and nothing after its end",
                      f"{rest} bytes after it")
    return table


_NOT_STRING = r"^(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false)$"
"""What polars makes of a JSON number or boolean in a text column (a string like it too)."""


def _read_json(body: bytes, media: str) -> pl.DataFrame | None:
    """A JSON array / NDJSON body read by polars, when that is exactly what `rows_batch` reads.

    ``None`` (then the row-object path decides, with its precise errors) for anything else:
    not an array of objects, rows without keys (``[{}]``), a parse error, escapes in the
    body, a type polars does not infer as `rows_batch` does, a text column with a value that
    may have been a JSON number or boolean (polars makes ``7`` the text ``"7"`` there, which
    `rows_batch` refuses; a string ``"7"`` takes the row-object path too), a JSON boolean read
    as a number (``true`` beside ``0.5``; any ``true`` / ``false`` that is not a value of a
    boolean column, so also the word inside a string), or what polars reads
    otherwise than ``json`` (`jsontext.plain`: a key twice in an object, a raw control
    character in a string).
    """
    import polars as pl

    if media not in (JSON, NDJSON) or b"\\" in body \
            or (media == JSON and not body.lstrip().startswith(b"[")):
        return None
    try:
        reader = pl.read_json if media == JSON else pl.read_ndjson
        frame = reader(io.BytesIO(body), infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError, OSError):
        return None
    if not frame.width:  # ``[]``, or rows without keys (``[{}]``: polars has no rows either)
        return frame if b"".join(body.split()) == b"[]" else None
    features = frame.schema.get("features")
    nested = list(features.fields) if isinstance(features, pl.Struct) else []
    fields: list[tuple[pl.Expr, Any]] = [
        (pl.col(name), dtype) for name, dtype in frame.schema.items()
        if not (nested and name == "features")]
    fields += [(pl.col("features").struct.field(f.name), f.dtype) for f in nested]
    simple = (pl.String, pl.Int64, pl.Float64, pl.Boolean, pl.Null)
    if any(dtype not in simple for _, dtype in fields):
        return None
    text = [column for column, dtype in fields if dtype == pl.String]
    if text:  # a JSON number or boolean in a text column became its text: refused below
        coerced = frame.select(pl.any_horizontal(
            e.str.contains(_NOT_STRING).fill_null(False).any() for e in text)).item()
        if coerced:
            return None
    # every ``true`` / ``false`` of the body must be a value of a boolean column: polars reads
    # ``true`` beside ``0.5`` as 1.0 (or the word is inside a string; the row objects decide)
    if literals := body.count(b"true") + body.count(b"false"):
        flags = [e.count() for e, dtype in fields if dtype == pl.Boolean]
        if (frame.select(pl.sum_horizontal(flags)).item() if flags else 0) != literals:
            return None
    return frame if plain(body) else None


def parse_rows(body: bytes, content_type: str | None) -> list[dict[str, Any]]:
    """The row objects of a JSON array or NDJSON body (not yet validated).

    Read by `jsontext.loads`: an error names the row (NDJSON: the row's index among the
    non-blank lines), as the validator's row errors do.
    """
    media = media_type(content_type)
    if media == NDJSON:
        return [_row(loads(line, f"body (row {i})", f"valid {media}"), i) for i, line in
                enumerate(ln for ln in body.splitlines() if ln.strip())]
    if media == JSON:
        rows = loads(body, "body", f"valid {media}", rows=True)
        if not isinstance(rows, list):
            raise invalid("body", "a JSON array of row objects", type(rows).__name__)
        return [_row(r, i) for i, r in enumerate(rows)]
    raise invalid("Content-Type", f"one of {JSON}, {NDJSON}, {ARROW}", media)


def row_shape(rows: list[dict[str, Any]]) -> tuple[str, ...] | None:
    """The keys (and nested feature keys) shared by every row, with their values' JSON types.

    ``None`` if the keys differ. Requests of one shape are validated together as one frame
    (the writer's group validation) with the same outcome as each alone. polars gives a column
    the common type of its values (``7`` beside ``1.5`` is read ``7.0``, a unit id ``"7.0"``),
    so the shape names, per key, the types its values take (a ``null`` takes none): requests
    whose values would be read otherwise together are validated apart.
    """
    shape: tuple[str, ...] | None = None
    kinds: dict[str, set[str]] = {}
    for row in rows:
        nested = row.get("features")
        inner = nested if isinstance(nested, dict) else {}
        keys = (*sorted(row), *sorted(inner))
        if shape is None:
            shape = keys
        elif keys != shape:
            return None
        for prefix, values in (("", row), ("features.", inner)):
            for key, value in values.items():
                if value is not None:
                    kinds.setdefault(prefix + key, set()).add(type(value).__name__)
    if shape is None:
        return None
    return (*shape, *(f"{key}: {' | '.join(sorted(kind))}" for key, kind in sorted(kinds.items())))


def rows_batch(rows: list[dict[str, Any]], *, max_future: Any, tasks: Any = None) -> Batch:
    """Validate JSON row objects into the canonical `Batch` (as ``track_batch``).

    ``tasks`` (a look-up or a mapping, as `prediction_batch` takes) gives the models' tasks.
    """
    import polars as pl

    from mlmkit.services.ingest import prediction_batch

    try:
        frame = pl.from_dicts(rows, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as err:
        raise _mixed(rows, err) from err
    _check_types(rows, frame, _boolean_numbers(rows, tasks))
    return prediction_batch(_timestamps(frame), max_future=max_future, tasks=tasks)


def _boolean_numbers(rows: list[dict[str, Any]], tasks: Any) -> set[str]:
    """The columns where ``true`` means what ``1`` means: a binary or score-only outcome."""
    from mlmkit.services.ingest.tasks import BOOLEAN_OUTCOMES, batch_task

    models = sorted({m for row in rows if isinstance(m := row.get("model_name"), str)})
    try:
        task = batch_task(models, tasks)
    except MlmkitError:  # (models of several tasks: the validator names them)
        return set()
    return {"prediction", "actual"} if task in BOOLEAN_OUTCOMES else set()


def _check_types(rows: list[dict[str, Any]], frame: pl.DataFrame, booleans: set[str]) -> None:
    """Refuse a column polars made of values of other JSON types (as each row alone reads).

    ``1`` beside ``"x"`` becomes the text ``"1"``, ``true`` beside ``0.5`` the number ``1.0``:
    a client bug that would silently turn a numeric feature categorical, or make a boolean
    score (refused alone) a number. Such a value is refused, naming its column and row;
    booleans among the numbers of a column in ``booleans`` (where they mean 0 / 1) are not.
    """
    import polars as pl

    def expected(dtype: Any) -> type | tuple[type, ...] | None:
        return str if dtype == pl.String else (int, float) if dtype.is_numeric() else None

    # (in features?, key, the name an error gives it, the JSON type, booleans taken as 0/1?)
    checks = [(False, c, c, kinds, c in booleans) for c, dtype in frame.schema.items()
              if (kinds := expected(dtype))]
    features = frame.schema.get("features")
    if isinstance(features, pl.Struct):
        checks += [(True, f.name, f"features[{f.name!r}]", kinds, False)
                   for f in features.fields if (kinds := expected(f.dtype))]
    for i, row in enumerate(rows):
        nested = row.get("features")
        for in_features, key, name, kinds, as_number in checks:
            source = nested if in_features else row
            value = source.get(key) if isinstance(source, dict) else None
            if value is not None and (not isinstance(value, kinds)
                                      or (isinstance(value, bool) and not as_number)):
                raise invalid(f"{name} (row {i})", f"{'a string' if kinds is str else 'a number'}"
                              ", as in the other rows", value)


def _row(value: object, index: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"body (row {index})", "a JSON object", value)
    return value


def _mixed(rows: list[dict[str, Any]], err: Exception) -> ValidationError:
    """Name the first column (and row) whose JSON values mix types polars cannot unify."""
    first: dict[str, type] = {}
    for i, row in enumerate(rows):
        for key, value in row.items():
            kind = type(value) if value is not None else None
            if kind is None:
                continue
            if kind is int:
                kind = float
            seen = first.setdefault(key, kind)
            if seen is not kind and not (seen is float and kind is bool):
                return invalid(f"{key} (row {i})", f"a {seen.__name__} like the rows before",
                               value)
    return invalid("body", "rows polars can read as one table", str(err))


def status_of(err: BaseException) -> int:
    """The HTTP status of an error raised while serving a request."""
    if isinstance(err, BodyTooLarge):
        return 413
    if isinstance(err, BodyTimeout):
        return 408
    if isinstance(err, DuplicateError):
        return 409
    if isinstance(err, ValidationError):
        return 422
    if isinstance(err, NotFoundError):
        return 404
    if isinstance(err, (LockedError, StateError)):
        return 503
    return 500


def error_payload(err: BaseException) -> dict[str, dict[str, Any]]:
    """``{"error": {"field", "row", "value", "message", "type"}}`` of any error.

    ``field``, ``row`` and ``value`` come from a `ValidationError`'s attributes
    (``value`` as its ``repr``, as in the message); ``None`` for other errors.
    """
    message = str(err) if isinstance(err, MlmkitError) else f"{type(err).__name__}: internal error"
    return problem(type(err).__name__, message, err if isinstance(err, ValidationError) else None)


def problem(kind: str, message: str, err: ValidationError | None = None
            ) -> dict[str, dict[str, Any]]:
    """The one JSON error shape of the server (401/403 of the auth middleware too)."""
    known = err is not None and err.field is not None
    return {"error": {"field": err.field if known and err else None,
                      "row": err.row if known and err else None,
                      "value": show(err.value) if known and err else None,
                      "message": message, "type": kind}}
