"""The model registry: versions, and deployments derived from an append-only history.

``base`` holds every rule ([`ModelRegistry`][mlmkit.store.registry.ModelRegistry]), ``duckdb``
the workspace-file storage, ``memory`` an in-process twin for tests; one contract test suite runs
over both.
"""

from __future__ import annotations

from mlmkit.store.registry.base import (
    HISTORY_SCHEMA,
    ModelRegistry,
)
from mlmkit.store.registry.duckdb import (
    DuckDBModelRegistry,
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
