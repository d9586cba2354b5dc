"""The registry's rules, shared by every storage: versions, deployments, history.

One source of truth decides which version serves which environment: the append-only
deployment history. ``deploy`` and ``rollback`` events put a version in an environment (the
last such event wins), an ``undeploy`` event empties it. A version may serve several
environments at once. The ``environment`` and ``deployed_at`` of every
[`ModelMetadata`][mlmkit.values.ModelMetadata] the registry returns are derived from that history,
never stored:

- `ModelRegistry.get_by_environment` (and `get_production_models`)
  return each version as seen from the environment asked for;
- every other read returns the version's primary environment: ``production`` when it serves
  production, otherwise the environment it was deployed to most recently;
  `environments` lists them all.

The seed's recipe ``registry.update(meta.with_deployment(env))`` records a ``deploy`` event,
``update(meta.with_deployment(None))`` an ``undeploy`` of every environment the version
serves. A version that serves an environment cannot be deleted.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from datetime import datetime
from typing import Any

import polars as pl

from mlmkit._faults import fault_point
from mlmkit._validation import check_name, invalid
from mlmkit.exceptions import DuplicateError, NotFoundError, StateError
from mlmkit.store.registry._rules import Placements as _Placements
from mlmkit.store.registry._rules import bare as _bare
from mlmkit.store.registry._rules import check_meta as _check_meta
from mlmkit.store.registry._rules import check_task as _check_task
from mlmkit.store.registry._rules import environment_order as _environment_order
from mlmkit.store.registry._rules import event as _event
from mlmkit.store.registry._rules import ordered as _ordered
from mlmkit.store.registry._rules import placed as _placed
from mlmkit.values import ModelMetadata, ModelType, Task, Version, VersionLike

__all__ = ["HISTORY_SCHEMA", "ModelRegistry", "SERVING_ACTIONS"]

HISTORY_SCHEMA: dict[str, Any] = {
    "event_id": pl.Int64, "model_name": pl.String, "version": pl.String,
    "environment": pl.String, "action": pl.String, "previous_version": pl.String,
    "reason": pl.String, "actor": pl.String, "event_at": pl.Datetime("us", "UTC"),
}
SERVING_ACTIONS = ("deploy", "rollback", "undeploy")
"""History actions that change what serves; every other action is informational."""



class ModelRegistry(abc.ABC):
    """Model versions with metadata, plus deployments with an append-only history."""

    # ------------------------------------------------------------ storage primitives
    @abc.abstractmethod
    def _atomic(self) -> contextlib.AbstractContextManager[Any]:
        """A reentrant context whose writes all happen or none do."""

    @abc.abstractmethod
    def _rows(self, model_name: str | None = None) -> list[ModelMetadata]:
        """All stored versions (of one model, or of all), without deployment fields."""

    @abc.abstractmethod
    def _put(self, meta: ModelMetadata, *, replace: bool) -> None:
        """Insert (or replace) one version (deployment fields are ``None``)."""

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
        """Add a new model version; a version registered twice raises `DuplicateError`.

        Metadata carrying an ``environment`` is deployed there (with a history event).

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
            if self._stored(metadata.model_name, metadata.version) is not None:
                raise DuplicateError(f"model_name={metadata.model_name!r} version="
                                     f"{str(metadata.version)!r} is already registered; "
                                     "use update() or register a new version")
            _check_task(self._rows(metadata.model_name), metadata)
            self._put(_bare(metadata), replace=False)
            if metadata.environment is not None:
                self._deploy(metadata.model_name, metadata.version, metadata.environment,
                             "register() with an environment", None)
            return self.require(metadata.model_name, metadata.version)

    def get(self, model_name: str, version: VersionLike) -> ModelMetadata | None:
        """Return one version (deployment fields derived from the history), or ``None``."""
        check_name("model_name", model_name)
        version = Version.parse(version)
        meta = self._stored(model_name, version)
        return None if meta is None else _placed(meta, self._placements(model_name))

    def require(self, model_name: str, version: VersionLike) -> ModelMetadata:
        """Return one version or raise [`NotFoundError`][mlmkit.exceptions.NotFoundError]."""
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
        """Replace an existing version's metadata (missing → `NotFoundError`).

        ``metadata.environment`` is the deployment wanted: an environment the version does not
        serve yet is deployed (``deploy`` event, the version keeps its other environments);
        ``None`` undeploys every environment it serves (``undeploy`` events). To change only
        the configuration of a deployed version, start from `get`. Returns the stored
        version as `get` reads it.
        """
        _check_meta(metadata)
        name, version = metadata.model_name, metadata.version
        with self._atomic():
            self.require(name, version)
            _check_task(self._rows(name), metadata)
            self._put(_bare(metadata), replace=True)
            fault_point("registry.update.after_put")
            serving = self.environments(name, version)
            if metadata.environment is None:
                for env in serving:
                    self._undeploy(name, env, "update() with environment=None", None)
            elif metadata.environment not in serving:
                self._deploy(name, version, metadata.environment,
                             f"update() with environment={metadata.environment!r}", None)
            return self.require(name, version)

    def delete(self, model_name: str, version: VersionLike) -> bool:
        """Delete a version; ``False`` when it did not exist. Its history is kept.

        A version serving an environment raises [`StateError`][mlmkit.exceptions.StateError]:
        deploy another version there (or `undeploy`) first.
        """
        check_name("model_name", model_name)
        version = Version.parse(version)
        with self._atomic():
            serving = self.environments(model_name, version)
            if serving:
                raise StateError(f"model_name={model_name!r} version={str(version)!r} serves "
                                 f"environments {serving}; deploy another version there or "
                                 "undeploy it before deleting")
            return self._remove(model_name, str(version))

    def get_all(self, model_name: str) -> list[ModelMetadata]:
        """Every version of ``model_name`` in semver order (oldest first)."""
        check_name("model_name", model_name)
        placements = self._placements(model_name)
        return sorted((_placed(m, placements) for m in self._rows(model_name)),
                      key=lambda m: m.version)

    def registered(self, model_name: str) -> list[ModelMetadata]:
        """Every version of ``model_name`` as registered, in semver order, one read.

        Without where each serves (``environment`` / ``deployed_at`` unset): `get_all` also
        reads the deployment history for those (~1 ms more per call).
        """
        check_name("model_name", model_name)
        return sorted(self._rows(model_name), key=lambda m: m.version)

    def get_by_type(self, model_type: ModelType | str) -> list[ModelMetadata]:
        """Every version of every model of ``model_type``."""
        kind = ModelType.parse(model_type)
        placements = self._placements()
        return _ordered(_placed(m, placements) for m in self._rows() if m.model_type == kind)

    def get_by_environment(self, environment: str) -> list[ModelMetadata]:
        """Every version serving ``environment`` now, with that environment and its time."""
        check_name("environment", environment)
        placements = self._placements()
        found = []
        for meta in self._rows():
            envs = placements.get((meta.model_name, str(meta.version)), {})
            if environment in envs:
                found.append(dataclasses.replace(meta, environment=environment,
                                                 deployed_at=envs[environment]))
        return _ordered(found)

    def get_production_models(self) -> list[ModelMetadata]:
        """Every version serving ``production`` now (one per model)."""
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

    def task(self, model_name: str) -> Task:
        """The task every version of ``model_name`` shares; ``binary`` when unregistered."""
        check_name("model_name", model_name)
        return next((m.task for m in self._rows(model_name)), Task.BINARY)

    def deployed_version(self, model_name: str, environment: str = "production"
                         ) -> Version | None:
        """The version of ``model_name`` serving ``environment`` now, or ``None``."""
        stack = self._serving_stack(model_name, environment)
        return Version.parse(stack[-1]) if stack else None

    def environments(self, model_name: str, version: VersionLike) -> list[str]:
        """Every environment the version serves now: ``production`` first, then newest first.

        The first one is the ``environment`` that `get` reports.
        """
        check_name("model_name", model_name)
        envs = self._placements(model_name).get((model_name, str(Version.parse(version))), {})
        return _environment_order(envs)

    # ------------------------------------------------------------ deployments
    def deploy(self, model_name: str, version: VersionLike, environment: str = "production", *,
               reason: str | None = None, actor: str | None = None,
               action: str = "deploy") -> ModelMetadata:
        """Make ``version`` the one serving ``environment``; record the event.

        One history event is the whole change (the version that served before stops serving
        that environment; `rollback` returns to it). ``action`` must be ``"deploy"``.
        """
        check_name("model_name", model_name)
        check_name("environment", environment)
        if action != "deploy":
            raise invalid("action", "'deploy' (use rollback() or undeploy())", action)
        with self._atomic():
            self._deploy(model_name, Version.parse(version), environment, reason, actor)
            return self._as_serving(model_name, version, environment)

    def rollback(self, model_name: str, environment: str = "production", *,
                 reason: str | None = None, actor: str | None = None) -> Version:
        """Return ``environment`` to the version deployed before the current one.

        Returns the version now deployed. With no earlier deployment (since the last
        `undeploy`), raises [`StateError`][mlmkit.exceptions.StateError].
        """
        check_name("model_name", model_name)
        check_name("environment", environment)
        with self._atomic():
            stack = self._serving_stack(model_name, environment)
            if len(stack) < 2:
                raise StateError(f"model_name={model_name!r} has no earlier deployment in "
                                 f"environment={environment!r} to roll back to")
            current, target = stack[-1], stack[-2]
            if self.get(model_name, target) is None:
                raise StateError(f"model_name={model_name!r}: version {target}, which served "
                                 f"environment={environment!r} before {current}, was deleted; "
                                 "deploy a version explicitly")
            self._append_event(_event(model_name, target, environment, "rollback", current,
                                      reason, actor))
        return Version.parse(target)

    def undeploy(self, model_name: str, environment: str = "production", *,
                 reason: str | None = None, actor: str | None = None) -> Version:
        """Stop serving ``environment``; return the version that served it.

        Nothing serves ``environment`` afterwards, and `rollback` cannot return past this
        event. Nothing serving raises [`StateError`][mlmkit.exceptions.StateError].
        """
        check_name("model_name", model_name)
        check_name("environment", environment)
        with self._atomic():
            return self._undeploy(model_name, environment, reason, actor)

    def record_event(self, model_name: str, version: VersionLike, environment: str,
                     action: str, *, reason: str | None = None,
                     actor: str | None = None) -> None:
        """Append a non-deploying event (e.g. a rollout step) to the history."""
        check_name("action", action)
        if action in SERVING_ACTIONS:
            raise StateError("use deploy(), rollback() or undeploy() for deployment events")
        self._append_event(_event(model_name, str(Version.parse(version)), environment, action,
                                  None, reason, actor))

    def history(self, model_name: str | None = None, *, environment: str | None = None
                ) -> pl.DataFrame:
        """Every deployment event, oldest first, with ``served_until`` for deploy/rollback rows.

        ``served_until`` is when the next deploy, rollback or undeploy in the same environment
        replaced the version (``null`` while it still serves).
        """
        for name, value in (("model_name", model_name), ("environment", environment)):
            if value is not None:
                check_name(name, value)
        events = self._events(model_name)
        frame = pl.DataFrame(events, schema=HISTORY_SCHEMA, orient="row") if events else \
            pl.DataFrame(schema=HISTORY_SCHEMA)
        if environment is not None:
            frame = frame.filter(pl.col("environment") == environment)
        serving = frame.filter(pl.col("action").is_in(SERVING_ACTIONS)).with_columns(
            pl.col("event_at").shift(-1).over(["model_name", "environment"])
            .alias("served_until")
        ).filter(pl.col("action") != "undeploy").select("event_id", "served_until")
        return frame.join(serving, on="event_id", how="left").sort("event_id")

    # ------------------------------------------------------------ helpers
    def _deploy(self, model_name: str, version: Version, environment: str,
                reason: str | None, actor: str | None) -> None:
        self.require(model_name, version)
        current = self.deployed_version(model_name, environment)
        self._append_event(_event(model_name, str(version), environment, "deploy",
                                  None if current is None else str(current), reason, actor))

    def _undeploy(self, model_name: str, environment: str, reason: str | None,
                  actor: str | None) -> Version:
        current = self.deployed_version(model_name, environment)
        if current is None:
            raise StateError(f"model_name={model_name!r} serves nothing in "
                             f"environment={environment!r}")
        self._append_event(_event(model_name, str(current), environment, "undeploy",
                                  str(current), reason, actor))
        return current

    def _as_serving(self, model_name: str, version: VersionLike, environment: str
                    ) -> ModelMetadata:
        meta = self.require(model_name, version)
        placements = self._placements(model_name)
        at = placements[(model_name, str(meta.version))][environment]
        return dataclasses.replace(meta, environment=environment, deployed_at=at)

    def _stored(self, model_name: str, version: Version) -> ModelMetadata | None:
        for meta in self._rows(model_name):
            if meta.version == version:
                return meta
        return None

    def _placements(self, model_name: str | None = None) -> _Placements:
        """``{(model_name, version): {environment: deployed_at}}`` of what serves now."""
        serving: dict[tuple[str, str], tuple[str, datetime]] = {}
        for ev in self._events(model_name):
            key = (ev["model_name"], ev["environment"])
            if ev["action"] in ("deploy", "rollback"):
                serving[key] = (ev["version"], ev["event_at"])
            elif ev["action"] == "undeploy":
                serving.pop(key, None)
        placements: _Placements = {}
        for (name, env), (version, at) in serving.items():
            placements.setdefault((name, version), {})[env] = at
        return placements

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
            elif ev["action"] == "undeploy":
                stack.clear()
        return stack
