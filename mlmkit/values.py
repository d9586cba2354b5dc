"""Value objects shared by every layer: versions, model types, metadata, A/B configs.

Windows and time (``parse_window``, ``resolve_range``, ``TimeRange``, ``utcnow``) live in
[`mlmkit.windows`][mlmkit.windows] and are re-exported here.

Everything here is immutable and validates on construction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from mlmkit._validation import check_name, check_probability, check_real, invalid
from mlmkit.catalogue import Task, Use, select
from mlmkit.versions import VERSION_EXPECTATION, Version, VersionLike
from mlmkit.windows import (
    EPOCH,
    DefaultWindow,
    TimeRange,
    WindowLike,
    parse_window,
    resolve_range,
    utc,
    utcnow,
)

__all__ = [
    "ABTestConfig",
    "DefaultWindow",
    "EPOCH",
    "ModelMetadata",
    "ModelType",
    "PRIMARY_METRICS",
    "Task",
    "TimeRange",
    "VERSION_EXPECTATION",
    "Version",
    "VersionLike",
    "WindowLike",
    "parse_task",
    "parse_window",
    "resolve_range",
    "utc",
    "utcnow",
]


class ModelType(StrEnum):
    """The learning paradigm of a model (the seed's enum, same string values)."""

    SUPERVISED = "supervised"
    UNSUPERVISED = "unsupervised"
    SEMI_SUPERVISED = "semi_supervised"
    REINFORCEMENT = "reinforcement"

    @classmethod
    def parse(cls, value: ModelType | str) -> ModelType:
        """Return the member for ``value`` (a member or its string value)."""
        try:
            return cls(value)
        except ValueError as err:
            choices = ", ".join(repr(m.value) for m in cls)
            raise invalid("model_type", f"one of {choices}", value) from err


def parse_task(value: Task | str, name: str = "task") -> Task:
    """The `Task` of ``value`` (a member or its string value; ``"score"`` means score-only)."""
    if isinstance(value, str) and value == "score":
        return Task.SCORE_ONLY
    try:
        return Task(value)
    except ValueError as err:
        choices = ", ".join(repr(t.value) for t in Task)
        raise invalid(name, f"one of {choices} (or 'score')", value) from err


def _frozen_mapping(name: str, value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise invalid(name, "a mapping of str to values", value)
    for key in value:
        if not isinstance(key, str):
            raise invalid(name, "a mapping with str keys", value)
    from mlmkit._jsonable import canonical  # JSON-safe and equal in every registry

    return MappingProxyType({key: canonical(f"{name}[{key!r}]", item)
                             for key, item in value.items()})


@dataclasses.dataclass(frozen=True, eq=True)
class ModelMetadata:
    """Everything the registry knows about one model version (the seed's ``ModelMetadata``).

    Examples
    --------
    >>> meta = ModelMetadata.for_n1_detector("1.0.0", {"threshold": 0.7})
    >>> meta.model_name, str(meta.version), meta.model_type.value
    ('n1-detector', '1.0.0', 'supervised')
    >>> meta.with_performance_metrics({"accuracy": 0.92}).performance_metrics["accuracy"]
    0.92
    """

    model_name: str
    model_type: ModelType
    version: Version
    configuration: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    performance_metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)
    created_at: datetime = dataclasses.field(default_factory=utcnow)
    deployed_at: datetime | None = None
    environment: str | None = None
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    task: Task = Task.BINARY
    """What the model predicts (every version of a model shares it): ``binary`` (default),
    ``multiclass``, ``regression`` or ``score-only`` (alias ``"score"``)."""

    def __post_init__(self) -> None:
        check_name("model_name", self.model_name)
        set_ = object.__setattr__
        set_(self, "model_type", ModelType.parse(self.model_type))
        set_(self, "task", parse_task(self.task))
        set_(self, "version", Version.parse(self.version))
        set_(self, "configuration", _frozen_mapping("configuration", self.configuration))
        metrics = _frozen_mapping("performance_metrics", self.performance_metrics)
        for key, val in metrics.items():
            check_real(f"performance_metrics[{key!r}]", val)
        set_(self, "performance_metrics", metrics)
        set_(self, "metadata", _frozen_mapping("metadata", self.metadata))
        set_(self, "created_at", utc(self.created_at, "created_at"))
        if self.deployed_at is not None:
            set_(self, "deployed_at", utc(self.deployed_at, "deployed_at"))
        if self.environment is not None:
            check_name("environment", self.environment)

    def __hash__(self) -> int:
        return hash((self.model_name, self.version))

    def with_performance_metrics(self, metrics: Mapping[str, float]) -> ModelMetadata:
        """Return a copy whose performance metrics are ``metrics``."""
        return dataclasses.replace(self, performance_metrics=metrics)

    def with_configuration(self, configuration: Mapping[str, Any]) -> ModelMetadata:
        """Return a copy whose configuration is ``configuration``."""
        return dataclasses.replace(self, configuration=configuration)

    def with_metadata(self, metadata: Mapping[str, Any]) -> ModelMetadata:
        """Return a copy whose free-form metadata is ``metadata``."""
        return dataclasses.replace(self, metadata=metadata)

    def with_deployment(self, environment: str | None, deployed_at: datetime | None = None
                        ) -> ModelMetadata:
        """Return a copy marked as deployed to ``environment`` at ``deployed_at`` (now).

        ``None`` marks the copy undeployed. A registry's ``update()`` of such a copy deploys
        (or undeploys) through its deployment history, which alone decides what serves.
        """
        if environment is None:
            return dataclasses.replace(self, environment=None, deployed_at=None)
        return dataclasses.replace(self, environment=environment,
                                   deployed_at=deployed_at or utcnow())

    def with_version(self, version: VersionLike) -> ModelMetadata:
        """Return an undeployed copy under another version, created now."""
        return dataclasses.replace(self, version=Version.parse(version), created_at=utcnow(),
                                   deployed_at=None, environment=None)

    @property
    def is_deployed(self) -> bool:
        """Whether the version is marked as deployed in some environment."""
        return self.environment is not None and self.deployed_at is not None

    @property
    def is_production(self) -> bool:
        """Whether the version is deployed to ``production``."""
        return self.is_deployed and self.environment == "production"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {
            "model_name": self.model_name,
            "model_type": self.model_type.value,
            "version": str(self.version),
            "configuration": dict(self.configuration),
            "performance_metrics": dict(self.performance_metrics),
            "created_at": self.created_at.isoformat(),
            "deployed_at": self.deployed_at.isoformat() if self.deployed_at else None,
            "environment": self.environment,
            "metadata": dict(self.metadata),
            "task": self.task.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMetadata:
        """The metadata of a `to_dict` result (``task`` defaults to binary when absent)."""
        if not isinstance(data, Mapping):
            raise invalid("data", "a mapping as to_dict() returns", data)
        known = {f.name for f in dataclasses.fields(cls)}
        if extra := sorted(set(data) - known):
            raise invalid("data", f"keys among {sorted(known)}", extra)
        for key in ("model_name", "model_type", "version"):
            if data.get(key) is None:
                raise invalid(f"data[{key!r}]", "given", None)
        values = {k: v for k, v in data.items() if v is not None}
        for key in ("created_at", "deployed_at"):
            if isinstance(values.get(key), str):
                try:
                    values[key] = datetime.fromisoformat(values[key])
                except ValueError as err:
                    raise invalid(f"data[{key!r}]", "an ISO 8601 time", values[key]) from err
        return cls(**values)

    def _repr_html_(self) -> str:
        from mlmkit._html import dict_table

        return dict_table(self.to_dict(), title=f"{self.model_name} {self.version}")

    @classmethod
    def for_n1_detector(cls, version: VersionLike,
                        configuration: Mapping[str, Any] | None = None) -> ModelMetadata:
        """Metadata for the N+1 query detector (supervised, ``n1-detector``)."""
        return cls("n1-detector", ModelType.SUPERVISED, Version.parse(version),
                   configuration or {}, metadata={"domain": "database",
                                                  "description": "N+1 query detection"})

    @classmethod
    def for_waf_behavioral(cls, version: VersionLike,
                           configuration: Mapping[str, Any] | None = None) -> ModelMetadata:
        """Metadata for the WAF behavioural analysis model (unsupervised, ``waf-behavioral``)."""
        return cls("waf-behavioral", ModelType.UNSUPERVISED, Version.parse(version),
                   configuration or {}, metadata={"domain": "security",
                                                  "description": "WAF behavioural analysis"})

    @classmethod
    def for_queue_anomaly(cls, version: VersionLike,
                          configuration: Mapping[str, Any] | None = None) -> ModelMetadata:
        """Metadata for the queue job anomaly detector (unsupervised, ``queue-anomaly``)."""
        return cls("queue-anomaly", ModelType.UNSUPERVISED, Version.parse(version),
                   configuration or {}, metadata={"domain": "queue",
                                                  "description": "Queue job anomaly detection"})


#: Metrics an A/B test can decide on.
PRIMARY_METRICS = frozenset(select(use=Use.EXPERIMENT))


@dataclasses.dataclass(frozen=True)
class ABTestConfig:
    """An A/B test between two versions of one model (the seed's ``ABTestConfig``).

    ``traffic_split_a`` is the share of traffic served by version A (the control).

    Examples
    --------
    >>> cfg = ABTestConfig.for_gradual_rollout("n1-detector", "1.0.0", "1.1.0")
    >>> cfg.traffic_split_a, cfg.traffic_split_b
    (0.9, 0.1)
    """

    model_name: str
    version_a: Version
    version_b: Version
    traffic_split_a: float = 0.5
    primary_metric: str = "accuracy"
    minimum_improvement: float = 0.05
    significance_level: float = 0.05

    def __post_init__(self) -> None:
        check_name("model_name", self.model_name)
        set_ = object.__setattr__
        set_(self, "version_a", Version.parse(self.version_a, "version_a"))
        set_(self, "version_b", Version.parse(self.version_b, "version_b"))
        if self.version_a == self.version_b:
            raise invalid("version_b", f"a version other than version_a ({self.version_a})",
                          str(self.version_b))
        set_(self, "traffic_split_a", check_probability("traffic_split_a", self.traffic_split_a))
        if self.primary_metric not in PRIMARY_METRICS:
            raise invalid("primary_metric", f"one of {sorted(PRIMARY_METRICS)}",
                          self.primary_metric)
        set_(self, "minimum_improvement",
             check_real("minimum_improvement", self.minimum_improvement, low=0.0))
        set_(self, "significance_level",
             check_real("significance_level", self.significance_level, low=0.0, high=0.5,
                        low_open=True, high_open=True))

    @property
    def traffic_split_b(self) -> float:
        """The share of traffic served by version B."""
        return round(1.0 - self.traffic_split_a, 12)

    @property
    def experiment_key(self) -> str:
        """A stable key naming this experiment (used as the routing salt)."""
        return f"{self.model_name}:{self.version_a}->{self.version_b}"

    def with_traffic_split_b(self, share_b: float) -> ABTestConfig:
        """Return a copy that sends ``share_b`` of traffic to B."""
        share = check_probability("share_b", share_b)
        return dataclasses.replace(self, traffic_split_a=round(1.0 - share, 12))

    @classmethod
    def create(cls, model_name: str, version_a: VersionLike, version_b: VersionLike,
               traffic_split: float = 0.5, **options: Any) -> ABTestConfig:
        """A standard test; ``traffic_split`` is the share of A (0.5 = 50/50)."""
        return cls(model_name, Version.parse(version_a, "version_a"),
                   Version.parse(version_b, "version_b"), traffic_split, **options)

    @classmethod
    def for_gradual_rollout(cls, model_name: str, current_version: VersionLike,
                            new_version: VersionLike, **options: Any) -> ABTestConfig:
        """A canary: 90 % current version, 10 % new version."""
        return cls.create(model_name, Version.parse(current_version, "current_version"),
                          Version.parse(new_version, "new_version"), 0.9, **options)

    @classmethod
    def for_challenger(cls, model_name: str, champion: VersionLike, challenger: VersionLike,
                       **options: Any) -> ABTestConfig:
        """Champion/challenger: 80 % champion, 20 % challenger."""
        return cls.create(model_name, Version.parse(champion, "champion"),
                          Version.parse(challenger, "challenger"), 0.8, **options)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {"model_name": self.model_name, "version_a": str(self.version_a),
                "version_b": str(self.version_b), "traffic_split_a": self.traffic_split_a,
                "primary_metric": self.primary_metric,
                "minimum_improvement": self.minimum_improvement,
                "significance_level": self.significance_level}
