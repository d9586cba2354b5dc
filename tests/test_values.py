from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlmkit import ABTestConfig, ModelMetadata, ModelType, ValidationError, Version
from mlmkit.values import parse_window, resolve_range

versions = st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))


@given(versions, versions)
def test_version_order_matches_numeric_tuples(a, b):
    va, vb = Version(*a), Version(*b)
    assert (va < vb) == (a < b)
    assert (va == vb) == (a == b)
    assert Version.parse(str(va)) == va


def test_version_semver_rules():
    assert Version.parse("1.10.0") > Version.parse("1.9.0")
    assert Version.parse("1.0.0-alpha") < Version.parse("1.0.0-alpha.1") < Version.parse("1.0.0")
    assert Version.parse("1.0.0-rc.2") < Version.parse("1.0.0-rc.10")
    assert str(Version.parse("1.2.3").bump_patch()) == "1.2.4"
    assert str(Version.parse("1.2.3").bump_major()) == "2.0.0"
    assert sorted(["1.10.0", "1.2.0", "1.9.1"], key=Version.parse) == ["1.2.0", "1.9.1", "1.10.0"]


@pytest.mark.parametrize("bad", ["1.0", "", "one", "1.0.0.0", None, 1.0])
def test_version_rejects_bad_strings(bad):
    with pytest.raises(ValidationError, match="version must be"):
        Version.parse(bad)


def test_metadata_is_frozen_and_copies():
    meta = ModelMetadata.for_waf_behavioral("2.0.0", {"window_size": 100})
    assert meta.model_name == "waf-behavioral" and meta.model_type is ModelType.UNSUPERVISED
    with pytest.raises(AttributeError):
        meta.model_name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        meta.configuration["window_size"] = 5  # type: ignore[index]
    deployed = meta.with_deployment("production")
    assert deployed.is_production and not meta.is_deployed
    assert ModelMetadata.for_queue_anomaly("1.2.0").model_name == "queue-anomaly"


@pytest.mark.parametrize("kwargs, name", [
    ({"model_name": ""}, "model_name"),
    ({"model_type": "deep"}, "model_type"),
    ({"version": "x"}, "version"),
    ({"performance_metrics": {"accuracy": float("nan")}}, "performance_metrics"),
])
def test_metadata_validation_names_the_field(kwargs, name):
    base = {"model_name": "m", "model_type": "supervised", "version": "1.0.0"}
    with pytest.raises(ValidationError, match=name):
        ModelMetadata(**{**base, **kwargs})


def test_abtest_config_factories_and_validation():
    assert ABTestConfig.create("m", "1.0.0", "1.1.0").traffic_split_a == 0.5
    assert ABTestConfig.for_challenger("m", "1.0.0", "1.1.0").traffic_split_b == pytest.approx(0.2)
    for kwargs, name in [({"traffic_split_a": 1.5}, "traffic_split_a"),
                         ({"version_b": "1.0.0"}, "version_b"),
                         ({"primary_metric": "vibes"}, "primary_metric"),
                         ({"significance_level": 0.7}, "significance_level")]:
        with pytest.raises(ValidationError, match=name):
            ABTestConfig(**{"model_name": "m", "version_a": "1.0.0", "version_b": "1.1.0",
                            **kwargs})


@pytest.mark.parametrize("text, seconds", [("15m", 900), ("24h", 86400), ("7d", 604800),
                                           ("30s", 30), ("2w", 1209600)])
def test_parse_window(text, seconds):
    assert parse_window(text).total_seconds() == seconds
    assert parse_window(timedelta(seconds=seconds)).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["15", "-1h", "0h", "h", 15, timedelta(0)])
def test_parse_window_rejects(bad):
    with pytest.raises(ValidationError, match="window must be"):
        parse_window(bad)


def test_resolve_range():
    now = datetime(2026, 1, 2, tzinfo=UTC)
    r = resolve_range("24h", now=now)
    assert r.end == now and r.duration == timedelta(hours=24)
    r = resolve_range(start=datetime(2026, 1, 1), end=datetime(2026, 1, 3))
    assert r.start.tzinfo is not None and r.duration == timedelta(days=2)
    with pytest.raises(ValidationError, match="start"):
        resolve_range(start=now, end=now - timedelta(hours=1))
