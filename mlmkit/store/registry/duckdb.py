"""The registry persisted in the workspace's DuckDB file (the seed's cache-backed registry).

[`ModelRegistry`][mlmkit.store.registry.ModelRegistry] holds every rule (duplicates, semver
order, deployments derived from the history); this module only stores rows: ``models`` (one row per
version, JSON mappings written by `mlmkit._jsonable`) and ``deployments`` (the history).
Every multi-statement operation runs in one transaction of the workspace's lease.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from mlmkit import _jsonable
from mlmkit.store.database import Database
from mlmkit.store.registry.base import HISTORY_SCHEMA, SERVING_ACTIONS, ModelRegistry
from mlmkit.values import ModelMetadata, ModelType, Version, utc

__all__ = ["DuckDBModelRegistry", "HISTORY_SCHEMA", "ModelRegistry", "SERVING_ACTIONS"]


class DuckDBModelRegistry(ModelRegistry):
    """The registry persisted in the workspace's DuckDB file."""

    _COLUMNS = ("model_name, version, model_type, configuration, performance_metrics, "
                "metadata, created_at, task")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = threading.local()

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[Any]:
        # One lease and one transaction for the whole block (nested blocks join it): no other
        # process interleaves, and an error anywhere rolls every statement back.
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                with self._db.connection() as conn:
                    yield conn
            finally:
                self._local.depth -= 1
            return
        with self._db.transaction() as conn:
            self._local.depth = 1
            try:
                yield conn
            finally:
                self._local.depth = 0

    def _rows(self, model_name: str | None = None) -> list[ModelMetadata]:
        sql = f"SELECT {self._COLUMNS} FROM models"
        params: list[Any] = []
        if model_name is not None:
            sql += " WHERE model_name = ?"
            params.append(model_name)
        with self._db.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_meta_from_row(r) for r in rows]

    def _put(self, meta: ModelMetadata, *, replace: bool) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        with self._db.connection() as conn:
            conn.execute(f"{verb} INTO models ({self._COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                         _meta_to_row(meta))

    def _remove(self, model_name: str, version: str) -> bool:
        with self._db.connection() as conn:
            rows = conn.execute("DELETE FROM models WHERE model_name = ? AND version = ? "
                                "RETURNING 1", [model_name, version]).fetchall()
        return bool(rows)

    def _events(self, model_name: str | None = None) -> list[dict[str, Any]]:
        cols = list(HISTORY_SCHEMA)
        sql = f"SELECT {', '.join(cols)} FROM deployments"
        params: list[Any] = []
        if model_name is not None:
            sql += " WHERE model_name = ?"
            params.append(model_name)
        with self._db.connection() as conn:
            rows = conn.execute(sql + " ORDER BY event_id", params).fetchall()
        events = [dict(zip(cols, r, strict=True)) for r in rows]
        for ev in events:
            ev["event_at"] = utc(ev["event_at"])
        return events

    def _append_event(self, event: dict[str, Any]) -> None:
        cols = list(event)
        with self._db.connection() as conn:
            conn.execute(f"INSERT INTO deployments ({', '.join(cols)}) VALUES "
                         f"({', '.join('?' for _ in cols)})", list(event.values()))


def _meta_to_row(meta: ModelMetadata) -> list[Any]:
    return [meta.model_name, str(meta.version), meta.model_type.value,
            _jsonable.dumps(dict(meta.configuration)),
            _jsonable.dumps(dict(meta.performance_metrics)),
            _jsonable.dumps(dict(meta.metadata)), meta.created_at, meta.task.value]


def _meta_from_row(row: tuple[Any, ...]) -> ModelMetadata:
    name, version, kind, config, perf, meta, created, task = row
    return ModelMetadata(name, ModelType(kind), Version.parse(version), _jsonable.loads(config),
                         _jsonable.loads(perf), utc(created), metadata=_jsonable.loads(meta),
                         task=task)
