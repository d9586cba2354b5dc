"""The per-task and segment aggregates of `SparkEngine`: the shared mixins in the Spark dialect.

`SparkAggregates` gives the Spark engine every method of
[`TaskStatisticsEngine`][mlmkit.store.engines.TaskStatisticsEngine] (`TaskAggregates`: the
statements of `mlmkit.store.engines.portable_tasks`, lists expanded with ``explode``) and of
`SegmentStatisticsEngine` / `SegmentTaskEngine` (`SegmentAggregates`: the statements of
`mlmkit.store.engines.portable_segments`), over the engine's ``_run`` and manifest. Spark
computes each aggregate over every row at once: the one "partial" is final and goes through
the same finishing code as the DuckDB engines. Kept apart from `mlmkit.store.engines.spark`
(at the module line cap).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from mlmkit.store.engines import _finish as fin
from mlmkit.store.engines._spark import SPARK, days
from mlmkit.store.engines.portable import Dialect, Statement
from mlmkit.store.engines.segments import SegmentAggregates
from mlmkit.store.engines.tasks import TaskAggregates
from mlmkit.values import TimeRange

__all__ = ["SPARK", "TASK_TYPES", "SparkAggregates"]

#: The per-task columns of the dataset (m009) as Spark reads them.
TASK_TYPES = {"label": "STRING", "actual_label": "STRING", "value": "DOUBLE",
              "actual_value": "DOUBLE", "probabilities": "ARRAY<STRUCT<label:STRING,p:DOUBLE>>"}


class SparkAggregates(TaskAggregates, SegmentAggregates):
    """`TaskAggregates` and `SegmentAggregates` over `SparkEngine._run` (Spark dialect)."""

    dialect: Dialect = SPARK
    manifest: dict[str, Any]

    def _run(self, stmt: str, params: list[Any], model: str,
             span: tuple[date | None, date | None] = (None, None)) -> pl.DataFrame:
        raise NotImplementedError  # provided by the engine

    def _merged(self, st: Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        return fin.merge([self._run(st.sql, st.params, model, days(span))], st.keys)

    def _rows(self, st: Statement, model: str, span: TimeRange | None) -> pl.DataFrame:
        return self._run(st.sql, st.params, model, days(span))

    def _feature_map(self, model: str) -> dict[str, tuple[str, str]]:
        feats = self.manifest["models"].get(model, {}).get("features", {})
        return {name: (f["column"], f["kind"]) for name, f in feats.items()}
