"""Pure helpers of the registry's rules: placements, the one task per model, events."""

from __future__ import annotations

import dataclasses
import getpass
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from mlmkit._validation import invalid
from mlmkit.values import ModelMetadata, utcnow

__all__ = ["Placements", "bare", "check_meta", "check_task", "environment_order", "event",
           "ordered", "placed"]

Placements = dict[tuple[str, str], dict[str, datetime]]
"""``{(model_name, version): {environment: deployed_at}}`` of what serves now."""


def check_meta(metadata: Any) -> None:
    if not isinstance(metadata, ModelMetadata):
        raise invalid("metadata", "a ModelMetadata", metadata)


def check_task(stored: list[ModelMetadata], meta: ModelMetadata) -> None:
    if stored and (task := stored[0].task) != meta.task:  # one task per model, fixed
        raise invalid("task", f"{task.value!r} as the registered versions of "
                      f"{meta.model_name!r}", meta.task.value)


def ordered(metas: Iterable[ModelMetadata]) -> list[ModelMetadata]:
    return sorted(metas, key=lambda m: (m.model_name, m.version.sort_key()))


def bare(meta: ModelMetadata) -> ModelMetadata:
    return dataclasses.replace(meta, environment=None, deployed_at=None)


def environment_order(envs: dict[str, datetime]) -> list[str]:
    return sorted(envs, key=lambda env: (env != "production", -envs[env].timestamp(), env))


def placed(meta: ModelMetadata, placements: Placements) -> ModelMetadata:
    envs = placements.get((meta.model_name, str(meta.version)))
    if not envs:
        return bare(meta)
    primary = environment_order(envs)[0]
    return dataclasses.replace(meta, environment=primary, deployed_at=envs[primary])


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def event(model_name: str, version: str, environment: str, action: str,
          previous: str | None, reason: str | None, actor: str | None) -> dict[str, Any]:
    if actor is None:
        actor = user()
    return {"model_name": model_name, "version": version, "environment": environment,
            "action": action, "previous_version": previous, "reason": reason,
            "actor": actor, "event_at": utcnow()}
