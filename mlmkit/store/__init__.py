"""The DuckDB store: the only package that imports duckdb.

Aggregations run as SQL here; only small results (polars frames, numpy arrays) leave it.
"""

from __future__ import annotations

from mlmkit.store.database import Database
from mlmkit.store.memory import InMemoryModelRegistry
from mlmkit.store.registry import DuckDBModelRegistry, ModelRegistry

__all__ = ["Database", "DuckDBModelRegistry", "InMemoryModelRegistry", "ModelRegistry"]
