"""Helpers of the Spark engine: the local session and the cached slice of `SparkEngine.cached`.

Kept apart from `mlmkit.store.engines.spark` (which holds the statements) so that module stays
small; nothing here imports pyspark at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from mlmkit._lazy import require
from mlmkit.store.engines.dataset_engine import cover, days
from mlmkit.store.engines.portable import Dialect

__all__ = ["SPARK", "UNCACHED", "Scope", "cover", "days", "literal", "local_session", "only"]

#: The Spark SQL spellings of the portable statements.
SPARK = Dialect("spark", "unix_micros({c})",
                "CASE WHEN isnan({c}) OR abs({c}) = CAST('Infinity' AS DOUBLE) THEN NULL "
                "ELSE {c} END", "`")

#: Columns a cached slice leaves out (no monitoring aggregate reads them); a statement that
#: names one runs on the files instead.
UNCACHED = ("prediction_id", "unit_id", "confidence")


def local_session(*, master: str = "local[*]", shuffle_partitions: int = 4,
                  config: dict[str, str] | None = None) -> Any:
    """A SparkSession for this machine (or the active one): UTC, quiet, small shuffles.

    Parameters
    ----------
    master
        Spark master URL; ``local[*]`` uses every core of this machine.
    shuffle_partitions
        ``spark.sql.shuffle.partitions`` (Spark's default of 200 is meant for clusters; the
        aggregates here are small).
    config
        Further ``spark.*`` settings.
    """
    sql_mod = require("pyspark.sql", "spark")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = {"spark.sql.session.timeZone": "UTC", "spark.ui.enabled": "false",
                "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": str(int(shuffle_partitions)),
                **(config or {})}
    builder = sql_mod.SparkSession.builder.master(master).appName("mlmkit")
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def literal(text: str) -> str:
    """A Spark SQL string literal (backslash escapes, Spark's default parser)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def only(frame: pl.DataFrame, versions: Sequence[str] | None) -> pl.DataFrame:
    """The rows of ``versions`` (``None`` or empty: every version, as ``where_clause``)."""
    return frame.filter(pl.col("version").is_in(list(versions))) if versions else frame


@dataclass
class Scope:
    """One model's day files cached in Spark memory, and the per-window results shared.

    ``frame`` is the cached DataFrame (unpersisted on exit); ``view`` the temporary view over
    it (features also under their storage names); ``results`` the aggregates computed for
    every version at once, by statement key, reused by later calls of the block.
    """

    model: str
    files: frozenset[str]
    frame: Any
    view: str
    results: dict[tuple[Any, ...], pl.DataFrame] = field(default_factory=dict)

    def covers(self, model: str, files: Sequence[str], statement: str) -> bool:
        """Whether ``statement`` over ``files`` of ``model`` can read the cached rows.

        Every statement filters on ``ts`` (or the ``date`` partition) within its own range,
        so extra cached days are filtered out exactly as unlisted files would be.
        """
        return (model == self.model and self.files.issuperset(files)
                and not any(c in statement for c in UNCACHED))

    def shared(self, key: tuple[Any, ...], compute: Callable[[], pl.DataFrame]
               ) -> pl.DataFrame:
        """``compute()`` once per ``key`` within the block."""
        if key not in self.results:
            self.results[key] = compute()
        return self.results[key]
