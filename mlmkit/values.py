"""Value objects shared by every layer: versions, model types, metadata, A/B configs, windows.

Everything here is immutable and validates on construction.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, overload

import semver

from mlmkit import clock as _clock
from mlmkit._validation import check_name, check_probability, check_real, invalid
from mlmkit.catalogue import Use, select

__all__ = [
    "ABTestConfig",
    "DefaultWindow",
    "EPOCH",
    "ModelMetadata",
    "ModelType",
    "PRIMARY_METRICS",
    "TimeRange",
    "VERSION_EXPECTATION",
    "Version",
    "VersionLike",
    "WindowLike",
    "parse_window",
    "resolve_range",
    "utc",
    "utcnow",
]


VERSION_EXPECTATION = "a semantic version such as '1.2.0'"


@functools.total_ordering
class Version:
    """A semantic version (``MAJOR.MINOR.PATCH[-prerelease][+build]``), ordered by semver rules.

    Parsing and precedence come from the ``semver`` package. A leading ``v`` is accepted.

    Examples
    --------
    >>> Version.parse("1.10.0") > Version.parse("1.9.0")
    True
    >>> Version.parse("2.0.0-rc.1") < Version.parse("2.0.0")
    True
    >>> str(Version.parse("v1.2.3").bump_minor())
    '1.3.0'
    """

    __slots__ = ("_v",)

    def __init__(self, major: int = 0, minor: int = 0, patch: int = 0,
                 prerelease: str | None = None, build: str | None = None) -> None:
        try:
            self._v = semver.Version(major, minor, patch, prerelease, build)
        except (TypeError, ValueError) as err:
            raise invalid("version", "a semantic version MAJOR.MINOR.PATCH",
                          (major, minor, patch)) from err

    @classmethod
    def parse(cls, text: VersionLike, name: str = "version") -> Version:
        """Parse ``"1.2.3"`` (or return an existing :class:`Version` unchanged).

        This is THE version parser: every entry point taking a version calls it with the
        argument's ``name``, so a bad value always reads
        ``"<name> must be a semantic version such as '1.2.0'; got <value>"``.

        Examples
        --------
        >>> try:
        ...     Version.parse("1.0", "version_b")
        ... except ValueError as err:
        ...     print(err)
        version_b must be a semantic version such as '1.2.0'; got '1.0'
        """
        if isinstance(text, Version):
            return text
        if isinstance(text, str):
            try:
                return _parse_cached(text)
            except (TypeError, ValueError) as err:
                raise invalid(name, VERSION_EXPECTATION, text) from err
        raise invalid(name, VERSION_EXPECTATION, text)

    @classmethod
    def _parse(cls, text: str) -> Version:
        raw = text[1:] if text[:1] in ("v", "V") else text
        parsed = semver.Version.parse(raw)  # ValueError / TypeError: see parse()
        obj = cls.__new__(cls)
        obj._v = parsed
        return obj

    from_string = parse

    @property
    def major(self) -> int:
        """The major component."""
        return int(self._v.major)

    @property
    def minor(self) -> int:
        """The minor component."""
        return int(self._v.minor)

    @property
    def patch(self) -> int:
        """The patch component."""
        return int(self._v.patch)

    @property
    def prerelease(self) -> str | None:
        """The pre-release tag, if any."""
        return self._v.prerelease

    def bump_major(self) -> Version:
        """Return the next major version (``1.2.3`` → ``2.0.0``)."""
        return Version.parse(str(self._v.bump_major()))

    def bump_minor(self) -> Version:
        """Return the next minor version (``1.2.3`` → ``1.3.0``)."""
        return Version.parse(str(self._v.bump_minor()))

    def bump_patch(self) -> Version:
        """Return the next patch version (``1.2.3`` → ``1.2.4``)."""
        return Version.parse(str(self._v.bump_patch()))

    def bump(self, part: str) -> Version:
        """Bump ``part`` (``"major"``, ``"minor"`` or ``"patch"``)."""
        if part not in ("major", "minor", "patch"):
            raise invalid("bump", "one of 'major', 'minor', 'patch'", part)
        return {"major": self.bump_major, "minor": self.bump_minor,
                "patch": self.bump_patch}[part]()

    def sort_key(self) -> tuple[Any, ...]:
        """A tuple that sorts like semver precedence (usable as a SQL-free sort key)."""
        return (self.major, self.minor, self.patch, self.prerelease is None,
                _prerelease_key(self.prerelease))

    def __str__(self) -> str:
        return str(self._v)

    def __repr__(self) -> str:
        return f"Version('{self}')"

    def __hash__(self) -> int:
        return hash(str(self._v.finalize_version()) + (self._v.prerelease or ""))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Version.parse(other)
            except ValueError:
                return NotImplemented
        if not isinstance(other, Version):
            return NotImplemented
        return bool(self._v.compare(other._v) == 0)

    def __lt__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Version.parse(other)
        if not isinstance(other, Version):
            return NotImplemented
        return bool(self._v.compare(other._v) < 0)


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Version:
    return Version._parse(text)


def _prerelease_key(pre: str | None) -> tuple[tuple[int, int | str], ...]:
    if pre is None:
        return ()
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))


VersionLike = Version | str


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


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (from :mod:`mlmkit.clock`)."""
    return _clock.now()


def utc(value: datetime, name: str = "timestamp") -> datetime:
    """Return ``value`` as an aware UTC datetime (naive datetimes are taken as UTC)."""
    if not isinstance(value, datetime):
        raise invalid(name, "a datetime", value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


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

    def __post_init__(self) -> None:
        check_name("model_name", self.model_name)
        set_ = object.__setattr__
        set_(self, "model_type", ModelType.parse(self.model_type))
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
        }

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


# ----------------------------------------------------------------------------- windows
WindowLike = str | timedelta
_WINDOW_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(window: WindowLike, name: str = "window") -> timedelta:
    """Parse ``"15m"``, ``"24h"``, ``"7d"``, ``"2w"``, ``"30s"`` or a timedelta.

    Examples
    --------
    >>> parse_window("15m")
    datetime.timedelta(seconds=900)
    >>> parse_window("7d").days
    7
    """
    if isinstance(window, timedelta):
        delta = window
    elif isinstance(window, str) and (match := _WINDOW_RE.match(window)):
        delta = timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    else:
        raise invalid(name, "a duration such as '15m', '24h', '7d' or a timedelta", window)
    if delta <= timedelta(0):
        raise invalid(name, "a positive duration", window)
    return delta


@dataclasses.dataclass(frozen=True)
class TimeRange:
    """A half-open UTC time range ``[start, end)``; build it with :func:`resolve_range`."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        """Length of the range."""
        return self.end - self.start


class DefaultWindow(str):
    """A window a signature uses when the caller gives none (``window=DefaultWindow("24h")``).

    It reads as the plain string in ``help()``; :func:`resolve_range` lets explicit ``start`` /
    ``end`` replace it, whereas a window the caller passed conflicts with them.
    """

    __slots__ = ()


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAIR_TYPES = (tuple, list)


@overload
def resolve_range(window: Any = None, *, start: datetime | None = None,
                  end: datetime | None = None, now: datetime | None = None,
                  default: WindowLike = "24h", name: str = "window") -> TimeRange: ...


@overload
def resolve_range(window: Any = None, *, start: datetime | None = None,
                  end: datetime | None = None, now: datetime | None = None,
                  default: None, name: str = "window") -> TimeRange | None: ...


def resolve_range(window: Any = None, *, start: datetime | None = None,
                  end: datetime | None = None, now: datetime | None = None,
                  default: WindowLike | None = "24h", name: str = "window") -> TimeRange | None:
    """THE window rule: turn ``window`` or ``start`` / ``end`` into a :class:`TimeRange`.

    Every public windowed entry point (monitor, A/B test, log, tuning, jobs, viz data) calls
    this once and passes the :class:`TimeRange` inward.

    * ``window`` (``"24h"``, ``"7d"``, a timedelta) is the span of that length ending at
      ``now``; a ``(start, end)`` pair is that span. It is *either* ``window`` *or*
      ``start`` / ``end``: giving both raises :class:`~mlmkit.exceptions.ValidationError`
      (a :class:`DefaultWindow`, a signature's default, gives way to them instead).
    * With ``start`` / ``end``: a missing ``end`` is ``now``; a missing ``start`` is
      ``end - default`` (the beginning of the log, :data:`EPOCH`, when ``default`` is None).
    * With neither: the ``default`` window ending at ``now``; ``None`` when ``default`` is
      None (the caller reads every row).
    * Datetimes must be :class:`datetime`; naive ones are taken as UTC (as everywhere in
      mlmkit, see :func:`utc`), and ``start`` must be earlier than ``end``.
    * ``now`` defaults to the current time; jobs pass their run time.
    * ``name`` names the argument in errors (``"baseline"`` gives ``baseline``,
      ``baseline start``, ``baseline end``).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> r = resolve_range("24h", now=datetime(2026, 1, 2, tzinfo=UTC))
    >>> r.start.isoformat(), r.end.isoformat()
    ('2026-01-01T00:00:00+00:00', '2026-01-02T00:00:00+00:00')
    >>> try:
    ...     resolve_range("7d", start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))
    ... except ValueError as err:
    ...     print(err)
    window must be None when start or end is given (a window or start/end, not both); got '7d'
    """
    start_name, end_name = ("start", "end") if name == "window" else (f"{name} start",
                                                                      f"{name} end")
    fallback: WindowLike | None = default
    if isinstance(window, DefaultWindow):
        window, fallback = None, str(window)
    if window is not None and (start is not None or end is not None):
        raise invalid(name, "None when start or end is given (a window or start/end, not both)",
                      window)
    if isinstance(window, _PAIR_TYPES):
        if len(window) != 2:
            raise invalid(name, "a duration or a (start, end) pair", window)
        start, end = window
        if start is None or end is None:
            raise invalid(name, "a (start, end) pair of datetimes", window)
        window = None
    anchor = utc(now, "now") if now is not None else utcnow()
    if window is None and start is None and end is None:
        if fallback is None:
            return None
        window = fallback
    if window is not None:
        return TimeRange(anchor - parse_window(window, name), anchor)
    stop = utc(end, end_name) if end is not None else anchor
    if start is not None:
        begin = utc(start, start_name)
    else:
        begin = EPOCH if fallback is None else stop - parse_window(fallback, "default")
    if begin >= stop:
        raise invalid(start_name, f"earlier than {end_name} ({stop.isoformat()})",
                      begin.isoformat())
    return TimeRange(begin, stop)
