"""The Spark types of the per-task dataset columns, for `SparkEngine`'s read schema.

The per-task and segment aggregates of the Spark engine (`TaskAggregates`: the statements of
`mlmkit.store.engines.portable_tasks`, lists expanded with ``explode``; `SegmentAggregates`:
those of `mlmkit.store.engines.portable_segments`) come from
`mlmkit.store.engines.dataset_engine.DatasetEngine` in the ``SPARK`` dialect, as every other
aggregate does.
"""

from __future__ import annotations

from mlmkit.store.engines._spark import SPARK

__all__ = ["SPARK", "TASK_TYPES"]

#: The per-task columns of the dataset (m009) as Spark reads them.
TASK_TYPES = {"label": "STRING", "actual_label": "STRING", "value": "DOUBLE",
              "actual_value": "DOUBLE", "probabilities": "ARRAY<STRUCT<label:STRING,p:DOUBLE>>"}
