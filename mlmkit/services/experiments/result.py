"""The result of an A/B test (the seed's ``ABTestResult``) and its decision rule."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from mlmkit._html import dict_table
from mlmkit._jsonable import JSONObject
from mlmkit.analysis.stats import TestResult
from mlmkit.catalogue import CATALOGUE
from mlmkit.values import ABTestConfig, ModelMetadata

__all__ = ["ABTestResult", "decide", "improvement_percent"]


def _higher_is_better(metric: str) -> bool | None:
    found = CATALOGUE.get(metric)
    return True if found is None else found.higher_is_better


def improvement_percent(metric: str, a: float | None, b: float | None) -> float:
    """B's relative improvement over A in percent, read in the metric's catalogue direction.

    ``100 * (b - a) / a`` when higher is better, ``100 * (a - b) / a`` when lower is better
    (MAE, RMSE), the plain relative change for a metric without direction (flag rate); NaN
    when undefined.

    Examples
    --------
    >>> improvement_percent("accuracy", 0.5, 0.75), improvement_percent("mae", 2.0, 1.5)
    (50.0, 25.0)
    """
    if a is None or b is None or math.isnan(a) or math.isnan(b) or a == 0:
        return math.nan
    change = 100.0 * (b - a) / abs(a)
    return -change if _higher_is_better(metric) is False else change


@dataclasses.dataclass(frozen=True)
class ABTestResult:
    """Outcome of `ABTestingService.run_test` or ``compare_models``.

    ``metrics_difference`` maps each metric to ``value_b - value_a`` (absolute). ``winner`` is
    ``"B"`` or ``"A"`` only when the primary metric's test is significant at
    ``config.significance_level``; otherwise ``"tie"``. Which way is better comes from the
    metric catalogue: a lower MAE or RMSE wins; a metric without direction (a score-only
    model's flag rate) never names a winner.

    **Decision rule**
    ([`should_deploy_version_b`][mlmkit.services.experiments.ABTestResult.should_deploy_version_b]):
    the primary metric is significantly better for B, its *relative* improvement ``(b - a) / a`` is
    at least
    ``config.minimum_improvement`` (0.05 = 5 %), and no sample-ratio mismatch was found. The
    relative reading follows the seed, which reports the improvement in percent
    ([`get_primary_metric_improvement_percent`][mlmkit.services.experiments.ABTestResult.get_primary_metric_improvement_percent]).

    Parameters
    ----------
    config, metadata_a, metadata_b
        The experiment and the two versions' registry entries.
    metrics_difference : mapping of str to float
        ``B - A`` per metric.
    winner : {"A", "B", "tie"}
    is_statistically_significant : bool
        Whether the primary metric's test rejected equality.
    p_value : float or None
        The primary metric's p-value (``None`` when it cannot be judged, e.g. point metrics).
    recommendation : str
        A sentence for humans.
    metrics_a, metrics_b : mapping of str to float
        Per-arm metric values.
    tests : mapping of str to TestResult
        Each metric's test; secondary metrics carry ``details["p_holm"]``.
    srm : TestResult or None
        Sample-ratio-mismatch check (``None`` in shadow mode or without logged data).
    sample_size_required, sample_size_achieved : int or None
        Units per arm needed to detect ``minimum_improvement`` (power 0.8) and the labelled
        units of the smaller arm.
    paired, sequential : bool
        Shadow-mode paired test; always-valid sequential test.
    notes : tuple of str
        Caveats (point metrics only, SRM, undersized test ...).
    """

    config: ABTestConfig
    metadata_a: ModelMetadata | None
    metadata_b: ModelMetadata | None
    metrics_difference: Mapping[str, float]
    winner: str
    is_statistically_significant: bool
    p_value: float | None
    recommendation: str
    metrics_a: Mapping[str, float] = dataclasses.field(default_factory=dict)
    metrics_b: Mapping[str, float] = dataclasses.field(default_factory=dict)
    tests: Mapping[str, TestResult] = dataclasses.field(default_factory=dict)
    srm: TestResult | None = None
    sample_size_required: int | None = None
    sample_size_achieved: int | None = None
    paired: bool = False
    sequential: bool = False
    notes: tuple[str, ...] = ()
    insufficient: bool = False

    @property
    def srm_detected(self) -> bool:
        """Whether the arm sizes contradict the configured split (results untrustworthy)."""
        return bool(self.srm is not None and self.srm.details.get("mismatch", False))

    def get_primary_metric_improvement_percent(self) -> float:
        """Relative improvement of the primary metric, ``100 * (b - a) / a`` (NaN if undefined).

        For a lower-is-better metric (MAE, RMSE) the sign is flipped, ``100 * (a - b) / a``, so
        a positive value always means B is better (see `improvement_percent`).

        Examples
        --------
        >>> from mlmkit.values import ABTestConfig
        >>> cfg = ABTestConfig.create("m", "1.0.0", "1.1.0")
        >>> r = ABTestResult(cfg, None, None, {"accuracy": 0.1}, "B", True, 0.001, "",
        ...                  metrics_a={"accuracy": 0.8}, metrics_b={"accuracy": 0.9})
        >>> round(r.get_primary_metric_improvement_percent(), 2)
        12.5
        """
        metric = self.config.primary_metric
        return improvement_percent(metric, self.metrics_a.get(metric, math.nan),
                                   self.metrics_b.get(metric, math.nan))

    def should_deploy_version_b(self) -> bool:
        """Significant, B better by at least ``minimum_improvement`` (relative), no SRM."""
        improvement = self.get_primary_metric_improvement_percent()
        return bool(self.is_statistically_significant and self.winner == "B"
                    and not self.insufficient and not self.srm_detected
                    and not math.isnan(improvement)
                    and improvement >= 100.0 * self.config.minimum_improvement - 1e-9)

    def get_metrics_summary(self) -> dict[str, dict[str, object]]:
        """Per metric: ``version_a, version_b, difference, improvement_percent, p_value``.

        ``p_value`` is the Holm-adjusted one for secondary metrics.
        """
        out: dict[str, dict[str, object]] = {}
        for name, diff in self.metrics_difference.items():
            a = self.metrics_a.get(name)
            b = self.metrics_b.get(name)
            test = self.tests.get(name)
            p = None
            if test is not None:
                p = test.details.get("p_holm", test.p_value)
            out[name] = {
                "version_a": a, "version_b": b, "difference": diff,
                "improvement_percent": improvement_percent(name, a, b),
                "p_value": p,
                "ci": None if test is None else test.ci,
                "test": None if test is None else test.method,
            }
        return out

    def to_dict(self) -> JSONObject:
        """JSON-friendly dict of the result."""
        return {
            "config": self.config.to_dict(),
            "version_a": str(self.config.version_a), "version_b": str(self.config.version_b),
            "metrics_difference": dict(self.metrics_difference),
            "metrics_a": dict(self.metrics_a), "metrics_b": dict(self.metrics_b),
            "winner": self.winner,
            "is_statistically_significant": self.is_statistically_significant,
            "p_value": self.p_value, "recommendation": self.recommendation,
            "should_deploy_version_b": self.should_deploy_version_b(),
            "improvement_percent": self.get_primary_metric_improvement_percent(),
            "tests": {k: v.to_dict() for k, v in self.tests.items()},
            "srm": None if self.srm is None else self.srm.to_dict(),
            "srm_detected": self.srm_detected,
            "sample_size_required": self.sample_size_required,
            "sample_size_achieved": self.sample_size_achieved,
            "paired": self.paired, "sequential": self.sequential, "notes": list(self.notes),
        }

    def _repr_html_(self) -> str:
        rows: dict[str, object] = {
            "versions": f"A={self.config.version_a}  B={self.config.version_b}",
            "primary metric": self.config.primary_metric,
            "winner": self.winner, "significant": self.is_statistically_significant,
            "p-value": self.p_value,
            "improvement %": self.get_primary_metric_improvement_percent(),
            "deploy B": self.should_deploy_version_b(),
            "recommendation": self.recommendation,
        }
        for name, item in self.get_metrics_summary().items():
            rows[name] = (f"A={_fmt(item['version_a'])} B={_fmt(item['version_b'])} "
                          f"p={_fmt(item['p_value'])}")
        notes = ""
        for note in self.notes:
            notes = (notes + " " + note).strip()
        if self.notes:
            rows["notes"] = notes
        return dict_table(rows, title=f"A/B test {self.config.experiment_key}")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def decide(config: ABTestConfig, primary: TestResult | None, *, srm_detected: bool,
           undersized: bool, insufficient: str | None = None) -> tuple[str, bool, str]:
    """Winner, significance and recommendation from the primary metric's test.

    ``insufficient`` (why the data are below the minimum sample) makes the result a tie that
    says so, whatever the test found: a "significant" result on 30 rows is not a decision.
    """
    metric = config.primary_metric
    if insufficient is not None:
        return "tie", False, f"Insufficient data: {insufficient}; keep version A and collect more."
    if primary is None or primary.effect is None or math.isnan(primary.effect):
        return "tie", False, (f"Cannot judge {metric}: no comparable data for both versions; "
                              "keep version A.")
    significant = primary.significant(config.significance_level)
    if srm_detected:
        return ("tie", significant, "Sample ratio mismatch: the arm sizes contradict the "
                "configured split, so the comparison is not trustworthy. Fix the routing or "
                "logging before deciding; keep version A.")
    if not significant:
        extra = " The test is still below its required sample size; keep collecting data." \
            if undersized else ""
        return "tie", False, (f"No significant difference in {metric} "
                              f"(p={primary.p_value:.3g}); keep version A.{extra}")
    direction = _higher_is_better(metric)
    if direction is None:
        return "tie", True, (f"{metric} differs significantly between the versions "
                             f"(p={primary.p_value:.3g}) but has no better direction; review "
                             "the change before deploying; keep version A.")
    winner = "B" if (primary.effect > 0) == direction else "A"
    if winner == "A":
        return winner, True, (f"Version A is significantly better on {metric} "
                              f"(p={primary.p_value:.3g}); keep version A.")
    values = primary.details
    lift = improvement_percent(metric, values.get("value_a"), values.get("value_b"))
    if lift >= 100.0 * config.minimum_improvement - 1e-9:
        return winner, True, (f"Deploy version B: {metric} improved by {lift:.2f}% "
                              f"(p={primary.p_value:.3g}); roll out gradually.")
    return winner, True, (f"Version B is significantly better on {metric} but the "
                          f"improvement ({lift:.2f}%) is below the required "
                          f"{100.0 * config.minimum_improvement:.2f}%; keep version A.")
