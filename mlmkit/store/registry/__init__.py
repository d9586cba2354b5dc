"""The model registry tables (deployments with history), and an in-memory twin for tests."""

from __future__ import annotations

from mlmkit.store.registry.duckdb import (
    HISTORY_SCHEMA,
    DuckDBModelRegistry,
    ModelRegistry,
)
from mlmkit.store.registry.memory import (
    InMemoryModelRegistry,
)

__all__ = [
    'DuckDBModelRegistry',
    'HISTORY_SCHEMA',
    'InMemoryModelRegistry',
    'ModelRegistry',
]
