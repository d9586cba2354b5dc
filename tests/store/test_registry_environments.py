"""Issue 12.2: the deployment history alone decides what serves where, in every registry."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import mlmkit
from mlmkit import InMemoryModelRegistry, ModelMetadata, ModelRegistry, StateError, Version

NAME = "n1-detector"
ENVS = ("production", "staging")


@pytest.fixture(params=["memory", "duckdb-file"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelRegistry]:
    if request.param == "memory":
        yield InMemoryModelRegistry()
        return
    with mlmkit.open(tmp_path / "reg.duckdb") as ws:
        yield ws.registry


def n1(version: str) -> ModelMetadata:
    return ModelMetadata.for_n1_detector(version, {"threshold": 0.5})


def check_invariants(reg: ModelRegistry) -> None:
    """What every read says about deployments agrees with deployed_version()."""
    for env in ENVS:
        per_model = {}
        for name in reg.get_all_model_names():
            served = reg.deployed_version(name, env)
            if served is not None:
                per_model[name] = served
        got = reg.get_by_environment(env)
        assert [(m.model_name, m.version) for m in got] == sorted(per_model.items())
        assert all(m.environment == env and m.deployed_at is not None for m in got)
        for meta in got:  # the model at deployed_version, with its stored content
            stored = reg.require(meta.model_name, meta.version)
            assert stored.configuration == meta.configuration
            assert env in reg.environments(meta.model_name, meta.version)
    assert reg.get_production_models() == reg.get_by_environment("production")
    for name in reg.get_all_model_names():
        for meta in reg.get_all(name):
            envs = reg.environments(name, meta.version)
            assert meta.environment == (envs[0] if envs else None)
            assert (meta.deployed_at is None) == (meta.environment is None)
            assert all(reg.deployed_version(name, e) == meta.version for e in envs)


def assert_production(reg: ModelRegistry, version: str | None) -> None:
    check_invariants(reg)
    served = reg.deployed_version(NAME, "production")
    assert served == (None if version is None else Version.parse(version))
    assert [m.version for m in reg.get_production_models()] == ([] if served is None
                                                                else [served])


def test_promote_then_roll_staging_back_keeps_production(registry):
    """The issue's scenario: production must stay 1.1.0 and stay visible to the jobs."""
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        registry.register(n1(v))
    registry.deploy(NAME, "1.0.0", "production")
    registry.deploy(NAME, "1.1.0", "staging")
    assert_production(registry, "1.0.0")
    registry.deploy(NAME, "1.1.0", "production", reason="promote")
    assert_production(registry, "1.1.0")
    assert registry.environments(NAME, "1.1.0") == ["production", "staging"]
    assert registry.get(NAME, "1.1.0").environment == "production"  # production wins
    assert registry.get_by_environment("staging")[0].environment == "staging"
    registry.deploy(NAME, "1.2.0", "staging")
    assert_production(registry, "1.1.0")
    assert registry.rollback(NAME, "staging") == Version.parse("1.1.0")
    assert_production(registry, "1.1.0")
    assert [m.version for m in registry.get_production_models()] == [Version.parse("1.1.0")]
    assert registry.deployed_version(NAME, "staging") == Version.parse("1.1.0")


def test_seed_recipe_update_with_deployment_goes_through_history(registry):
    """The seed deploys and rolls back with update(meta.with_deployment(env))."""
    for v in ("1.0.0", "1.1.0"):
        registry.register(n1(v))
    v1, v2 = registry.get(NAME, "1.0.0"), registry.get(NAME, "1.1.0")
    registry.update(v1.with_deployment("production"))
    registry.update(v2.with_deployment("production"))  # seed step 4: full deployment
    assert_production(registry, "1.1.0")
    assert registry.get(NAME, "1.0.0").environment is None  # no second production model
    registry.update(registry.get(NAME, "1.0.0").with_deployment("production"))  # seed rollback
    assert_production(registry, "1.0.0")
    updated = registry.update(registry.get(NAME, "1.0.0").with_configuration({"threshold": 0.6}))
    assert updated.environment == "production" and updated.configuration["threshold"] == 0.6
    assert_production(registry, "1.0.0")
    registry.update(registry.get(NAME, "1.0.0").with_deployment(None))
    assert_production(registry, None)
    hist = registry.history(NAME)
    assert hist["action"].to_list() == ["deploy", "deploy", "deploy", "undeploy"]
    assert hist["version"].to_list() == ["1.0.0", "1.1.0", "1.0.0", "1.0.0"]
    assert hist["served_until"].to_list()[2] == hist["event_at"].to_list()[3]


def test_delete_of_a_serving_version_is_refused(registry):
    registry.register(n1("1.0.0"))
    registry.register(n1("1.1.0"))
    registry.deploy(NAME, "1.0.0", "production")
    registry.deploy(NAME, "1.0.0", "staging")
    with pytest.raises(StateError, match=r"serves environments \['production', 'staging'\]"):
        registry.delete(NAME, "1.0.0")
    assert registry.exists(NAME, "1.0.0")
    registry.deploy(NAME, "1.1.0", "production")
    registry.undeploy(NAME, "staging", reason="retire")
    assert registry.delete(NAME, "1.0.0") is True
    assert_production(registry, "1.1.0")


def test_undeploy_and_rollback_after_it(registry):
    registry.register(n1("1.0.0"))
    registry.register(n1("1.1.0"))
    with pytest.raises(StateError, match="serves nothing"):
        registry.undeploy(NAME, "production")
    registry.deploy(NAME, "1.0.0")
    registry.deploy(NAME, "1.1.0")
    assert registry.undeploy(NAME) == Version.parse("1.1.0")
    assert_production(registry, None)
    with pytest.raises(StateError, match="no earlier deployment"):
        registry.rollback(NAME)  # undeploy starts a new stack
    registry.deploy(NAME, "1.0.0")
    assert_production(registry, "1.0.0")
    with pytest.raises(StateError, match="deployment events"):
        registry.record_event(NAME, "1.0.0", "production", "undeploy")


def test_register_with_an_environment_deploys(registry):
    registry.register(n1("1.0.0").with_deployment("staging"))
    assert registry.deployed_version(NAME, "staging") == Version.parse("1.0.0")
    assert registry.history(NAME)["action"].to_list() == ["deploy"]
    check_invariants(registry)


VERSIONS = ("1.0.0", "1.1.0", "2.0.0")
MODELS = ("n1-detector", "waf-behavioral")


class RegistryMachine(RuleBasedStateMachine):
    """Random register/deploy/rollback/update/undeploy/delete sequences over two environments."""

    make_registry = staticmethod(InMemoryModelRegistry)

    def __init__(self) -> None:
        super().__init__()
        self.reg = self.make_registry()

    @rule(name=st.sampled_from(MODELS), version=st.sampled_from(VERSIONS))
    def register(self, name: str, version: str) -> None:
        if not self.reg.exists(name, version):
            self.reg.register(ModelMetadata(name, "supervised", version))

    @rule(name=st.sampled_from(MODELS), version=st.sampled_from(VERSIONS),
          env=st.sampled_from(ENVS), via_update=st.booleans())
    def deploy(self, name: str, version: str, env: str, via_update: bool) -> None:
        meta = self.reg.get(name, version)
        if meta is None:
            return
        if via_update:
            self.reg.update(meta.with_deployment(env))
        else:
            self.reg.deploy(name, version, env)
        assert self.reg.deployed_version(name, env) == meta.version

    @rule(name=st.sampled_from(MODELS), env=st.sampled_from(ENVS))
    def rollback(self, name: str, env: str) -> None:
        with _maybe(StateError):
            self.reg.rollback(name, env)

    @rule(name=st.sampled_from(MODELS), env=st.sampled_from(ENVS), all_envs=st.booleans())
    def undeploy(self, name: str, env: str, all_envs: bool) -> None:
        served = self.reg.deployed_version(name, env)
        if served is not None and all_envs:
            self.reg.update(self.reg.require(name, served).with_deployment(None))
            assert self.reg.environments(name, served) == []
        else:
            with _maybe(StateError):
                self.reg.undeploy(name, env)
        assert self.reg.deployed_version(name, env) is None

    @rule(name=st.sampled_from(MODELS), version=st.sampled_from(VERSIONS),
          threshold=st.floats(0, 1))
    def update_config(self, name: str, version: str, threshold: float) -> None:
        meta = self.reg.get(name, version)
        if meta is not None:
            envs = self.reg.environments(name, version)
            self.reg.update(meta.with_configuration({"threshold": threshold}))
            assert self.reg.environments(name, version) == envs

    @rule(name=st.sampled_from(MODELS), version=st.sampled_from(VERSIONS))
    def delete(self, name: str, version: str) -> None:
        serving = self.reg.environments(name, version)
        if serving:
            with pytest.raises(StateError):
                self.reg.delete(name, version)
        else:
            self.reg.delete(name, version)

    @invariant()
    def deployments_agree(self) -> None:
        check_invariants(self.reg)


class _maybe:
    def __init__(self, kind: type[BaseException]) -> None:
        self.kind = kind

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, err: object, tb: object) -> bool:
        return kind is not None and issubclass(kind, self.kind)  # type: ignore[arg-type]


TestMemoryRegistrySequences = RegistryMachine.TestCase
TestMemoryRegistrySequences.settings = settings(max_examples=60, stateful_step_count=30,
                                                deadline=None)


class DuckDBRegistryMachine(RegistryMachine):
    """The same sequences on a workspace file; the SQL ``serving`` view must agree too."""

    def __init__(self) -> None:
        import tempfile

        self._dir = tempfile.TemporaryDirectory()
        self.ws = mlmkit.open(Path(self._dir.name) / "reg.duckdb")
        self.make_registry = lambda: self.ws.registry  # type: ignore[assignment]
        super().__init__()

    @invariant()
    def serving_view_agrees(self) -> None:
        rows = self.ws.db.execute("SELECT model_name, environment, version FROM serving "
                                  "ORDER BY ALL")
        expected = sorted((name, env, str(self.reg.deployed_version(name, env)))
                          for name in MODELS for env in ENVS
                          if self.reg.deployed_version(name, env) is not None)
        assert [tuple(r) for r in rows] == expected

    def teardown(self) -> None:
        self.ws.close()
        self._dir.cleanup()


TestDuckDBRegistrySequences = DuckDBRegistryMachine.TestCase
TestDuckDBRegistrySequences.settings = settings(
    max_examples=15, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])


def test_rollback_to_a_deleted_version_is_a_state_error(registry: ModelRegistry) -> None:
    """Found by the stateful test: deploy 1.0.0, deploy 1.1.0, delete 1.0.0, roll back."""
    for v in ("1.0.0", "1.1.0"):
        registry.register(n1(v))
    registry.deploy(NAME, "1.0.0")
    registry.deploy(NAME, "1.1.0")
    assert registry.delete(NAME, "1.0.0")
    with pytest.raises(StateError, match="was deleted"):
        registry.rollback(NAME)
    assert str(registry.deployed_version(NAME, "production")) == "1.1.0"
