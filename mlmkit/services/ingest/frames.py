"""Frame helpers of the validator: any frame to polars, and column checks naming row and value."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, NoReturn, cast

import polars as pl
import pyarrow as pa

from mlmkit._validation import invalid

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["boolean", "fail", "finite", "first_bad", "to_polars", "unit_interval"]


def to_polars(frame: object, name: str = "frame") -> pl.DataFrame:
    """Accept polars, pandas, pyarrow or a mapping of columns; return a polars frame."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, (pa.Table, pa.RecordBatch)):
        return _from_arrow(frame, name)
    if isinstance(frame, Mapping):
        try:
            return pl.DataFrame(dict(frame))
        except (TypeError, ValueError, pl.exceptions.PolarsError) as err:
            raise invalid(name, "a frame or a mapping of equal-length columns",
                          type(frame).__name__) from err
    if type(frame).__module__.startswith("pandas"):
        return _from_pandas(cast("pd.DataFrame", frame), name)
    raise invalid(name, "a polars, pandas or pyarrow frame", type(frame).__name__)


def _unique_columns(columns: list[str], name: str) -> None:
    if len(set(columns)) != len(columns):
        dupe = next(c for c, n in Counter(columns).items() if n > 1)
        raise invalid(f"{name} column {dupe!r}", "a column name used once", columns)


def _from_arrow(frame: pa.Table | pa.RecordBatch, name: str) -> pl.DataFrame:
    """An Arrow frame in polars; its column names once each, any polars error a 422.

    A time zone that is a fixed offset (``"+05:30"``, which polars cannot name) is read as
    UTC: the same instants, which the validator makes UTC anyway.
    """
    _unique_columns(frame.schema.names, name)
    table = pa.Table.from_batches([frame]) if isinstance(frame, pa.RecordBatch) else frame
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and str(field.type.tz or " ")[0] in "+-":
            table = table.set_column(i, field.name, table.column(i).cast(
                pa.timestamp(field.type.unit, "UTC")))
    try:
        return pl.DataFrame(pl.from_arrow(table))
    except (pa.ArrowException, pl.exceptions.PolarsError, TypeError, ValueError) as err:
        raise invalid(name, "a frame polars can read (columns of the documented types)",
                      str(err).splitlines()[0]) from err


def _from_pandas(frame: pd.DataFrame, name: str) -> pl.DataFrame:
    _unique_columns([str(c) for c in frame.columns], name)
    try:
        return pl.from_pandas(frame)
    except (pa.ArrowException, pl.exceptions.PolarsError, TypeError, ValueError) as err:
        for column in frame.columns:  # find the column pyarrow could not type
            try:
                pl.from_pandas(frame[[column]])
            except (pa.ArrowException, pl.exceptions.PolarsError, TypeError, ValueError):
                values = frame[column]
                kinds = sorted({type(v).__name__ for v in values if v is not None})
                raise invalid(f"column {column!r}", "values of one type (numbers, booleans "
                              "or strings)", f"types {kinds}") from err
        raise invalid(name, "a frame pyarrow can convert", str(err)) from err


def first_bad(frame: pl.DataFrame, mask: pl.Expr, column: str) -> tuple[int, object] | None:
    """``(row, value of column)`` of the first row where ``mask`` holds, or ``None``."""
    if not frame.select(mask.any()).item():
        return None
    bad = frame.lazy().with_row_index("__mlmkit_row").filter(mask) \
        .select("__mlmkit_row", column).head(1).collect()
    if bad.height == 0:
        return None
    return int(bad["__mlmkit_row"][0]), bad[column][0]


def fail(column: str, expectation: str, found: tuple[int, object]) -> NoReturn:
    """Raise the `ValidationError` of ``column`` at a `first_bad` row."""
    row, value = found
    raise invalid(f"{column} (row {row})", expectation, value)


def boolean(frame: pl.DataFrame, column: str, *, nullable: bool) -> pl.Expr:
    """``column`` as booleans (booleans, or numbers 0/1); raises naming the first bad row."""
    dtype = frame.schema[column]
    if not nullable and (hit := first_bad(frame, pl.col(column).is_null(), column)):
        fail(column, "a boolean or 0/1, not null", hit)
    if dtype == pl.Boolean:
        return pl.col(column)
    if dtype.is_integer() or dtype.is_float():  # (a float 0.0/1.0 too: compared as floats)
        hit = first_bad(frame, pl.col(column).is_not_null() & ~pl.col(column).cast(pl.Float64)
                        .is_in([0.0, 1.0]), column)
        if hit:
            fail(column, "a boolean or 0/1", hit)
        return pl.col(column).cast(pl.Boolean)
    if dtype == pl.Null:
        return pl.col(column).cast(pl.Boolean)
    raise invalid(column, "a boolean or 0/1 column", str(dtype))


def unit_interval(frame: pl.DataFrame, column: str) -> pl.Expr:
    """``column`` as floats in [0, 1] (nulls kept)."""
    dtype = frame.schema[column]
    if dtype == pl.Null:
        return pl.col(column).cast(pl.Float64)
    if not (dtype.is_float() or dtype.is_integer()) or dtype == pl.Boolean:
        raise invalid(column, "a numeric column in [0, 1]", str(dtype))
    col = pl.col(column).cast(pl.Float64)
    if hit := first_bad(frame, col.is_nan() | (col < 0) | (col > 1), column):
        fail(column, "a number in [0, 1] (not NaN)", hit)
    return col


def finite(frame: pl.DataFrame, column: str, *, nullable: bool, what: str = "a finite number"
           ) -> pl.Expr:
    """``column`` as finite floats (integers accepted, booleans refused)."""
    dtype = frame.schema[column]
    if dtype == pl.Null and nullable:
        return pl.col(column).cast(pl.Float64)
    if dtype == pl.Boolean or not (dtype.is_float() or dtype.is_integer() or dtype == pl.Null):
        raise invalid(column, f"a numeric column ({what})", str(dtype))
    col = pl.col(column).cast(pl.Float64)
    if not nullable and (hit := first_bad(frame, col.is_null(), column)):
        fail(column, f"{what}, not null", hit)
    if hit := first_bad(frame, col.is_not_null() & ~col.is_finite(), column):
        fail(column, f"{what} (not NaN or infinite)", hit)
    return col
