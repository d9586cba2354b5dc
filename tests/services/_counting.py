"""Helpers of the segment tests: an engine counting its calls, per-segment oracle workspaces."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

import mlmkit
from mlmkit import ModelMetadata
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


def segment_workspace(path: Path, rows: dict[str, pl.DataFrame], tasks: dict[str, str],
                      registered: dict[str, dict[str, float]], versions: tuple[str, ...]
                      ) -> mlmkit.Workspace:
    """A workspace of ``rows``, every model of ``tasks`` registered in ``versions`` (score-only
    ones unsupervised) with its ``registered`` metrics."""
    ws = mlmkit.open(path)
    for model, task in tasks.items():
        kind = "unsupervised" if task == "score-only" else "supervised"
        for v in versions:
            ws.registry.register(ModelMetadata(model, kind, v, task=task,
                                               performance_metrics=registered[model]))
        if rows[model].height:
            ws.log.track_batch(rows[model])
    return ws


def segment_workspaces(root: Path, rows: dict[str, pl.DataFrame], tasks: dict[str, str],
                       registered: dict[str, dict[str, float]], versions: tuple[str, ...],
                       segments: list[str | None]
                       ) -> tuple[mlmkit.Workspace, dict[str | None, mlmkit.Workspace]]:
    """`segment_workspace` of ``rows`` and, per country of ``segments``, of its rows alone.

    The oracle of a ``segment=`` call is the plain call on the segment's own workspace.
    """
    alone = {c: segment_workspace(root / f"seg{i}.duckdb",
                                  {m: r.filter(pl.col("country").eq_missing(c))
                                   for m, r in rows.items()}, tasks, registered, versions)
             for i, c in enumerate(segments)}
    return segment_workspace(root / "all.duckdb", rows, tasks, registered, versions), alone
