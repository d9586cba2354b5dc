"""Issue 12.5: metadata values come back from every registry equal to what was registered."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlmkit
from mlmkit import InMemoryModelRegistry, ModelMetadata, ModelRegistry, ValidationError


@pytest.fixture(params=["memory", "duckdb-file"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelRegistry]:
    if request.param == "memory":
        yield InMemoryModelRegistry()
        return
    with mlmkit.open(tmp_path / "reg.duckdb") as ws:
        yield ws.registry


class Colour(StrEnum):
    RED = "red"


def roundtrip(reg: ModelRegistry, **fields: object) -> ModelMetadata:
    meta = ModelMetadata("m", "supervised", "1.0.0", **fields)  # type: ignore[arg-type]
    reg.register(meta)
    got = reg.require("m", "1.0.0")
    assert got == meta
    return got


def test_numpy_values_come_back_as_python_values(registry):
    got = roundtrip(registry, configuration={
        "threshold": np.float32(0.7), "window": np.int64(100), "on": np.bool_(True),
        "grid": np.linspace(0.0, 1.0, 3), "ints": np.arange(2, 4, dtype=np.int32),
        "name": np.str_("n"), "nested": {"alpha": np.float64(0.05), "pair": (1, 2.5)}},
        performance_metrics={"accuracy": np.float32(0.92)})
    config = got.configuration
    assert config["threshold"] == 0.7 and type(config["threshold"]) is float
    assert type(config["window"]) is int and config["window"] == 100
    assert config["on"] is True and config["grid"] == [0.0, 0.5, 1.0]
    assert config["ints"] == [2, 3] and all(type(i) is int for i in config["ints"])
    assert type(config["name"]) is str
    assert config["nested"] == {"alpha": 0.05, "pair": [1, 2.5]}
    assert got.performance_metrics["accuracy"] == 0.92
    assert type(got.performance_metrics["accuracy"]) is float


def test_float32_threshold_is_usable_by_threshold_tuning(registry):
    """The reported bug: DuckDB returned '0.7', and optimize_threshold refused the string."""
    got = roundtrip(registry, configuration={"threshold": np.float32(0.7)})
    assert mlmkit._validation.check_probability("threshold", got.configuration["threshold"]) \
        == 0.7


def test_datetimes_come_back_as_aware_utc_datetimes(registry):
    trained = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    got = roundtrip(registry, metadata={"trained_at": trained,
                                        "naive": datetime(2024, 1, 1),
                                        "runs": [{"at": datetime(2024, 2, 2, tzinfo=UTC)}]})
    assert got.metadata["trained_at"] == trained
    assert got.metadata["trained_at"].tzinfo == UTC
    assert got.metadata["naive"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert got.metadata["runs"][0]["at"] == datetime(2024, 2, 2, tzinfo=UTC)


def test_enums_and_subclasses_become_plain_values(registry):
    got = roundtrip(registry, metadata={"colour": Colour.RED, "kind": mlmkit.ModelType.SUPERVISED})
    assert type(got.metadata["colour"]) is str and got.metadata == {"colour": "red",
                                                                     "kind": "supervised"}


@pytest.mark.parametrize(("field", "value", "path"), [
    ("configuration", {"tags": {"a", "b"}}, r"configuration\['tags'\]"),
    ("metadata", {"run": {"ids": [1, frozenset()]}}, r"metadata\['run'\]\['ids'\]\[1\]"),
    ("configuration", {"alpha": float("nan")}, r"configuration\['alpha'\]"),
    ("configuration", {"grid": [0.1, float("inf")]}, r"configuration\['grid'\]\[1\]"),
    ("metadata", {"blob": b"x"}, r"metadata\['blob'\]"),
    ("metadata", {"obj": object()}, r"metadata\['obj'\]"),
    ("metadata", {"day": datetime(2024, 1, 1).date()}, r"metadata\['day'\]"),
    ("configuration", {"m": {1: "x"}}, r"configuration\['m'\] key"),
    ("metadata", {"m": {"$datetime": "2024"}}, r"metadata\['m'\] key"),
    ("configuration", {"arr": np.array([object()])}, r"configuration\['arr'\]"),
    ("performance_metrics", {"accuracy": np.float64("nan")}, r"performance_metrics\['accuracy'\]"),
])
def test_values_json_cannot_hold_are_refused_with_their_path(registry, field, value, path):
    with pytest.raises(ValidationError, match=path):
        ModelMetadata("m", "supervised", "1.0.0", **{field: value})
    assert registry.get_all_model_names() == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.just(UTC)),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=4).filter(lambda k: k != "$datetime"), inner,
                      max_size=3),
    max_leaves=8)


@settings(max_examples=40)
@given(config=st.dictionaries(st.text(max_size=4), JSON, max_size=4))
def test_any_accepted_value_round_trips_through_duckdb(tmp_path_factory, config):
    meta = ModelMetadata("m", "supervised", "1.0.0", configuration=config)
    memory = InMemoryModelRegistry()
    memory.register(meta)
    with mlmkit.open() as ws:
        ws.registry.register(meta)
        assert ws.registry.require("m", "1.0.0") == memory.require("m", "1.0.0") == meta
