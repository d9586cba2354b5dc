"""Rollout guardrails: small strategy objects registered by name and rebuilt from config.

A `Guardrail` looks at the `StepCounts` of the current rollout step (rows,
labels and correct predictions per arm since the step began) and returns a
`Verdict`: passed, or failed with a reason (a failure rolls the rollout back).
Built-in guardrails: ``critical_alert``, ``srm``, ``accuracy_drop``, ``min_accuracy``. Add
one with `register_guardrail` and pass it in ``Guardrails(extra=(...))``.

[`Guardrails`][mlmkit.services.experiments.Guardrails] is the public, stored
configuration of a rollout: its fields build the built-in guardrails
([`Guardrails.checks`][mlmkit.services.experiments.Guardrails.checks]), and ``extra``
guardrails are stored as ``{"guardrail": name, **fields}`` and rebuilt with `make_guardrail`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import ClassVar

from mlmkit._validation import check_int, check_real, invalid
from mlmkit.analysis.experiment import sequential_mean_test
from mlmkit.analysis.stats import (
    TestResult,
    sample_ratio_mismatch,
    sequential_two_proportion_test,
    two_proportion_ztest,
    welch_from_sums,
)
from mlmkit.values import WindowLike, parse_window

__all__ = [
    "GUARDRAILS",
    "AccuracyDrop",
    "CriticalAlert",
    "Guardrail",
    "Guardrails",
    "MinAccuracy",
    "SampleRatio",
    "StepCounts",
    "Verdict",
    "available_guardrails",
    "make_guardrail",
    "register_guardrail",
]

#: A value of a stored guardrail field or of a check's details (JSON scalars).
ConfigValue = str | int | float | bool | None


@dataclasses.dataclass(frozen=True)
class StepCounts:
    """What guardrails judge: each arm's rows since the current step began.

    ``metric`` is what the rollout guards: ``accuracy`` for classifiers (``correct_*`` of
    ``labelled_*``); for a regression model a mean of per-row losses whose ``(n, Σx, Σx²)``
    per arm are ``moments_a`` / ``moments_b`` (``mae``: ``|e|``; ``mse``, guarding RMSE and
    R²: ``e²``; ``mape``: ``|e|/|y|``), lower is better; ``flag_rate`` for a score-only model
    (no direction: not guarded, ``labelled_*`` count its scored rows).
    """

    model_name: str
    version_a: str
    version_b: str
    share_b: float
    n_a: int = 0
    n_b: int = 0
    labelled_a: int = 0
    labelled_b: int = 0
    correct_a: int = 0
    correct_b: int = 0
    critical_alerts: int = 0
    metric: str = "accuracy"
    moments_a: tuple[float, float, float] | None = None
    moments_b: tuple[float, float, float] | None = None

    @property
    def accuracy_a(self) -> float | None:
        """A's accuracy on its labelled rows (``None`` without labels or for another metric)."""
        ok = self.labelled_a and self.metric == "accuracy"
        return self.correct_a / self.labelled_a if ok else None

    @property
    def accuracy_b(self) -> float | None:
        """B's accuracy on its labelled rows (``None`` without labels or for another metric)."""
        ok = self.labelled_b and self.metric == "accuracy"
        return self.correct_b / self.labelled_b if ok else None


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A guardrail's answer: ``reason`` is ``None`` when it passed; ``details`` are logged."""

    reason: str | None = None
    details: Mapping[str, ConfigValue] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether the step may go on."""
        return self.reason is None


@dataclasses.dataclass(frozen=True)
class Guardrail:
    """Base class: a registered ``name``, config fields (dataclass fields) and ``check``."""

    name: ClassVar[str] = ""
    #: Whether `check` reads ``StepCounts.critical_alerts`` (the rollout counts them).
    needs_alerts: ClassVar[bool] = False

    def check(self, counts: StepCounts) -> Verdict:
        """Judge the step; a failed verdict rolls the rollout back."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, ConfigValue]:
        """``{"guardrail": name, **fields}``: enough to rebuild it with `make_guardrail`."""
        out: dict[str, ConfigValue] = {"guardrail": self.name}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out


@dataclasses.dataclass(frozen=True)
class CriticalAlert(Guardrail):
    """Fail while a critical alert for the model, opened since the rollout started, is open."""

    name: ClassVar[str] = "critical_alert"
    needs_alerts: ClassVar[bool] = True

    def check(self, counts: StepCounts) -> Verdict:
        """Fail on any open critical alert."""
        n = counts.critical_alerts
        reason = f"{n} open critical alert(s) for {counts.model_name}" if n else None
        return Verdict(reason, {"critical_alerts": n})


@dataclasses.dataclass(frozen=True)
class SampleRatio(Guardrail):
    """Fail on a sample-ratio mismatch between the arms (needs >= 100 rows in the step)."""

    name: ClassVar[str] = "srm"
    alpha: float = 0.001

    def __post_init__(self) -> None:
        check_real("alpha", self.alpha, low=0.0, high=0.5, low_open=True)

    def check(self, counts: StepCounts) -> Verdict:
        """Chi-square test of the rows served by each arm against the planned share."""
        share = counts.share_b
        if not 0.0 < share < 1.0 or counts.n_a + counts.n_b < 100:
            return Verdict()
        srm = sample_ratio_mismatch(counts.n_a, counts.n_b, 1.0 - share, alpha=self.alpha)
        details: dict[str, ConfigValue] = {"srm_p_value": srm.p_value}
        if not srm.details["mismatch"]:
            return Verdict(None, details)
        return Verdict(f"sample ratio mismatch: {counts.n_a} vs {counts.n_b} rows for "
                       f"{1 - share:.0%}/{share:.0%} (p={srm.p_value:.2g})", details)


@dataclasses.dataclass(frozen=True)
class AccuracyDrop(Guardrail):
    """Fail when B is significantly less accurate than A by more than ``max_drop``.

    For a regression model (``StepCounts.moments_*``) the same check reads the guarded loss,
    lower is better: B fails when its mean loss (MAE, ...) is significantly above A's by more
    than ``max_drop`` *relative* to A's (0.1: 10 % worse), with the always-valid mSPRT on the
    difference of means (`sequential_mean_test`) or a one-sided Welch test from sums.
    """

    name: ClassVar[str] = "accuracy_drop"
    alpha: float = 0.05
    max_drop: float = 0.0
    sequential: bool = True

    def __post_init__(self) -> None:
        check_real("alpha", self.alpha, low=0.0, high=0.5, low_open=True, high_open=True)
        check_real("max_drop", self.max_drop, low=0.0, high=1.0)

    def _test(self, counts: StepCounts) -> TestResult:
        args = (counts.correct_a, counts.labelled_a, counts.correct_b, counts.labelled_b)
        if self.sequential:
            return sequential_two_proportion_test(*args, alpha=self.alpha)
        return two_proportion_ztest(*args, alternative="less")

    def check(self, counts: StepCounts) -> Verdict:
        """Always-valid mSPRT (``sequential``) or one-sided z-test of B's accuracy vs A's."""
        if counts.moments_a is not None and counts.moments_b is not None:
            return self._loss_check(counts, counts.moments_a, counts.moments_b)
        if counts.metric != "accuracy" or not (counts.labelled_a and counts.labelled_b):
            return Verdict()
        test = self._test(counts)
        details: dict[str, ConfigValue] = {"accuracy_p_value": test.p_value}
        drop = -(test.effect or 0.0)
        if not test.significant(self.alpha) or drop <= self.max_drop:  # (NaN p: no test)
            return Verdict(None, details)
        return Verdict(f"accuracy of {counts.version_b} ({counts.accuracy_b:.4f}) is "
                       f"significantly below {counts.version_a} ({counts.accuracy_a:.4f}), "
                       f"p={test.p_value:.2g}", details)


    def _loss_check(self, counts: StepCounts, a: tuple[float, float, float],
                    b: tuple[float, float, float]) -> Verdict:
        if min(a[0], b[0]) < 2:
            return Verdict()
        metric = counts.metric
        if self.sequential:
            test = sequential_mean_test(a, b, alpha=self.alpha)
        else:
            test = welch_from_sums(int(a[0]), a[1], a[2], int(b[0]), b[1], b[2], "greater")
        mean_a, mean_b = a[1] / a[0], b[1] / b[0]
        details: dict[str, ConfigValue] = {f"{metric}_a": mean_a, f"{metric}_b": mean_b,
                                           f"{metric}_p_value": test.p_value}
        rise = (mean_b - mean_a) / abs(mean_a) if mean_a else math.inf
        if not test.significant(self.alpha) or mean_b <= mean_a or rise <= self.max_drop:
            return Verdict(None, details)
        return Verdict(f"{metric} of {counts.version_b} ({mean_b:.4g}) is significantly above "
                       f"{counts.version_a} ({mean_a:.4g}), p={test.p_value:.2g}", details)


@dataclasses.dataclass(frozen=True)
class MinAccuracy(Guardrail):
    """Fail when B's accuracy is below ``value`` once it has ``min_samples`` labels."""

    name: ClassVar[str] = "min_accuracy"
    value: float = 0.9
    min_samples: int = 100

    def __post_init__(self) -> None:
        check_real("value", self.value, low=0.0, high=1.0)
        check_int("min_samples", self.min_samples, low=1)

    def check(self, counts: StepCounts) -> Verdict:
        """Compare B's accuracy with the floor."""
        acc = counts.accuracy_b
        if counts.labelled_b < self.min_samples or acc is None or acc >= self.value:
            return Verdict()
        return Verdict(f"accuracy of {counts.version_b} ({acc:.4f}) is below "
                       f"min_accuracy {self.value}")


GUARDRAILS: dict[str, type[Guardrail]] = {}


def register_guardrail(cls: type[Guardrail], *, replace: bool = False) -> type[Guardrail]:
    """Register a guardrail class under ``cls.name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Guardrail) and cls.name):
        raise invalid("cls", "a Guardrail subclass with a non-empty name", cls)
    if cls.name in GUARDRAILS and not replace:
        raise invalid("cls", f"a guardrail name not yet registered ({cls.name!r} is)", cls)
    GUARDRAILS[cls.name] = cls
    return cls


for _cls in (CriticalAlert, SampleRatio, AccuracyDrop, MinAccuracy):
    register_guardrail(_cls)


def available_guardrails() -> tuple[str, ...]:
    """Names of the registered guardrails.

    Examples
    --------
    >>> available_guardrails()
    ('accuracy_drop', 'critical_alert', 'min_accuracy', 'srm')
    """
    return tuple(sorted(GUARDRAILS))


def make_guardrail(config: Mapping[str, ConfigValue]) -> Guardrail:
    """Rebuild a guardrail from ``{"guardrail": name, **fields}`` (its `to_dict`).

    Examples
    --------
    >>> make_guardrail({"guardrail": "srm", "alpha": 0.01})
    SampleRatio(alpha=0.01)
    """
    if not isinstance(config, Mapping):
        raise invalid("guardrail", "a mapping with a 'guardrail' name", config)
    fields = dict(config)
    name = fields.pop("guardrail", None)
    cls = GUARDRAILS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise invalid("guardrail", f"one of {', '.join(available_guardrails())}", name)
    try:
        return cls(**fields)
    except TypeError as err:
        raise invalid("guardrail", f"fields accepted by guardrail {name!r}", config) from err


@dataclasses.dataclass(frozen=True)
class Guardrails:
    """When a rollout step may advance, and when it must roll back.

    Parameters
    ----------
    min_duration : str or timedelta
        Minimum age of a step before advancing (``"1h"``).
    min_samples : int
        Minimum labelled predictions per arm in the step before advancing.
    alpha : float
        Level of the "B is less accurate than A" check.
    max_accuracy_drop : float
        Tolerated absolute accuracy drop of B (a significant drop smaller than this holds).
    min_accuracy : float or None
        Absolute floor for B's accuracy (the seed's 0.90), checked once ``min_samples``
        labels arrived.
    srm_alpha : float
        Level of the sample-ratio-mismatch check (needs >= 100 rows in the step).
    sequential : bool
        Use the always-valid mSPRT (safe under repeated ``advance`` calls) rather than a
        one-sided z-test.
    block_on_critical_alert : bool
        Roll back when a critical alert for the model is open.
    extra : tuple of Guardrail
        Further guardrails, checked after the built-in ones (mappings as from
        `Guardrail.to_dict` are accepted).

    Examples
    --------
    >>> Guardrails(min_duration="30m").min_duration_seconds
    1800.0
    >>> [g.name for g in Guardrails(min_accuracy=0.9).checks()]
    ['critical_alert', 'srm', 'accuracy_drop', 'min_accuracy']
    """

    min_duration: WindowLike = "1h"
    min_samples: int = 100
    alpha: float = 0.05
    max_accuracy_drop: float = 0.0
    min_accuracy: float | None = None
    srm_alpha: float = 0.001
    sequential: bool = True
    block_on_critical_alert: bool = True
    extra: tuple[Guardrail, ...] = ()

    def __post_init__(self) -> None:
        parse_window(self.min_duration, "min_duration")
        check_int("min_samples", self.min_samples, low=1)
        check_real("alpha", self.alpha, low=0.0, high=0.5, low_open=True, high_open=True)
        check_real("max_accuracy_drop", self.max_accuracy_drop, low=0.0, high=1.0)
        if self.min_accuracy is not None:
            check_real("min_accuracy", self.min_accuracy, low=0.0, high=1.0)
        check_real("srm_alpha", self.srm_alpha, low=0.0, high=0.5, low_open=True)
        if isinstance(self.extra, (str, bytes, Mapping)) or not hasattr(self.extra, "__iter__"):
            raise invalid("extra", "a sequence of Guardrail objects or their configs",
                          self.extra)
        extra = tuple(g if isinstance(g, Guardrail) else make_guardrail(g) for g in self.extra)
        object.__setattr__(self, "extra", extra)

    @property
    def min_duration_seconds(self) -> float:
        """``min_duration`` in seconds."""
        return parse_window(self.min_duration).total_seconds()

    def checks(self) -> tuple[Guardrail, ...]:
        """The guardrails a step must pass, in the order they are checked."""
        built: list[Guardrail] = [CriticalAlert()] if self.block_on_critical_alert else []
        built += [SampleRatio(alpha=self.srm_alpha),
                  AccuracyDrop(alpha=self.alpha, max_drop=self.max_accuracy_drop,
                               sequential=self.sequential)]
        if self.min_accuracy is not None:
            built.append(MinAccuracy(value=self.min_accuracy, min_samples=self.min_samples))
        return (*built, *self.extra)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly dict (``min_duration`` in seconds; ``extra`` only when set)."""
        out: dict[str, object] = {f.name: getattr(self, f.name)
                                  for f in dataclasses.fields(self) if f.name != "extra"}
        out["min_duration"] = f"{self.min_duration_seconds}s"
        if self.extra:
            out["extra"] = [g.to_dict() for g in self.extra]
        return out

    @classmethod
    def parse(cls, value: Guardrails | Mapping[str, object] | None) -> Guardrails:
        """A `Guardrails` from itself, a mapping of its fields, or ``None`` (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, Guardrails):
            return value
        if isinstance(value, Mapping):
            try:
                return cls(**value)  # type: ignore[arg-type]  # fields are checked above
            except TypeError as err:
                raise invalid("guardrails", "a mapping of Guardrails fields", value) from err
        raise invalid("guardrails", "a Guardrails, a mapping or None", value)
