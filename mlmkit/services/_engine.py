"""The statistics engine a service reads its aggregates from (the workspace file by default)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Self

from mlmkit.store.engines import StatisticsEngine, WorkspaceEngine

if TYPE_CHECKING:
    from mlmkit.store.database import Database

__all__ = ["EngineUser"]


class EngineUser:
    """Mixin of the services whose aggregates can run on another engine.

    ``engine`` is the workspace database's
    [`WorkspaceEngine`][mlmkit.store.engines.WorkspaceEngine] until `using` hands the service
    another [`StatisticsEngine`][mlmkit.store.engines.StatisticsEngine]; writes and workspace
    state (registry, alerts, rollouts, tuning runs) always go to ``db``.
    """

    db: Database
    _engine: StatisticsEngine | None = None

    @property
    def engine(self) -> StatisticsEngine:
        """Where the read-only aggregates run."""
        if self._engine is None:
            self._engine = WorkspaceEngine(self.db)
        return self._engine

    def using(self, engine: StatisticsEngine) -> Self:
        """A copy of the service whose aggregates run on ``engine``.

        Examples
        --------
        >>> import mlmkit
        >>> from mlmkit.store.engines import WorkspaceEngine
        >>> with mlmkit.open() as ws:
        ...     ws.monitor.using(WorkspaceEngine(ws.db)).engine.name
        'workspace'
        """
        if not isinstance(engine, StatisticsEngine):
            from mlmkit._validation import invalid

            raise invalid("engine", "a StatisticsEngine (e.g. ParquetEngine)", engine)
        clone = copy.copy(self)
        clone._engine = engine
        return clone
