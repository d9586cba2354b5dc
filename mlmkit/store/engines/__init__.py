"""Statistics engines: where the read-only aggregates of the prediction log run.

``StatisticsEngine`` is the seam (`base`); ``WorkspaceEngine`` runs
on the workspace file, ``ParquetEngine`` on an exported Parquet dataset, ``SparkEngine``
on the same dataset with Apache Spark (pyspark is imported only when one is built).
"""

from __future__ import annotations

from mlmkit.store.engines.base import Side, StatisticsEngine, TaskStatisticsEngine
from mlmkit.store.engines.dataset import export_dataset
from mlmkit.store.engines.parquet import ParquetEngine
from mlmkit.store.engines.spark import SparkEngine
from mlmkit.store.engines.workspace import WorkspaceEngine

__all__ = ["ParquetEngine", "Side", "SparkEngine", "StatisticsEngine", "TaskStatisticsEngine",
           "WorkspaceEngine",
           "export_dataset"]
