"""The canonical prediction batch the store inserts, and the column naming of features.

Validation happens before, at the edge (`mlmkit.services.ingest`); a `Batch`
holds a frame with the expressions that make its columns canonical, and the store trusts it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator

import polars as pl
import pyarrow as pa

ROLES = ("served", "shadow")
_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,50}")


CHUNK_ROWS = 1_000_000


@dataclasses.dataclass(frozen=True)
class Batch:
    """A validated batch: the frame, the expressions that convert it, its feature columns.

    Conversion to Arrow happens chunk by chunk (`arrow_chunks`), so a 1e7-row batch
    never holds a full converted copy next to the caller's frame.
    """

    frame: pl.DataFrame
    exprs: tuple[pl.Expr, ...]
    features: dict[str, tuple[str, str]]  # feature -> (column_name, kind)
    models: tuple[str, ...]
    has_ids: bool
    has_timestamps: bool
    has_actuals: bool
    label_column: str = "actual"  # where a label logged with the row goes (per task)

    @property
    def num_rows(self) -> int:
        """Rows in the batch."""
        return int(self.frame.height)

    def id_keys(self) -> pa.Table:
        """``model_name, prediction_id, version`` of every row (caller-supplied ids only)."""
        keys = [e for e in self.exprs
                if e.meta.output_name() in ("model_name", "prediction_id", "version")]
        return self.frame.select(keys).to_arrow(compat_level=pl.CompatLevel.newest())

    def arrow_chunks(self, rows: int = CHUNK_ROWS) -> Iterator[pa.Table]:
        """The converted batch as Arrow tables of at most ``rows`` rows."""
        for offset in range(0, self.frame.height, rows):
            # string_view columns hand polars' buffers over without a copy (large_string
            # measured 0.37 s per 5e6 rows); DuckDB reads both equally fast.
            yield self.frame.slice(offset, rows).select(self.exprs).to_arrow(
                compat_level=pl.CompatLevel.newest())


def feature_column(feature: str, kind: str) -> str:
    """The predictions-table column holding ``feature`` (numeric DOUBLE, categorical VARCHAR).

    A lower-case identifier keeps its name behind ``f_`` (numeric) or ``s_`` (categorical);
    any other name is lower-cased, cleaned and suffixed with a hash of the exact name behind
    ``fh_`` / ``sh_``. The two families cannot meet (``f_h...`` is not ``fh_...``), so
    features whose names differ only in case, or mimic a hashed name, get distinct columns
    (DuckDB identifiers are case-insensitive).

    Examples
    --------
    >>> feature_column("query_count", "numeric")
    'f_query_count'
    >>> feature_column("Query Count", "categorical")
    'sh_query_count_ccf1603c00a5'
    """
    prefix = "f" if kind == "numeric" else "s"
    if _IDENT.fullmatch(feature):
        return f"{prefix}_{feature}"
    clean = re.sub(r"[^a-z0-9_]", "_", feature.lower())[:40]
    return f"{prefix}h_{clean}_{hashlib.md5(feature.encode()).hexdigest()[:12]}"
