"""The registry and read endpoints' work: what runs on a read cursor or on the writer thread.

Reads (``GET /v1/models``, ``/v1/models/{name}/metrics``, ``/v1/models/{name}/history``,
the route source) are functions of a `Workspace` run by
`GroupCommitWriter.read` on a cursor beside the
writer; registry changes (``POST /v1/models``, ``.../deploy``, ``.../rollback``, admin scope)
are run by the writer thread between ingestion groups, so they serialise with ingestion
without any lease hand-off.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlmkit._jsonable import finite
from mlmkit._validation import check_name, invalid
from mlmkit.exceptions import NotFoundError
from mlmkit.server.jsontext import loads

if TYPE_CHECKING:
    from mlmkit.services.experiments.rollout import Rollout
    from mlmkit.values import ModelMetadata, Version
    from mlmkit.workspace import Workspace

__all__ = ["CHANGE_KEYS", "REGISTER_KEYS", "deploy", "history", "json_object", "metadata_of",
           "metrics", "models", "register", "rollback", "route", "route_source"]

REGISTER_KEYS = frozenset({"model_name", "model_type", "version", "configuration",
                            "performance_metrics", "metadata", "environment", "task"})


def json_object(body: bytes, allowed: frozenset[str], required: tuple[str, ...] = ()
                ) -> dict[str, Any]:
    """A JSON object body with only ``allowed`` keys and every ``required`` one (else 422).

    Read by `jsontext.loads`: a key given twice or nesting deeper than its bound is a 422.
    """
    spec = loads(body, "body", "a JSON object") if body.strip() else {}
    if not isinstance(spec, Mapping):
        raise invalid("body", "a JSON object", type(spec).__name__)
    if extra := sorted(set(spec) - allowed):
        raise invalid("body", f"keys among {sorted(allowed)}", extra)
    for key in required:
        if spec.get(key) is None:
            raise invalid(key, "given", None)
    for key in ("reason", "actor", "environment", "version", "model_name", "model_type"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise invalid(key, "a string", spec[key])
    return dict(spec)


CHANGE_KEYS = frozenset({"version", "environment", "reason", "actor"})
"""Keys of a ``deploy`` / ``rollback`` body (``version`` only for deploy)."""


def metadata_of(spec: Mapping[str, Any]) -> ModelMetadata:
    """The `ModelMetadata` of a ``POST /v1/models`` body (validated by its constructor)."""
    from mlmkit.values import ModelMetadata

    return ModelMetadata(spec["model_name"], spec["model_type"], spec["version"],
                         spec.get("configuration") or {}, spec.get("performance_metrics") or {},
                         environment=spec.get("environment"), metadata=spec.get("metadata") or {},
                         task=spec.get("task", "binary"))


def register(ws: Workspace, meta: ModelMetadata) -> dict[str, Any]:
    """Register a version (on the writer thread); its stored metadata."""
    return ws.registry.register(meta).to_dict()


def deploy(ws: Workspace, name: str, spec: Mapping[str, Any], actor: str | None
           ) -> dict[str, Any]:
    """Deploy ``spec["version"]`` to ``spec["environment"]`` (default production)."""
    meta = ws.registry.deploy(name, spec["version"], spec.get("environment") or "production",
                              reason=spec.get("reason"), actor=spec.get("actor") or actor)
    return meta.to_dict()


def rollback(ws: Workspace, name: str, spec: Mapping[str, Any], actor: str | None
             ) -> dict[str, Any]:
    """Return an environment to the version deployed before; the version now serving."""
    _registered(ws, name)  # (else the registry's "nothing to roll back to": a 409)
    environment = spec.get("environment") or "production"
    version = ws.registry.rollback(name, environment, reason=spec.get("reason"),
                                   actor=spec.get("actor") or actor)
    return {"model_name": name, "environment": environment, "version": str(version)}


def history(ws: Workspace, name: str, environment: str | None) -> list[dict[str, Any]]:
    """The deployment events of ``name`` (oldest first), JSON-ready."""
    _registered(ws, name)
    return [{k: _plain(v) for k, v in row.items()}
            for row in ws.registry.history(name, environment=environment).to_dicts()]


def _registered(ws: Workspace, name: str) -> None:
    """Raise `NotFoundError` (404) for a model with no version and no deployment history."""
    check_name("model_name", name)
    if not ws.registry.get_all(name) and ws.registry.history(name).is_empty():
        raise NotFoundError(f"model_name {name!r} is not registered")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def models(ws: Workspace) -> list[dict[str, Any]]:
    """Every model: its deployed version and every version's metadata."""
    out = []
    for name in ws.registry.get_all_model_names():
        deployed = ws.registry.deployed_version(name)
        out.append({"model_name": name,
                    "deployed_version": None if deployed is None else str(deployed),
                    "versions": [m.to_dict() for m in ws.registry.get_all(name)]})
    return out


def metrics(ws: Workspace, name: str, version: str | None, window: timedelta
            ) -> dict[str, Any]:
    """Current metrics of a version (default the deployed one, else the latest)."""
    check_name("model_name", name)
    ver = version or ws.registry.deployed_version(name)
    if ver is None:
        latest = ws.registry.get_latest(name)
        if latest is None:
            raise NotFoundError(f"model_name {name!r} has no registered or deployed version; "
                                "give version=")
        ver = latest.version
    found = ws.monitor.get_current_metrics(name, ver, window=window)
    return {"model_name": name, "version": str(ver), "window_s": window.total_seconds(),
            "metrics": finite(found.to_dict())}


def route_source(ws: Workspace, model: str) -> Rollout | Version:
    """The running rollout of ``model`` (its state loaded), else its production version."""
    rollout = ws.ab.active_rollout(model)
    if rollout is not None:
        return rollout
    deployed = ws.registry.deployed_version(model)
    if deployed is None:
        raise NotFoundError(f"model {model!r} has no running rollout and no production "
                            "deployment")
    return deployed


def route(source: Rollout | Version, model: str, unit_id: str) -> dict[str, Any]:
    """The decision for one unit: pure (sticky hash of the rollout's loaded state)."""
    from mlmkit.values import Version

    if isinstance(source, Version):
        return {"model_name": model, "unit_id": unit_id, "version": str(source),
                "source": "deployment"}
    return {"model_name": model, "unit_id": unit_id,
            "version": str(source.select_version(unit_id)), "source": "rollout",
            "rollout_id": source.rollout_id, "share_b": source.share_b}
