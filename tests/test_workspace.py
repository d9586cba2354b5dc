"""The workspace is a typed composition root: each service gets its collaborators, typed."""

from __future__ import annotations

import ast
import collections.abc
import functools
import importlib
import inspect
import typing
from pathlib import Path

import pytest

import mlmkit
from mlmkit import workspace as workspace_module
from mlmkit.services.alerts.service import AlertingService
from mlmkit.services.experiments.ab_test import ABTestingService
from mlmkit.services.log import PredictionLog
from mlmkit.services.monitor.service import PerformanceMonitor
from mlmkit.services.tuning.engine import AutoTuningEngine
from mlmkit.store.database import Database
from mlmkit.store.registry.duckdb import ModelRegistry

SERVICES = {"log": PredictionLog, "monitor": PerformanceMonitor, "alerts": AlertingService,
            "ab": ABTestingService, "tuning": AutoTuningEngine}


def _type_checking_namespace(module: object) -> dict[str, object]:
    """The names a module imports under ``if TYPE_CHECKING:``, imported for real."""
    tree = ast.parse(Path(inspect.getfile(module)).read_text())  # type: ignore[arg-type]
    names: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                imported = importlib.import_module(stmt.module)
                for alias in stmt.names:
                    names[alias.asname or alias.name] = getattr(imported, alias.name)
    return names


def _hints(func: object, module: object) -> dict[str, object]:
    return typing.get_type_hints(func, localns=_type_checking_namespace(module))


@pytest.mark.parametrize("attr", sorted(SERVICES))
def test_service_properties_are_annotated_with_the_real_classes(attr: str) -> None:
    prop = inspect.getattr_static(workspace_module.Workspace, attr)
    assert isinstance(prop, functools.cached_property)
    assert _hints(prop.func, workspace_module)["return"] is SERVICES[attr]
    with mlmkit.open() as ws:
        assert type(getattr(ws, attr)) is SERVICES[attr]


@pytest.mark.parametrize(("cls", "expected"), [
    (PerformanceMonitor, {"db": Database, "log": PredictionLog, "registry": ModelRegistry,
                          "alerts": AlertingService}),
    (ABTestingService, {"db": Database, "registry": ModelRegistry,
                        "alerts": AlertingService}),
    (AutoTuningEngine, {"db": Database, "registry": ModelRegistry, "log": PredictionLog}),
])
def test_services_take_only_typed_collaborators(cls: type, expected: dict[str, type]) -> None:
    hints = _hints(cls.__init__, importlib.import_module(cls.__module__))
    hints.pop("return")
    assert hints == expected


def test_alerting_gets_the_monitor_lazily() -> None:
    module = importlib.import_module(AlertingService.__module__)
    hints = _hints(AlertingService.__init__, module)
    assert hints["monitor"] == collections.abc.Callable[[], PerformanceMonitor] | None
    with mlmkit.open() as ws:
        alerts = ws.alerts
        assert "monitor" not in vars(ws)          # building alerts did not build the monitor
        assert ws.monitor.alerts is alerts        # one alerting service, shared
        ws.registry.register(mlmkit.ModelMetadata("m", mlmkit.ModelType.SUPERVISED, "1.0.0"))
        ws.alerts.add_rule("metric_below", "m", "1.0.0", value=0.5)
        assert ws.alerts.check() == []            # the provider hands rules the monitor


def test_alerting_without_a_monitor_refuses_rules_by_name() -> None:
    with mlmkit.open() as ws:
        bare = AlertingService(ws.db, ws.registry)
        assert bare.fire("manual", "info", "m", "1.0.0", "works without a monitor") == 1
        bare.add_rule("metric_below", "m", "1.0.0", value=0.5)
        with pytest.raises(mlmkit.exceptions.StateError, match="monitor"):
            bare.check()


def test_reopen_after_close_keeps_every_object_working(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    ws = mlmkit.open(path)
    registry, log, ab = ws.registry, ws.log, ws.ab
    registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0"))
    registry.register(mlmkit.ModelMetadata.for_n1_detector("1.1.0"))
    registry.deploy("n1-detector", "1.0.0")
    rollout = ab.start_rollout(mlmkit.ABTestConfig.create("n1-detector", "1.0.0", "1.1.0"))
    ws.close()
    assert ws.closed
    with mlmkit.open(path, lock_timeout=2) as other:   # closing released the file
        assert other.registry.get_version_count("n1-detector") == 2
    with pytest.raises(mlmkit.StoreError, match="closed"):
        log.count()                                   # closed still refuses, until reopened
    assert ws.reopen() is ws and not ws.closed
    ws.reopen()                                       # idempotent
    assert log.count() == 0 and registry.get_version_count("n1-detector") == 2
    assert rollout.rollback(reason="after reopen").action == "rollback"
    ws.close()
    ws.close()


def test_reopen_refuses_memory_and_deleted_files(tmp_path: Path) -> None:
    ws = mlmkit.open()
    ws.close()
    with pytest.raises(mlmkit.StateError, match="in-memory"):
        ws.reopen()
    path = tmp_path / "gone.duckdb"
    ws = mlmkit.open(path)
    ws.close()
    path.unlink()
    with pytest.raises(mlmkit.NotFoundError, match="no longer exists"):
        ws.reopen()
