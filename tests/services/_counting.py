"""The real workspace engine, counting the public calls it answers (engine-call tests)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mlmkit.store.database import Database
from mlmkit.store.engines import WorkspaceEngine


class CountingEngine(WorkspaceEngine):
    """A `WorkspaceEngine` on ``db`` whose ``calls`` counts every public method call."""

    calls: Counter[str]

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.calls = Counter()

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if not callable(value) or name.startswith("_") or name == "calls":
            return value
        calls = super().__getattribute__("calls")

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return value(*args, **kwargs)
        return counted
