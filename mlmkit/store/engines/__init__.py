"""Statistics engines: where the read-only aggregates of the prediction log run.

``StatisticsEngine`` is the seam (`base`); ``WorkspaceEngine`` runs
on the workspace file, ``ParquetEngine`` on an exported Parquet dataset.
"""

from __future__ import annotations

from mlmkit.store.engines.base import Side, StatisticsEngine
from mlmkit.store.engines.dataset import export_dataset
from mlmkit.store.engines.parquet import ParquetEngine
from mlmkit.store.engines.workspace import WorkspaceEngine

__all__ = ["ParquetEngine", "Side", "StatisticsEngine", "WorkspaceEngine", "export_dataset"]
