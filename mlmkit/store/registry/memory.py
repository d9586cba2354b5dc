"""An in-process registry for tests and quick exploration (the seed's InMemoryModelRegistry)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from mlmkit.store.registry.base import ModelRegistry
from mlmkit.values import ModelMetadata

__all__ = ["InMemoryModelRegistry"]


class InMemoryModelRegistry(ModelRegistry):
    """A `ModelRegistry` kept in dicts; thread-safe, not persisted.

    Examples
    --------
    >>> from mlmkit import ModelMetadata
    >>> reg = InMemoryModelRegistry()
    >>> for v in ("1.0.0", "1.10.0", "1.9.0"):
    ...     _ = reg.register(ModelMetadata.for_queue_anomaly(v))
    >>> [str(m.version) for m in reg.get_all("queue-anomaly")]
    ['1.0.0', '1.9.0', '1.10.0']
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], ModelMetadata] = {}
        self._log: list[dict[str, Any]] = []
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[None]:
        # Like the DuckDB transaction: an error inside the block restores what it changed.
        with self._lock:
            models, log_length = dict(self._models), len(self._log)
            try:
                yield
            except BaseException:
                self._models = models
                del self._log[log_length:]
                raise

    def _rows(self, model_name: str | None = None) -> list[ModelMetadata]:
        with self._lock:
            return [m for (name, _), m in self._models.items()
                    if model_name is None or name == model_name]

    def _put(self, meta: ModelMetadata, *, replace: bool) -> None:
        with self._lock:
            self._models[(meta.model_name, str(meta.version))] = meta

    def _remove(self, model_name: str, version: str) -> bool:
        with self._lock:
            return self._models.pop((model_name, version), None) is not None

    def _events(self, model_name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._log
                    if model_name is None or e["model_name"] == model_name]

    def _append_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._log.append({"event_id": len(self._log) + 1, **event})
