"""The DuckDB store: the only package that imports duckdb.

Aggregations run as SQL here; only small results (polars frames, numpy arrays) leave it.
"""

from __future__ import annotations

from mlmkit.store.database import Database
from mlmkit.store.registry.duckdb import DuckDBModelRegistry, ModelRegistry
from mlmkit.store.registry.memory import InMemoryModelRegistry

__all__ = ["Database", "DuckDBModelRegistry", "InMemoryModelRegistry", "ModelRegistry"]
