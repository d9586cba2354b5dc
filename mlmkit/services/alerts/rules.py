"""Alert rules: small strategy objects registered by name and rebuilt from their parameters.

A rule's [`AlertRule.evaluate`][mlmkit.services.alerts.AlertRule.evaluate] looks at a
[`RuleContext`][mlmkit.services.alerts.RuleContext] (the database and the performance monitor;
a [`Workspace`][mlmkit.workspace.Workspace] is one) and returns the
[`Finding`][mlmkit.services.alerts.Finding] objects to fire (an empty list when all is well).
Built-in rules: ``metric_below``, ``degradation``, ``drift``, ``label_coverage_low``, ``srm``. Add
one with [`register_rule`][mlmkit.services.alerts.register_rule].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol, SupportsFloat, cast

from mlmkit._jsonable import JSONObject
from mlmkit._validation import check_choice, check_int, check_probability, check_real, invalid
from mlmkit.analysis.stats import sample_ratio_mismatch
from mlmkit.catalogue import Task, Use, select, spec
from mlmkit.values import Version, parse_window, resolve_range

if TYPE_CHECKING:
    from mlmkit.services.monitor.results import DegradationInfo
    from mlmkit.services.monitor.service import PerformanceMonitor
    from mlmkit.services.monitor.task_results import AnyWindowMetrics
    from mlmkit.store.database import Database

__all__ = ["RULES", "AlertRule", "Finding", "RuleContext", "available_rules", "make_rule",
           "register_rule"]

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Finding:
    """One alert a rule wants fired."""

    severity: str
    message: str
    details: JSONObject = field(default_factory=dict)
    dedup_key: str | None = None


class RuleContext(Protocol):
    """What a rule reads: the database and the performance monitor.

    [`AlertingService`][mlmkit.services.alerts.AlertingService] passes one when it evaluates
    its rules; a [`Workspace`][mlmkit.workspace.Workspace] has both attributes, so it can be passed
    too.
    """

    @property
    def db(self) -> Database:
        """The workspace database."""
        ...

    @property
    def monitor(self) -> PerformanceMonitor:
        """The performance monitor."""
        ...


class AlertRule:
    """Base class: ``name``, the parameters it was built with, and ``evaluate``."""

    name: ClassVar[str] = ""

    def __init__(self, **params: object) -> None:
        self.params = params

    def evaluate(self, ctx: RuleContext, model_name: str, version: str) -> list[Finding]:
        """Return what to fire for ``model_name`` / ``version`` (empty when healthy)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, object]:
        """``{"rule": name, **params}``: enough to rebuild it with `make_rule`."""
        return {"rule": self.name, **self.params}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"


# numeric entries of a window result a limit can apply to (every task's, by the catalogue)
_BELOW_METRICS = select(use=Use.WINDOW)


def _window_value(m: AnyWindowMetrics, metric: str) -> tuple[bool, object]:
    """Whether the window reports ``metric`` for its task, and its value (None: undefined)."""
    task = Task(getattr(m, "task", Task.BINARY))  # binary WindowMetrics has no task
    if task is Task.BINARY:
        return task in spec(metric).tasks, getattr(m, metric, None)
    values = m.to_dict()
    return task in spec(metric).tasks and metric in values, values.get(metric)


class MetricBelow(AlertRule):
    """Fire when ``metric`` over ``window`` is worse than ``value`` (on at least ``min_labels``).

    Worse follows the catalogue's direction: below ``value`` for a metric where higher is
    better (``accuracy``, ``f1_macro``, ``r2``) and for volumes, which have no direction
    (``sample_count``, ``flag_rate``); above it where lower is better (``mae``, ``rmse``,
    ``mape``, ``log_loss``, ``brier_score``). ``metric`` is any window metric of the catalogue;
    a model whose task's window does not report it (``mae`` on a binary model) raises
    ``ValidationError`` naming the metric and the task when the rule is evaluated. One alert per
    model, version and metric until the cool-down ends.
    """

    name = "metric_below"

    def __init__(self, *, value: float, metric: str = "accuracy", window: str = "24h",
                 min_labels: int = 100, severity: str = "warning") -> None:
        parse_window(window, "window")
        self.value = check_real("value", value)
        self.metric = check_choice("metric", metric, _BELOW_METRICS)
        self.window = window
        self.min_labels = check_int("min_labels", min_labels, low=0)
        self.severity = check_choice("severity", severity, SEVERITIES)
        super().__init__(value=self.value, metric=self.metric, window=window,
                         min_labels=self.min_labels, severity=self.severity)

    @property
    def fires_above(self) -> bool:
        """Whether the rule fires above ``value`` (a metric where lower is better)."""
        return spec(self.metric).higher_is_better is False

    def evaluate(self, ctx: RuleContext, model_name: str, version: str) -> list[Finding]:
        """Compare the window's metric with the limit, in the metric's direction."""
        m = ctx.monitor.get_current_metrics(model_name, version, self.window,
                                            min_labels=self.min_labels, ci=False)
        reported, raw = _window_value(m, self.metric)
        if not reported:
            task = Task(getattr(m, "task", Task.BINARY))
            names = [n for n in select(use=Use.WINDOW, task=task)
                     if _window_value(m, n)[0]]
            raise invalid("metric", f"a window metric of {model_name}'s task {task} "
                          f"({', '.join(names)})", self.metric)
        if m.insufficient or raw is None:  # a score metric is None without scored rows
            return []
        value = float(cast(SupportsFloat, raw))
        worse = value > self.value if self.fires_above else value < self.value
        if math.isnan(value) or not worse:
            return []
        sign = ">" if self.fires_above else "<"
        return [Finding(self.severity, f"{self.metric} of {model_name} {version} is "
                        f"{value:.4g} {sign} {self.value:.4g} over {self.window}",
                        {"value": value, "limit": self.value, "n": m.labelled_count},
                        f"metric_below:{model_name}:{version}:{self.metric}")]


class Degradation(AlertRule):
    """Fire the severity of `PerformanceMonitor.get_performance_degradation_info`.

    ``metric`` None: the model's task default (``accuracy``; regression ``mae``, score-only
    ``flag_rate``); the direction of a worsening comes from the catalogue.
    """

    name = "degradation"

    def __init__(self, *, threshold: float = 0.05, metric: str | None = None,
                 window: str = "24h", baseline: object = None, min_labels: int = 100) -> None:
        self.threshold = check_probability("threshold", threshold)
        self.metric = metric
        self.window = window
        self.baseline = baseline
        self.min_labels = min_labels
        super().__init__(threshold=self.threshold, metric=metric, window=window,
                         baseline=baseline, min_labels=min_labels)

    def info(self, ctx: RuleContext, model_name: str, version: str) -> DegradationInfo:
        """The degradation check with this rule's parameters (no alert fired)."""
        return ctx.monitor.get_performance_degradation_info(
            model_name, version, self.threshold, metric=self.metric, window=self.window,
            baseline=self.baseline, min_labels=self.min_labels, alert=False)

    def evaluate(self, ctx: RuleContext, model_name: str, version: str) -> list[Finding]:
        """Run the degradation check without its own alert and report its severity."""
        from mlmkit.services.monitor.degradation import message

        info = self.info(ctx, model_name, version)
        if not info.has_degraded:
            return []
        return [Finding(info.severity, message(info).split(" (")[0], info.to_dict(),
                        f"degradation:{model_name}:{version}:{info.metric}")]


class Drift(AlertRule):
    """Fire when more than ``max_share`` of the logged features drifted."""

    name = "drift"

    def __init__(self, *, reference: str = "7d", current: str = "24h", max_share: float = 0.0,
                 severity: str = "warning") -> None:
        self.reference = reference
        self.current = current
        self.max_share = check_probability("max_share", max_share)
        self.severity = check_choice("severity", severity, SEVERITIES)
        super().__init__(reference=reference, current=current, max_share=self.max_share,
                         severity=self.severity)

    def drifted(self, ctx: RuleContext, model_name: str, version: str) -> tuple[list[str], int]:
        """The drifted input features (the prediction excluded) and how many were tested."""
        report = ctx.monitor.data_drift(model_name, version, reference=self.reference,
                                        current=self.current)
        features = report.filter(report["kind"] != "prediction")
        return features.filter(features["drift"])["feature"].to_list(), features.height

    def evaluate(self, ctx: RuleContext, model_name: str, version: str) -> list[Finding]:
        """Run ``data_drift`` with the rule's windows."""
        drifted, tested = self.drifted(ctx, model_name, version)
        if tested == 0:
            return []
        share = len(drifted) / tested
        if not drifted or share <= self.max_share:
            return []
        return [Finding(self.severity, f"{len(drifted)} of {tested} features of "
                        f"{model_name} {version} drifted: {', '.join(drifted[:10])}",
                        {"features": list(drifted), "share": share})]


class LabelCoverageLow(AlertRule):
    """Fire when the share of labelled predictions in ``window`` is below ``min_coverage``."""

    name = "label_coverage_low"

    def __init__(self, *, min_coverage: float = 0.5, window: str = "24h",
                 min_predictions: int = 100, severity: str = "warning") -> None:
        self.min_coverage = check_probability("min_coverage", min_coverage)
        self.window = window
        self.min_predictions = check_int("min_predictions", min_predictions, low=0)
        self.severity = check_choice("severity", severity, SEVERITIES)
        super().__init__(min_coverage=self.min_coverage, window=window,
                         min_predictions=self.min_predictions, severity=self.severity)

    def evaluate(self, ctx: RuleContext, model_name: str, version: str) -> list[Finding]:
        """Compare the window's label coverage with the minimum."""
        m = ctx.monitor.get_current_metrics(model_name, version, self.window, ci=False)
        if m.sample_count < self.min_predictions or m.label_coverage >= self.min_coverage:
            return []
        return [Finding(self.severity, f"label coverage of {model_name} {version} is "
                        f"{m.label_coverage:.1%} < {self.min_coverage:.0%} over {self.window}",
                        {"coverage": m.label_coverage, "n": m.sample_count})]


class SampleRatioMismatch(AlertRule):
    """Fire when traffic between ``version`` (A) and ``version_b`` mismatches the split."""

    name = "srm"

    def __init__(self, *, version_b: str, expected_share_a: float = 0.5, window: str = "24h",
                 alpha: float = 0.001, severity: str = "critical") -> None:
        self.version_b = str(Version.parse(version_b))
        self.expected_share_a = check_probability("expected_share_a", expected_share_a,
                                                  open_interval=True)
        self.window = window
        self.alpha = alpha
        self.severity = check_choice("severity", severity, SEVERITIES)
        super().__init__(version_b=self.version_b, expected_share_a=self.expected_share_a,
                         window=window, alpha=alpha, severity=self.severity)

    def evaluate(self, ctx: RuleContext, model_name: str, version: str) -> list[Finding]:
        """Chi-square test of the served counts of the two versions."""
        span = resolve_range(self.window)
        totals = ctx.monitor.engine.window_counts(model_name,
                                                  versions=[version, self.version_b],
                                                  time_range=span, latency=False)
        counts = dict(zip(totals["version"].to_list(), totals["n"].to_list(), strict=True))
        n_a, n_b = int(counts.get(version, 0)), int(counts.get(self.version_b, 0))
        if n_a + n_b == 0:
            return []
        res = sample_ratio_mismatch(n_a, n_b, self.expected_share_a, alpha=self.alpha)
        if not res.significant():
            return []
        return [Finding(self.severity, f"sample ratio mismatch {model_name} {version} vs "
                        f"{self.version_b}: {n_a}/{n_b} (p={res.p_value:.2g})",
                        {"n_a": n_a, "n_b": n_b, "p_value": res.p_value},
                        f"srm:{model_name}:{version}:{self.version_b}")]


RULES: dict[str, type[AlertRule]] = {}


def register_rule(cls: type[AlertRule], *, replace: bool = False) -> type[AlertRule]:
    """Register a rule class under ``cls.name`` (usable as a decorator)."""
    if not cls.name:
        raise invalid("cls", "an AlertRule subclass with a non-empty name", cls)
    if cls.name in RULES and not replace:
        raise invalid("cls", f"a rule name not yet registered ({cls.name!r} is)", cls)
    RULES[cls.name] = cls
    return cls


for _cls in (MetricBelow, Degradation, Drift, LabelCoverageLow, SampleRatioMismatch):
    register_rule(_cls)


def available_rules() -> tuple[str, ...]:
    """Names of the registered rules.

    Examples
    --------
    >>> available_rules()
    ('degradation', 'drift', 'label_coverage_low', 'metric_below', 'srm')
    """
    return tuple(sorted(RULES))


def make_rule(name: str, **params: object) -> AlertRule:
    """Build the rule registered as ``name`` from its parameters."""
    cls = RULES.get(name)
    if cls is None:
        raise invalid("rule", f"one of {', '.join(available_rules())}", name)
    try:
        return cls(**params)
    except TypeError as err:
        raise invalid("params", f"parameters accepted by rule {name!r}", params) from err
