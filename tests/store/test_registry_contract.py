"""One contract for every registry implementation (in-memory, DuckDB in memory, DuckDB file)."""

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import mlmkit
from mlmkit import (
    DuplicateError,
    InMemoryModelRegistry,
    ModelMetadata,
    ModelRegistry,
    ModelType,
    NotFoundError,
    StateError,
    ValidationError,
    Version,
)


@pytest.fixture(params=["memory", "duckdb-memory", "duckdb-file"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelRegistry]:
    if request.param == "memory":
        yield InMemoryModelRegistry()
        return
    path = None if request.param == "duckdb-memory" else tmp_path / "reg.duckdb"
    with mlmkit.open(path) as ws:
        yield ws.registry


def n1(version: str, **config: float) -> ModelMetadata:
    return ModelMetadata.for_n1_detector(version, config)


def test_register_get_exists(registry):
    meta = n1("1.0.0", threshold=0.7).with_performance_metrics({"accuracy": 0.92})
    registry.register(meta)
    got = registry.get("n1-detector", Version.parse("1.0.0"))
    assert got == meta
    assert got.configuration["threshold"] == 0.7 and got.performance_metrics["accuracy"] == 0.92
    assert got.created_at == meta.created_at
    assert registry.exists("n1-detector", "1.0.0") and not registry.exists("n1-detector", "2.0.0")
    assert registry.get("n1-detector", "2.0.0") is None
    assert registry.get("other", "1.0.0") is None


def test_duplicate_registration_raises(registry):
    registry.register(n1("1.0.0"))
    with pytest.raises(DuplicateError, match="already registered"):
        registry.register(n1("1.0.0"))
    assert registry.get_version_count("n1-detector") == 1


def test_semver_order_and_latest(registry):
    for v in ("1.9.0", "1.10.0", "1.2.0", "2.0.0-rc.1"):
        registry.register(n1(v))
    assert [str(m.version) for m in registry.get_all("n1-detector")] == [
        "1.2.0", "1.9.0", "1.10.0", "2.0.0-rc.1"]
    assert str(registry.get_latest("n1-detector").version) == "2.0.0-rc.1"
    assert registry.get_latest("nothing") is None
    assert registry.get_version_count("n1-detector") == 4


def test_registered_is_get_all_without_placements(registry):
    for v in ("1.10.0", "1.2.0"):
        registry.register(n1(v).with_performance_metrics({"f1": float(v[2:])}))
    registry.deploy("n1-detector", "1.2.0")
    placed, stored = registry.get_all("n1-detector"), registry.registered("n1-detector")
    assert [m.version for m in stored] == [m.version for m in placed]  # semver order
    assert placed[0].environment == "production" and stored[0].environment is None
    assert [m.performance_metrics for m in stored] == [{"f1": 2.0}, {"f1": 10.0}]
    assert stored == [dataclasses.replace(m, environment=None, deployed_at=None)
                      for m in placed]
    assert registry.registered("nothing") == []


def test_update_and_delete(registry):
    registry.register(n1("1.0.0", threshold=0.7))
    registry.update(n1("1.0.0", threshold=0.8))
    assert registry.get("n1-detector", "1.0.0").configuration["threshold"] == 0.8
    with pytest.raises(NotFoundError):
        registry.update(n1("9.9.9"))
    assert registry.delete("n1-detector", "1.0.0") is True
    assert registry.delete("n1-detector", "1.0.0") is False
    assert registry.get_all_model_names() == []


def test_queries_by_type_environment_and_names(registry):
    registry.register(n1("1.0.0"))
    registry.register(ModelMetadata.for_waf_behavioral("2.0.0"))
    registry.register(ModelMetadata.for_queue_anomaly("1.2.0"))
    registry.deploy("waf-behavioral", "2.0.0")
    registry.deploy("queue-anomaly", "1.2.0", "staging")
    assert [m.model_name for m in registry.get_by_type(ModelType.UNSUPERVISED)] == [
        "queue-anomaly", "waf-behavioral"]
    assert [m.model_name for m in registry.get_by_type("supervised")] == ["n1-detector"]
    assert [m.model_name for m in registry.get_production_models()] == ["waf-behavioral"]
    assert [m.model_name for m in registry.get_by_environment("staging")] == ["queue-anomaly"]
    assert registry.get_all_model_names() == ["n1-detector", "queue-anomaly", "waf-behavioral"]


def test_deploy_rollback_history(registry):
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        registry.register(n1(v))
    registry.deploy("n1-detector", "1.0.0", reason="first")
    registry.deploy("n1-detector", "1.1.0", reason="better")
    registry.deploy("n1-detector", "1.2.0", reason="best")
    assert [str(m.version) for m in registry.get_production_models()] == ["1.2.0"]
    assert registry.rollback("n1-detector", reason="regression") == Version.parse("1.1.0")
    assert registry.deployed_version("n1-detector") == Version.parse("1.1.0")
    prod = registry.get_production_models()
    assert [str(m.version) for m in prod] == ["1.1.0"] and prod[0].deployed_at is not None
    assert registry.rollback("n1-detector") == Version.parse("1.0.0")
    with pytest.raises(StateError, match="no earlier deployment"):
        registry.rollback("n1-detector")
    hist = registry.history("n1-detector")
    assert hist["action"].to_list() == ["deploy", "deploy", "deploy", "rollback", "rollback"]
    assert hist["version"].to_list() == ["1.0.0", "1.1.0", "1.2.0", "1.1.0", "1.0.0"]
    assert hist["previous_version"].to_list() == [None, "1.0.0", "1.1.0", "1.2.0", "1.1.0"]
    assert hist["reason"].to_list()[:4] == ["first", "better", "best", "regression"]
    assert hist["served_until"].null_count() == 1 and hist["served_until"][-1] is None
    assert hist["event_at"].is_sorted()
    assert hist.schema["event_at"] == pl.Datetime("us", "UTC")


def test_environments_are_independent(registry):
    registry.register(n1("1.0.0"))
    registry.register(n1("1.1.0"))
    registry.deploy("n1-detector", "1.0.0", "production")
    registry.deploy("n1-detector", "1.1.0", "staging")
    assert registry.deployed_version("n1-detector", "production") == Version.parse("1.0.0")
    assert registry.deployed_version("n1-detector", "staging") == Version.parse("1.1.0")
    with pytest.raises(StateError):
        registry.rollback("n1-detector", "staging")


def test_deploy_unknown_version_and_bad_input(registry):
    with pytest.raises(NotFoundError):
        registry.deploy("n1-detector", "1.0.0")
    with pytest.raises(ValidationError, match="metadata must be"):
        registry.register({"model_name": "x"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="model_name"):
        registry.get("", "1.0.0")
    with pytest.raises(ValidationError, match="version"):
        registry.get("n1-detector", "latest")


def test_file_registry_survives_reopen(tmp_path):
    path = tmp_path / "r.duckdb"
    with mlmkit.open(path) as ws:
        ws.registry.register(n1("1.0.0", threshold=0.7))
        ws.registry.deploy("n1-detector", "1.0.0", reason="go")
    with mlmkit.open(path) as ws:
        assert ws.registry.get_production_models()[0].configuration["threshold"] == 0.7
        assert ws.registry.history()["reason"].to_list() == ["go"]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression", "score-only", "score"])
def test_task_round_trips(registry, task):
    meta = ModelMetadata("m", ModelType.SUPERVISED, "1.0.0", task=task)
    assert registry.register(meta).task == meta.task
    stored = registry.get("m", "1.0.0")
    assert stored == meta and stored.task.value == ("score-only" if task == "score" else task)
    assert registry.task("m") == meta.task and registry.get_all("m")[0].task == meta.task
    assert ModelMetadata.from_dict(stored.to_dict()) == stored
    assert registry.task("unregistered") == "binary"


def test_versions_share_the_model_task(registry):
    registry.register(ModelMetadata("m", ModelType.SUPERVISED, "1.0.0", task="multiclass"))
    other = ModelMetadata("m", ModelType.SUPERVISED, "1.1.0", task="regression")
    with pytest.raises(ValidationError, match=r"task must be 'multiclass'.*got 'regression'"):
        registry.register(other)
    assert registry.get_version_count("m") == 1
    registry.register(ModelMetadata("m", ModelType.SUPERVISED, "1.1.0", task="multiclass"))
    with pytest.raises(ValidationError, match="task") as err:
        registry.update(ModelMetadata("m", ModelType.SUPERVISED, "1.0.0", task="binary"))
    assert err.value.field == "task" and err.value.value == "binary"
    assert registry.get("m", "1.0.0").task == "multiclass"
    assert ModelMetadata.for_n1_detector("1.0.0").task == "binary"  # the default
