"""Shared fixtures: workspaces on real DuckDB files, seeded data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import mlmkit


@pytest.fixture
def ws_file(tmp_path: Path) -> Iterator[mlmkit.Workspace]:
    """A workspace on a real DuckDB file in tmp_path."""
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        yield ws


@pytest.fixture
def ws_mem() -> Iterator[mlmkit.Workspace]:
    """An in-memory workspace."""
    with mlmkit.open() as ws:
        yield ws
