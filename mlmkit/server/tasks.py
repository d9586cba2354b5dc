"""The task of each model, as the ingestion endpoints validate its rows (cached briefly).

A model's task never changes once registered (every version shares it), so the server keeps
what it read for ``ttl`` seconds: a model registered by another process is ingested per its
task at most ``ttl`` seconds later (until then, as an unregistered model: binary).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from mlmkit.catalogue import Task

__all__ = ["TaskCache"]

_MAX_MODELS = 10_000
"""Cached model names before the cache starts over (names come from request bodies)."""


class TaskCache:
    """``{model: task}`` read through ``read(models)`` and kept ``ttl`` seconds."""

    def __init__(self, read: Callable[[list[str]], Mapping[str, Task]], ttl: float = 1.0
                 ) -> None:
        self._read = read
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Task]] = {}
        self._lock = threading.Lock()

    def known(self, models: Iterable[object]) -> dict[str, Task] | None:
        """The cached tasks of ``models``, or ``None`` when one is missing or expired."""
        now = time.monotonic()
        out: dict[str, Task] = {}
        with self._lock:
            for model in models:
                hit = self._cache.get(model) if isinstance(model, str) else None
                if hit is None or now - hit[0] > self.ttl:
                    return None
                out[str(model)] = hit[1]
        return out

    def lookup(self, models: Sequence[str]) -> dict[str, Task]:
        """The tasks of ``models`` (unregistered: binary), read when not cached."""
        if (hit := self.known(models)) is not None:
            return hit
        names = [m for m in models if isinstance(m, str)]
        found = self._read(names)
        tasks = {m: Task(found.get(m, Task.BINARY)) for m in names}
        now = time.monotonic()
        with self._lock:
            if len(self._cache) > _MAX_MODELS:
                self._cache.clear()
            self._cache.update({m: (now, t) for m, t in tasks.items()})
        return tasks
