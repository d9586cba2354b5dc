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
from mlmkit.store.registry.duckdb import DuckDBModelRegistry, ModelRegistry
from mlmkit.store.registry.memory import InMemoryModelRegistry
from mlmkit.values import (
    ABTestConfig,
    ModelMetadata,
    ModelType,
    TimeRange,
    Version,
    parse_window,
)
from mlmkit.workspace import Workspace, open_workspace

open = open_workspace

__version__ = "0.1.0"

# Result and service types, loaded on first access so that ``import mlmkit`` stays light.
_LAZY = {name: "mlmkit.services" for name in (
    "ABTestResult", "ABTestingService", "AlertingService", "AutoTuningEngine", "BufferedWriter",
    "ConceptDriftResult", "DegradationInfo", "Guardrails", "PerformanceMonitor",
    "PredictionLog", "Rollout", "RolloutDecision", "ThresholdOptimization", "WindowMetrics",
    "run_job")}
__getattr__ = _lazy_getattr(__name__, _LAZY)

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
