"""The workspace: one DuckDB file (or memory) wired to the registry, log and services.

This is the seed's "initializer" and the composition root: it builds each service with only
the collaborators it uses (the database, the registry, the log, another service), typed with
the real classes. Services are created on first access, so opening a workspace imports
nothing heavy.
"""

from __future__ import annotations

import functools
import os
from types import TracebackType
from typing import TYPE_CHECKING

from mlmkit.store.database import Database
from mlmkit.store.predictions.writes import PredictionStore
from mlmkit.store.registry.duckdb import DuckDBModelRegistry

if TYPE_CHECKING:
    from mlmkit.services.alerts.service import AlertingService
    from mlmkit.services.experiments.ab_test import ABTestingService
    from mlmkit.services.log import PredictionLog
    from mlmkit.services.monitor.service import PerformanceMonitor
    from mlmkit.services.tuning.engine import AutoTuningEngine
    from mlmkit.store.engines import StatisticsEngine

__all__ = ["Workspace", "open_workspace"]


class Workspace:
    """Registry, prediction log, monitor, A/B tests, tuning and alerts over one store.

    Use [`mlmkit.open`][mlmkit.workspace.open_workspace] to create one. Closing releases the file; a
    closed workspace refuses further use. ``engine`` (a
    [`StatisticsEngine`][mlmkit.store.engines.StatisticsEngine], default the workspace file
    itself) computes the aggregates of the monitor, the A/B tests and tuning; the registry,
    alerts, jobs and rollouts stay in the file.
    """

    def __init__(self, db: Database, *, engine: StatisticsEngine | None = None) -> None:
        from mlmkit.store.engines import WorkspaceEngine

        self.db = db
        self.registry = DuckDBModelRegistry(db)
        self.predictions_store = PredictionStore(db)
        self.engine: StatisticsEngine = WorkspaceEngine(db) if engine is None else engine

    @functools.cached_property
    def log(self) -> PredictionLog:
        """The prediction log ([`PredictionLog`][mlmkit.services.log.PredictionLog])."""
        from mlmkit.services.log import PredictionLog

        return PredictionLog(self.predictions_store)

    @functools.cached_property
    def monitor(self) -> PerformanceMonitor:
        """Performance and drift monitoring (a `PerformanceMonitor`)."""
        from mlmkit.services.monitor.service import PerformanceMonitor

        return PerformanceMonitor(self.db, self.log, self.registry, self.alerts).using(self.engine)

    @functools.cached_property
    def alerts(self) -> AlertingService:
        """Alert rules, sinks and the alert table (an `AlertingService`).

        Rules call the monitor and the monitor fires alerts, so the alerting service gets the
        monitor as a provider (``self._monitor``), called only when rules are evaluated.
        """
        from mlmkit.services.alerts.service import AlertingService

        return AlertingService(self.db, self.registry, monitor=self._monitor)

    def _monitor(self) -> PerformanceMonitor:
        return self.monitor

    @functools.cached_property
    def ab(self) -> ABTestingService:
        """A/B tests, routing and rollouts (an `ABTestingService`)."""
        from mlmkit.services.experiments.ab_test import ABTestingService

        return ABTestingService(self.db, self.registry, self.alerts).using(self.engine)

    @functools.cached_property
    def tuning(self) -> AutoTuningEngine:
        """Threshold and hyper-parameter tuning (an `AutoTuningEngine`)."""
        from mlmkit.services.tuning.engine import AutoTuningEngine

        return AutoTuningEngine(self.db, self.registry, self.log).using(self.engine)

    @property
    def path(self) -> str | None:
        """The database file, or ``None`` for an in-memory workspace."""
        return None if self.db.path is None else str(self.db.path)

    def close(self) -> None:
        """Release the database file. Idempotent."""
        self.db.close()

    @property
    def closed(self) -> bool:
        """Whether the workspace was closed (and not reopened since)."""
        return self.db.closed

    def reopen(self) -> Workspace:
        """Make a closed workspace file usable again and return it. Idempotent.

        Services, registries and rollouts taken from it before ``close()`` keep working (the
        notebook panels call this before each action, so "Run All" ending in ``ws.close()``
        leaves them usable). An in-memory workspace is discarded when closed:
        ``StateError``; a file deleted since: ``NotFoundError``.
        """
        self.db.reopen()
        return self

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({self.path or ':memory:'})"


def open_workspace(path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 30.0,
                   create: bool = True, read_only: bool = False,
                   engine: StatisticsEngine | None = None) -> Workspace:
    """Open (creating or migrating) a workspace file, or an in-memory one with ``path=None``.

    Parameters
    ----------
    path
        The workspace file; ``None`` for an in-memory workspace.
    lock_timeout
        Seconds to wait for another process before raising `LockedError`.
    create
        Create a missing file; ``False`` raises `NotFoundError` instead.
    read_only
        Read an existing file without writing anything, e.g. on read-only media: nothing is
        migrated, writes raise `StateError`, and read-only processes share the file.
    engine
        Where the aggregates run (default: this file), e.g. a
        [`ParquetEngine`][mlmkit.store.engines.ParquetEngine] over an exported dataset.

    Examples
    --------
    >>> import mlmkit
    >>> with mlmkit.open() as ws:
    ...     ws.registry.get_all_model_names()
    []
    """
    return Workspace(Database(path, lock_timeout=lock_timeout, create=create,
                              read_only=read_only), engine=engine)
