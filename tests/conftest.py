"""Shared fixtures: workspaces on real DuckDB files, seeded data."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

import mlmkit

# CI gates on the same examples every run (derandomize); explore with HYPOTHESIS_PROFILE=dev.
# no deadline: a per-example time limit is a wall-clock assertion, and DuckDB I/O on a loaded
# 2-core CI machine exceeds 200 ms now and then (seen on the registry round-trip property)
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.register_profile("dev", print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _restore_mlmkit_logger() -> Iterator[None]:
    """Undo what a test's configure_logging() did to the "mlmkit" logger.

    It sets ``propagate = False`` and a level; left in place, every later test on that worker
    loses mlmkit's records from caplog (an auth test failed only after a logging test).
    """
    logger = logging.getLogger("mlmkit")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in [h for h in logger.handlers if h not in saved[0]]:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


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
