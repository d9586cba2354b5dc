"""The base of ``ws.monitor``: its collaborators, shared checks and plain pass-throughs.

The registration check, the canonical version arguments, a binary model's window of one
version (what degradation reads for both of its windows), ``track_prediction`` (the seed's
name of ``ws.log.track``) and the daily summaries kept for retention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias, cast

import polars as pl

from mlmkit._validation import check_name
from mlmkit.exceptions import NotFoundError
from mlmkit.services._engine import EngineUser
from mlmkit.services.monitor.results import WindowMetrics
from mlmkit.services.monitor.window import TotalsRow, roc_aucs, window_metrics
from mlmkit.store.predictions import monitoring as monitor_sql
from mlmkit.store.predictions import regression_daily
from mlmkit.values import TimeRange, Version, VersionLike

if TYPE_CHECKING:
    from mlmkit.services.alerts.service import AlertingService
    from mlmkit.services.log import PredictionLog
    from mlmkit.store.database import Database
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = ["MonitorBase", "Versions", "canonical_version"]

Versions: TypeAlias = "VersionLike | Iterable[VersionLike] | None"  # one, several or all


def canonical_version(value: VersionLike, name: str = "version") -> str:
    """``value`` as a canonical version string (ValidationError naming ``name``)."""
    return str(Version.parse(value, name))


class MonitorBase(EngineUser):
    """The collaborators of ``ws.monitor``, the checks its methods share, pass-throughs."""

    db: Database
    log: PredictionLog
    registry: ModelRegistry
    alerts: AlertingService

    def _registered(self, model_name: str, versions: Sequence[str] | None = None
                    ) -> dict[str, Mapping[str, float]]:
        """Each version's ``performance_metrics``; NotFoundError names an unregistered one."""
        check_name("model_name", model_name)
        known = {str(m.version): m.performance_metrics
                 for m in self.registry.registered(model_name)}
        if not known:
            raise NotFoundError(f"model_name={model_name!r} is not registered")
        for version in versions or ():
            if version not in known:
                raise NotFoundError(f"{model_name=} version={version!r} is not registered")
        return known

    @staticmethod
    def _versions(version: Versions) -> list[str] | None:
        if version is None:
            return None
        if isinstance(version, (str, Version)) or not isinstance(version, Iterable):
            return [canonical_version(version)]  # a non-version scalar fails with its value
        return [canonical_version(v) for v in version]

    def _window_metrics(self, model_name: str, ver: str, span: TimeRange, *, min_labels: int,
                        ci: bool, confidence: float = 0.95, bins: int = 10_000,
                        scores: bool = True, latency: bool = True,
                        role: str = "served") -> WindowMetrics:
        """`get_current_metrics` of a binary model on canonical arguments (a resolved span)."""
        auc = None
        if scores:
            totals, _ = self.engine.window_summary(model_name, versions=[ver],
                                                   time_range=span, bins=0, role=role)
        else:
            totals = self.engine.window_counts(model_name, versions=[ver],
                                               time_range=span, role=role, latency=latency)
        row = cast(TotalsRow, totals.row(0, named=True)) if totals.height else None
        if scores and row is not None:
            auc = roc_aucs(self.engine, model_name, {ver: int(row["scored"])}, span, bins=bins,
                           role=role).get(ver)
        return window_metrics(model_name, ver, span.start, span.end, row, auc,
                              min_labels=min_labels, ci=ci, confidence=confidence)

    def track_prediction(
            self, model_name: str, version: VersionLike, prediction: bool | int, *,
            actual: bool | int | None = None, score: float | None = None,
            confidence: float | None = None, features: Mapping[str, object] | None = None,
            prediction_id: str | None = None, timestamp: datetime | None = None,
            unit_id: str | int | None = None, role: str = "served") -> str:
        """Same as ``ws.log.track`` (the seed's name); returns the prediction id."""
        return str(self.log.track(model_name, version, prediction, actual=actual, score=score,
                                  confidence=confidence, features=features, role=role,
                                  prediction_id=prediction_id, timestamp=timestamp,
                                  unit_id=unit_id))

    # ------------------------------------------------------------------ retention
    def summarize_daily(self, model_name: str | None = None, *,
                        before: datetime | None = None) -> int:
        """Refresh the per-day summary table from raw rows (call before deleting raw rows).

        Returns the number of (model, version, role, day) rows written. A summary is never
        replaced by one built from fewer rows, so it is safe to call at any time.
        """
        if model_name is not None:
            self._registered(model_name)
        return monitor_sql.refresh_daily_summary(self.db, model_name=model_name,
                                                 before=before)

    def rebuild_regression_days(self, model_name: str | None = None, *,
                                stale_only: bool = True) -> int:
        """Recompute the per-day regression statistics from the rows; the days rewritten.

        Every write keeps them exact, but a replaced label marks its day stale (read from
        its rows until rebuilt); the performance-monitoring job rebuilds those. ``stale_only=
        False`` recomputes every day (of ``model_name``).
        """
        return regression_daily.rebuild(self.db, model_name=model_name, stale_only=stale_only)

    def daily_summary(self, model_name: str, version: Versions = None, *,
                      start: datetime | None = None, end: datetime | None = None
                      ) -> pl.DataFrame:
        """The stored per-day summaries of a model (optionally some versions / days)."""
        versions = self._versions(version)
        self._registered(model_name, versions)
        return monitor_sql.daily_summary(self.db, model_name, versions=versions, start=start,
                                         end=end)
