"""mlmkit: manage ML models in production from Jupyter.

A model registry, a DuckDB prediction log with delayed ground truth, performance and drift
monitoring with alerts, A/B tests and guarded rollouts, and threshold / hyper-parameter tuning.

>>> import mlmkit as mk
>>> with mk.open() as ws:
...     _ = ws.registry.register(mk.ModelMetadata.for_n1_detector("1.0.0"))
...     str(ws.registry.get_latest("n1-detector").version)
'1.0.0'

Importing mlmkit opens nothing and starts nothing.
"""

from __future__ import annotations

import logging as _logging
from typing import TYPE_CHECKING, Any

from mlmkit._lazy import lazy_getattr as _lazy_getattr
from mlmkit.exceptions import (
    DependencyError,
    DuplicateError,
    LockedError,
    MlmkitError,
    NotFoundError,
    SchemaError,
    StateError,
    StoreError,
    ValidationError,
)
from mlmkit.values import (
    ABTestConfig,
    ModelMetadata,
    ModelType,
    TimeRange,
    Version,
    parse_window,
)

if TYPE_CHECKING:
    from mlmkit.store.registry.duckdb import DuckDBModelRegistry, ModelRegistry
    from mlmkit.store.registry.memory import InMemoryModelRegistry
    from mlmkit.workspace import Workspace, open_workspace

    open = open_workspace

__version__ = "0.1.0"

# mlmkit's log records (an alert fired by a rollback, a job's warning) reach no output until the
# application asks for them: mlmkit.ops.logging.configure(), MLMKIT_LOG, or logging's own set-up.
# Without a handler, Python's last-resort handler prints them on stderr (red in a notebook).
_logging.getLogger("mlmkit").addHandler(_logging.NullHandler())

# The store, the workspace, result and service types load on first access, so that
# ``import mlmkit`` (and with it ``mlmkit --help``) imports no duckdb, polars or numpy.
_LAZY = {name: "mlmkit.services" for name in (
    "ABTestResult", "ABTestingService", "AlertingService", "AutoTuningEngine", "BufferedWriter",
    "ConceptDriftResult", "DegradationInfo", "Guardrails", "PerformanceMonitor",
    "PredictionLog", "Rollout", "RolloutDecision", "ThresholdOptimization", "WindowMetrics",
    "run_job")}
_LAZY.update({"DuckDBModelRegistry": "mlmkit.store.registry.duckdb",
              "ModelRegistry": "mlmkit.store.registry.duckdb",
              "InMemoryModelRegistry": "mlmkit.store.registry.memory",
              "Workspace": "mlmkit.workspace", "open_workspace": "mlmkit.workspace"})
_lazy = _lazy_getattr(__name__, _LAZY)


def __getattr__(attr: str) -> Any:
    return _lazy("open_workspace" if attr == "open" else attr)

__all__ = [
    "ABTestConfig",
    "ABTestResult",
    "ABTestingService",
    "AlertingService",
    "AutoTuningEngine",
    "BufferedWriter",
    "ConceptDriftResult",
    "DegradationInfo",
    "Guardrails",
    "PerformanceMonitor",
    "PredictionLog",
    "Rollout",
    "RolloutDecision",
    "ThresholdOptimization",
    "WindowMetrics",
    "run_job",
    "DependencyError",
    "DuckDBModelRegistry",
    "DuplicateError",
    "InMemoryModelRegistry",
    "LockedError",
    "MlmkitError",
    "ModelMetadata",
    "ModelRegistry",
    "ModelType",
    "NotFoundError",
    "SchemaError",
    "StateError",
    "StoreError",
    "TimeRange",
    "ValidationError",
    "Version",
    "Workspace",
    "open",
    "open_workspace",
    "parse_window",
]
