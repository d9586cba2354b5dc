"""The model registry: the seed's interface, deployments and their history.

:class:`ModelRegistry` holds every rule (duplicates, semver order, deploy, rollback, history);
subclasses only store rows. :class:`DuckDBModelRegistry` persists in the workspace file (the
seed's cache-backed registry); :class:`~mlmkit.store.registry.memory.InMemoryModelRegistry`
is for tests and quick exploration. Both pass one contract test suite.
"""

from __future__ import annotations

import abc
import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import polars as pl

from mlmkit._validation import check_name
from mlmkit.exceptions import DuplicateError, NotFoundError, StateError
from mlmkit.store.database import Database
from mlmkit.values import ModelMetadata, ModelType, Version, VersionLike, utcnow

__all__ = ["DuckDBModelRegistry", "ModelRegistry", "HISTORY_SCHEMA"]

HISTORY_SCHEMA: dict[str, Any] = {
    "event_id": pl.Int64, "model_name": pl.String, "version": pl.String,
    "environment": pl.String, "action": pl.String, "previous_version": pl.String,
    "reason": pl.String, "actor": pl.String, "event_at": pl.Datetime("us", "UTC"),
}


class ModelRegistry(abc.ABC):
    """Model versions with metadata, plus deployments with an append-only history."""

    # ------------------------------------------------------------ storage primitives
    @abc.abstractmethod
    def _atomic(self) -> contextlib.AbstractContextManager[Any]:
        """A context in which reads and writes happen atomically."""

    @abc.abstractmethod
    def _rows(self, model_name: str | None = None) -> list[ModelMetadata]:
        """All stored versions (of one model, or of all)."""

    @abc.abstractmethod
    def _put(self, meta: ModelMetadata, *, replace: bool) -> None:
        """Insert (or replace) one version."""

    @abc.abstractmethod
    def _remove(self, model_name: str, version: str) -> bool:
        """Delete one version; whether it existed."""

    @abc.abstractmethod
    def _events(self, model_name: str | None = None) -> list[dict[str, Any]]:
        """Deployment events, oldest first."""

    @abc.abstractmethod
    def _append_event(self, event: dict[str, Any]) -> None:
        """Append one deployment event."""

    # ------------------------------------------------------------ CRUD
    def register(self, metadata: ModelMetadata) -> ModelMetadata:
        """Add a new model version; a version registered twice raises :class:`DuplicateError`.

        Examples
        --------
        >>> from mlmkit import InMemoryModelRegistry, ModelMetadata
        >>> reg = InMemoryModelRegistry()
        >>> _ = reg.register(ModelMetadata.for_n1_detector("1.0.0"))
        >>> reg.exists("n1-detector", "1.0.0"), reg.get_version_count("n1-detector")
        (True, 1)
        """
        _check_meta(metadata)
        with self._atomic():
            if self._find(metadata.model_name, metadata.version) is not None:
                raise DuplicateError(f"model_name={metadata.model_name!r} version="
                                     f"{str(metadata.version)!r} is already registered; "
                                     "use update() or register a new version")
            self._put(metadata, replace=False)
        return metadata

    def get(self, model_name: str, version: VersionLike) -> ModelMetadata | None:
        """Return one version, or ``None``."""
        check_name("model_name", model_name)
        return self._find(model_name, Version.parse(version))

    def require(self, model_name: str, version: VersionLike) -> ModelMetadata:
        """Return one version or raise :class:`NotFoundError`."""
        meta = self.get(model_name, version)
        if meta is None:
            raise NotFoundError(f"model_name={model_name!r} version={str(version)!r} is not "
                                "registered")
        return meta

    def get_latest(self, model_name: str) -> ModelMetadata | None:
        """Return the highest version by semver precedence, or ``None``."""
        versions = self.get_all(model_name)
        return versions[-1] if versions else None

    def update(self, metadata: ModelMetadata) -> ModelMetadata:
        """Replace an existing version's metadata (missing → :class:`NotFoundError`)."""
        _check_meta(metadata)
        with self._atomic():
            self.require(metadata.model_name, metadata.version)
            self._put(metadata, replace=True)
        return metadata

    def delete(self, model_name: str, version: VersionLike) -> bool:
        """Delete a version; ``False`` when it did not exist. Its history is kept."""
        check_name("model_name", model_name)
        return self._remove(model_name, str(Version.parse(version)))

    def get_all(self, model_name: str) -> list[ModelMetadata]:
        """Every version of ``model_name`` in semver order (oldest first)."""
        check_name("model_name", model_name)
        return sorted(self._rows(model_name), key=lambda m: m.version)

    def get_by_type(self, model_type: ModelType | str) -> list[ModelMetadata]:
        """Every version of every model of ``model_type``."""
        kind = ModelType.parse(model_type)
        return _ordered(m for m in self._rows() if m.model_type == kind)

    def get_by_environment(self, environment: str) -> list[ModelMetadata]:
        """Every version currently deployed to ``environment``."""
        check_name("environment", environment)
        return _ordered(m for m in self._rows() if m.environment == environment)

    def get_production_models(self) -> list[ModelMetadata]:
        """Every version currently deployed to ``production``."""
        return self.get_by_environment("production")

    def exists(self, model_name: str, version: VersionLike) -> bool:
        """Whether the version is registered."""
        return self.get(model_name, version) is not None

    def get_all_model_names(self) -> list[str]:
        """Sorted distinct model names."""
        return sorted({m.model_name for m in self._rows()})

    def get_version_count(self, model_name: str) -> int:
        """Number of registered versions of ``model_name``."""
        check_name("model_name", model_name)
        return len(self._rows(model_name))

    def deployed_version(self, model_name: str, environment: str = "production"
                         ) -> Version | None:
        """The version of ``model_name`` serving ``environment`` now, or ``None``."""
        stack = self._serving_stack(model_name, environment)
        return Version.parse(stack[-1]) if stack else None

    # ------------------------------------------------------------ deployments
    def deploy(self, model_name: str, version: VersionLike, environment: str = "production", *,
               reason: str | None = None, actor: str | None = None,
               action: str = "deploy") -> ModelMetadata:
        """Make ``version`` the one serving ``environment``; record the event.

        The version previously serving that environment is marked undeployed (its row keeps
        ``deployed_at``); :meth:`rollback` returns to it.
        """
        check_name("environment", environment)
        with self._atomic():
            meta = self.require(model_name, version)
            current = self.deployed_version(model_name, environment)
            if current is not None and current != meta.version:
                old = self._find(model_name, current)
                if old is not None:
                    self._put(_undeployed(old), replace=True)
            deployed = meta.with_deployment(environment, utcnow())
            self._put(deployed, replace=True)
            self._append_event(_event(model_name, str(meta.version), environment, action,
                                      None if current is None else str(current), reason, actor))
        return deployed

    def rollback(self, model_name: str, environment: str = "production", *,
                 reason: str | None = None, actor: str | None = None) -> Version:
        """Return ``environment`` to the version deployed before the current one.

        Returns the version now deployed. With no earlier deployment, raises
        :class:`StateError`.
        """
        check_name("model_name", model_name)
        check_name("environment", environment)
        with self._atomic():
            stack = self._serving_stack(model_name, environment)
            if len(stack) < 2:
                raise StateError(f"model_name={model_name!r} has no earlier deployment in "
                                 f"environment={environment!r} to roll back to")
            current, target = stack[-1], stack[-2]
            old = self._find(model_name, Version.parse(current))
            if old is not None:
                self._put(_undeployed(old), replace=True)
            meta = self.require(model_name, target)
            self._put(meta.with_deployment(environment, utcnow()), replace=True)
            self._append_event(_event(model_name, target, environment, "rollback", current,
                                      reason, actor))
        return Version.parse(target)

    def record_event(self, model_name: str, version: VersionLike, environment: str,
                     action: str, *, reason: str | None = None,
                     actor: str | None = None) -> None:
        """Append a non-deploying event (e.g. a rollout step) to the history."""
        check_name("action", action)
        if action in ("deploy", "rollback"):
            raise StateError("use deploy() or rollback() for deployment events")
        self._append_event(_event(model_name, str(Version.parse(version)), environment, action,
                                  None, reason, actor))

    def history(self, model_name: str | None = None, *, environment: str | None = None
                ) -> pl.DataFrame:
        """Every deployment event, oldest first, with ``served_until`` for deploy/rollback rows.

        ``served_until`` is when the next deploy or rollback in the same environment replaced
        the version (``null`` while it still serves).
        """
        for name, value in (("model_name", model_name), ("environment", environment)):
            if value is not None:
                check_name(name, value)
        events = self._events(model_name)
        frame = pl.DataFrame(events, schema=HISTORY_SCHEMA, orient="row") if events else \
            pl.DataFrame(schema=HISTORY_SCHEMA)
        if environment is not None:
            frame = frame.filter(pl.col("environment") == environment)
        serving = frame.filter(pl.col("action").is_in(["deploy", "rollback"])).with_columns(
            pl.col("event_at").shift(-1).over(["model_name", "environment"])
            .alias("served_until")
        ).select("event_id", "served_until")
        return frame.join(serving, on="event_id", how="left").sort("event_id")

    # ------------------------------------------------------------ helpers
    def _find(self, model_name: str, version: Version) -> ModelMetadata | None:
        for meta in self._rows(model_name):
            if meta.version == version:
                return meta
        return None

    def _serving_stack(self, model_name: str, environment: str) -> list[str]:
        stack: list[str] = []
        for ev in self._events(model_name):
            if ev["environment"] != environment:
                continue
            if ev["action"] == "deploy":
                if not stack or stack[-1] != ev["version"]:
                    stack.append(ev["version"])
            elif ev["action"] == "rollback" and stack:
                stack.pop()
        return stack


def _check_meta(metadata: Any) -> None:
    if not isinstance(metadata, ModelMetadata):
        from mlmkit._validation import invalid

        raise invalid("metadata", "a ModelMetadata", metadata)


def _ordered(metas: Iterator[ModelMetadata] | Any) -> list[ModelMetadata]:
    return sorted(metas, key=lambda m: (m.model_name, m.version.sort_key()))


def _undeployed(meta: ModelMetadata) -> ModelMetadata:
    import dataclasses

    return dataclasses.replace(meta, environment=None)


def _event(model_name: str, version: str, environment: str, action: str,
           previous: str | None, reason: str | None, actor: str | None) -> dict[str, Any]:
    import getpass

    if actor is None:
        try:
            actor = getpass.getuser()
        except (KeyError, OSError):
            actor = "unknown"
    return {"model_name": model_name, "version": version, "environment": environment,
            "action": action, "previous_version": previous, "reason": reason,
            "actor": actor, "event_at": utcnow()}


class DuckDBModelRegistry(ModelRegistry):
    """The registry persisted in the workspace's DuckDB file."""

    _COLUMNS = ("model_name, version, model_type, configuration, performance_metrics, "
                "metadata, created_at, deployed_at, environment")

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[Any]:
        # One lease for the whole block: no other process interleaves; DuckDB statements
        # inside are few and the block is short.
        with self._db.transaction() as conn:
            yield conn

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
            conn.execute(f"{verb} INTO models ({self._COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
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
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def _append_event(self, event: dict[str, Any]) -> None:
        cols = list(event)
        with self._db.connection() as conn:
            conn.execute(f"INSERT INTO deployments ({', '.join(cols)}) VALUES "
                         f"({', '.join('?' for _ in cols)})", list(event.values()))


def _meta_to_row(meta: ModelMetadata) -> list[Any]:
    return [meta.model_name, str(meta.version), meta.model_type.value,
            json.dumps(dict(meta.configuration), default=str),
            json.dumps(dict(meta.performance_metrics)),
            json.dumps(dict(meta.metadata), default=str),
            meta.created_at, meta.deployed_at, meta.environment]


def _meta_from_row(row: tuple[Any, ...]) -> ModelMetadata:
    name, version, kind, config, perf, meta, created, deployed, env = row
    return ModelMetadata(name, ModelType(kind), Version.parse(version), json.loads(config),
                         json.loads(perf), _aware(created), _aware(deployed) if deployed else None,
                         env, json.loads(meta))


def _aware(value: datetime) -> datetime:
    from mlmkit.values import utc

    return utc(value)
