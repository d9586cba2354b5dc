"""A/B tests between model versions (``ws.ab``): routing, comparisons, tests, rollouts.

Statistics come from [`mlmkit.analysis.experiment`][mlmkit.analysis.experiment] (which test for
which metric), `mlmkit.analysis.stats` (SRM, Holm) and `mlmkit.analysis.routing` (sticky buckets);
counts come from one SQL aggregation (``store.predictions.aggregates.confusion_counts``), or
from the paired shadow-mode counts when both versions scored the same units.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, overload

import numpy as np
import polars as pl

from mlmkit._validation import (
    check_int,
    check_name,
    check_real,
    check_type,
    invalid,
)
from mlmkit.analysis import routing
from mlmkit.analysis.experiment import (
    RATE_METRICS,
    compare_metric,
    required_sample_size_for_lift,
)
from mlmkit.analysis.stats import TestResult, multiple_testing, sample_ratio_mismatch
from mlmkit.analysis.stats.sample_size import margin_of_error_sample_size
from mlmkit.analysis.stats.sample_size import required_sample_size as _required_sample_size
from mlmkit.catalogue import Task
from mlmkit.services.experiments import arms as arms_data
from mlmkit.services.experiments import task_ab
from mlmkit.services.experiments.offline import registered_comparison
from mlmkit.services.experiments.result import ABTestResult, decide
from mlmkit.services.experiments.segment_ab import SegmentTests
from mlmkit.store import experiments as sql
from mlmkit.store.engines.segments import SegmentLike
from mlmkit.values import (
    ABTestConfig,
    ModelMetadata,
    Version,
    WindowLike,
    resolve_range,
)

if TYPE_CHECKING:
    from mlmkit.services.alerts.service import AlertingService
    from mlmkit.services.experiments.rollout import Guardrails, Rollout
    from mlmkit.store.database import Database
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = ["ABTestResult", "ABTestingService"]



def _check_config(config: object) -> ABTestConfig:
    if not isinstance(config, ABTestConfig):
        raise invalid("config", "an ABTestConfig", config)
    return config


class ABTestingService(SegmentTests):
    """A/B testing, champion/challenger and guarded gradual rollouts over one workspace.

    Parameters
    ----------
    db
        The database holding the prediction log and the rollout tables.
    registry
        The model registry (versions compared, rollouts deployed and rolled back).
    alerts
        Where a rollout's automatic rollback fires its critical alert.

    Examples
    --------
    >>> import mlmkit
    >>> with mlmkit.open() as ws:
    ...     ws.ab.generate_rollout_plan(4), ws.ab.calculate_required_sample_size()
    ({1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0}, 385)
    """

    def __init__(self, db: Database, registry: ModelRegistry, alerts: AlertingService) -> None:
        self.db = db
        self.registry = registry
        self.alerts = alerts

    # ------------------------------------------------------------------ routing
    def select_version(self, config: ABTestConfig, unit_id: int | str | None = None) -> Version:
        """Version serving ``unit_id`` (sticky hash of experiment key and id; random if None).

        Examples
        --------
        >>> import mlmkit
        >>> cfg = mlmkit.ABTestConfig.create("n1-detector", "1.0.0", "1.1.0")
        >>> with mlmkit.open() as ws:
        ...     ws.ab.select_version(cfg, "user-7") == ws.ab.select_version(cfg, "user-7")
        True
        """
        return routing.select_version(_check_config(config), unit_id)

    def assign(self, config: ABTestConfig,
               unit_ids: Collection[int] | Collection[str] | pl.Series) -> pl.DataFrame:
        """Route many units at once: columns ``unit_id``, ``arm`` ("A"/"B"), ``version``.

        Same decisions as
        [`select_version`][mlmkit.services.experiments.ABTestingService.select_version],
        vectorised (tens of millions per second for integer ids; see
        [`mlmkit.analysis.routing`][mlmkit.analysis.routing] for the hash).

        Examples
        --------
        >>> import mlmkit
        >>> cfg = mlmkit.ABTestConfig.create("n1-detector", "1.0.0", "1.1.0", 0.0)
        >>> with mlmkit.open() as ws:
        ...     ws.ab.assign(cfg, [1, 2, 3])["version"].to_list()
        ['1.1.0', '1.1.0', '1.1.0']
        """
        config = _check_config(config)
        salt = routing.experiment_salt(config.experiment_key)
        is_b = routing.assign_arms(unit_ids, config.traffic_split_b, salt=salt)
        codes = pl.Series(is_b.view(np.uint8))
        arm = pl.Series("arm", ["A", "B"], dtype=pl.Enum(["A", "B"])).gather(codes)
        names = [str(config.version_a), str(config.version_b)]
        version = pl.Series("version", names, dtype=pl.Enum(names)).gather(codes)
        ids = unit_ids if isinstance(unit_ids, pl.Series) else pl.Series("unit_id", unit_ids)
        return pl.DataFrame({"unit_id": ids, "arm": arm, "version": version})

    # ------------------------------------------------------------------ planning
    def generate_rollout_plan(self, steps: int = 5) -> dict[int, float]:
        """Equal steps of traffic to B: ``{1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0}`` for 5."""
        steps = check_int("steps", steps, low=1, high=100)
        return {i: round(i / steps, 12) for i in range(1, steps + 1)}

    def calculate_required_sample_size(self, confidence_level: float = 0.95,
                                       margin_of_error: float = 0.05) -> int:
        """The seed's sample size to estimate one rate within ``± margin_of_error`` (385).

        This sizes an *estimate*, not a comparison; use
        [`required_sample_size`][mlmkit.services.experiments.ABTestingService.required_sample_size]
        to detect a difference between versions.
        """
        return margin_of_error_sample_size(confidence_level, margin_of_error)

    def required_sample_size(self, baseline_rate: float, minimum_detectable_effect: float, *,
                             alpha: float = 0.05, power: float = 0.8) -> int:
        """Units per version to detect an absolute change of a rate (two-sided z-test).

        Examples
        --------
        >>> import mlmkit
        >>> with mlmkit.open() as ws:
        ...     ws.ab.required_sample_size(0.10, 0.02)
        3835
        """
        return _required_sample_size(baseline_rate, minimum_detectable_effect, alpha=alpha,
                                     power=power)

    # ------------------------------------------------------------------ comparisons
    def compare_models(self, config: ABTestConfig, metadata_a: ModelMetadata | None = None,
                       metadata_b: ModelMetadata | None = None) -> ABTestResult:
        """Compare the metrics registered with both versions (the seed's offline comparison).

        Point metrics alone carry no sample size, so **significance cannot be judged** from
        them: the result is then a ``"tie"`` with ``p_value=None`` and says so. When both
        versions registered ``performance_metrics["sample_count"]`` (labelled evaluation rows)
        and the primary metric is a rate (accuracy, precision, recall, specificity, the rate
        taken over ``sample_count`` rows), a two-proportion z-test is run.
        """
        config = _check_config(config)
        for name, meta in (("metadata_a", metadata_a), ("metadata_b", metadata_b)):
            if meta is not None:
                check_type(name, meta, ModelMetadata, "a ModelMetadata or None")
        return registered_comparison(self.registry, config, metadata_a, metadata_b)

    @overload
    def run_test(self, config: ABTestConfig, window: WindowLike | None = ..., *,
                 start: datetime | None = ..., end: datetime | None = ...,
                 sequential: bool = ..., tau: float = ...,
                 secondary_metrics: Sequence[str] | None = ..., srm_alpha: float = ...,
                 power: float = ..., n_resamples: int = ..., seed: int = ...,
                 min_samples: int = ..., segment: None = ..., correction: str = ...
                 ) -> ABTestResult: ...

    @overload
    def run_test(self, config: ABTestConfig, window: WindowLike | None = ..., *,
                 start: datetime | None = ..., end: datetime | None = ...,
                 sequential: bool = ..., tau: float = ...,
                 secondary_metrics: Sequence[str] | None = ..., srm_alpha: float = ...,
                 power: float = ..., n_resamples: int = ..., seed: int = ...,
                 min_samples: int = ..., segment: SegmentLike, correction: str = ...
                 ) -> pl.DataFrame: ...

    def run_test(self, config: ABTestConfig, window: WindowLike | None = None, *,
                 start: datetime | None = None, end: datetime | None = None,
                 sequential: bool = False, tau: float = 0.05,
                 secondary_metrics: Sequence[str] | None = None,
                 srm_alpha: float = 0.001, power: float = 0.8, n_resamples: int = 2000,
                 seed: int = 0, min_samples: int = 100, segment: SegmentLike | None = None,
                 correction: str = "holm") -> ABTestResult | pl.DataFrame:
        """Test the experiment on the prediction log (labelled rows of both versions).

        Multiclass, regression and score-only models (their registered task) compare the
        task's metrics with the catalogue's test each: proportions for accuracy and the flag
        rate, Welch from sums for MAE / MAPE, bootstrap for F1-macro / RMSE / R² (table in
        `mlmkit.services.experiments.task_ab`); lower MAE / RMSE wins.

        Parameters
        ----------
        config : ABTestConfig
            The experiment; ``primary_metric`` decides, ``significance_level`` is alpha.
        window, start, end
            Time range of logged predictions (``None``: the whole log).
        sequential : bool
            Use the always-valid mSPRT for proportion metrics, so the test may be re-run as
            data arrive ("peeking") without inflating false positives; ``tau`` is its mixing
            standard deviation (fix it before the experiment).
        secondary_metrics : sequence of str, optional
            Reported with Holm-adjusted p-values (``tests[m].details["p_holm"]``). Default:
            accuracy, precision, recall, F1 for a binary model; every other metric of the
            task for the others (see `mlmkit.services.experiments.task_ab`).
        srm_alpha : float
            Level of the sample-ratio-mismatch check on all served rows of both arms.
        power : float
            Power used for ``sample_size_required`` (detecting ``minimum_improvement``).
        n_resamples, seed : int
            Bootstrap settings for F1 / balanced accuracy / ROC AUC.
        min_samples : int
            Labelled predictions each version needs before any decision (the seed's 100):
            below it the result is ``insufficient`` — a tie that says so, never "deploy".
        segment, correction
            A feature name, a list of them or a filter: the primary metric's test per
            segment from one grouped scan, corrected across the segments (``correction``:
            ``"holm"``, ``"fdr_bh"``, ``"bonferroni"``): the frame of `segment_test` (no
            secondary metrics, SRM or power per segment).

        Returns
        -------
        ABTestResult or polars.DataFrame
            In shadow mode (the versions scored the same units: one row ``served``, the other
            ``shadow``, same ``prediction_id``) accuracy uses McNemar's paired test and there
            is no SRM check. With ``segment``, one row per segment.
        """
        if segment is not None:
            if secondary_metrics is not None:
                raise invalid("secondary_metrics", "None with segment= (one metric per "
                              "segment family)", secondary_metrics)
            return self.segment_test(config, window, segment=segment, correction=correction,
                                     start=start, end=end, sequential=sequential, tau=tau,
                                     n_resamples=n_resamples, seed=seed,
                                     min_samples=min_samples)
        config = _check_config(config)
        task = self.registry.task(config.model_name)
        metrics = task_ab.experiment_metrics(task, config.primary_metric, secondary_metrics,
                                             sequential)
        tau = check_real("tau", tau, low=0.0, low_open=True)
        srm_alpha = check_real("srm_alpha", srm_alpha, low=0.0, high=0.5, low_open=True)
        min_samples = check_int("min_samples", min_samples, low=1)
        time_range = resolve_range(window, start=start, end=end, default=None)
        if task is not Task.BINARY:
            return task_ab.run_task_test(
                self.engine, self.registry, config, task, time_range, metrics,
                sequential=sequential, tau=tau, srm_alpha=srm_alpha, power=power,
                n_resamples=n_resamples, seed=seed, min_samples=min_samples, holm=_holm)
        a, b = str(config.version_a), str(config.version_b)
        metric = config.primary_metric
        paired = self.engine.has_shadow_rows(config.model_name, [a, b], time_range)
        arms = arms_data.paired_arms(self.engine, config, time_range) if paired else \
            arms_data.split_arms(self.engine, config, time_range)
        notes: list[str] = []
        hist = arms_data.score_histograms(self.engine, config, time_range, paired) \
            if "roc_auc" in metrics else None
        tests = {m: compare_metric(m, arms["counts_a"], arms["counts_b"],
                                   alpha=config.significance_level, paired_table=arms["table"],
                                   sequential=sequential and m in RATE_METRICS, tau=tau,
                                   histograms=hist, n_resamples=n_resamples, seed=seed)
                 for m in metrics}
        tests = _holm(tests, metrics[1:], config.significance_level)
        srm = None
        share_a = config.traffic_split_a
        if not paired and 0.0 < share_a < 1.0 and arms["n_a"] + arms["n_b"] > 0:
            srm = sample_ratio_mismatch(arms["n_a"], arms["n_b"], share_a, alpha=srm_alpha)
        values_a = {m: float(t.details.get("value_a", math.nan)) for m, t in tests.items()}
        values_b = {m: float(t.details.get("value_b", math.nan)) for m, t in tests.items()}
        required = None
        if metric in RATE_METRICS and not math.isnan(values_a[metric]):
            required = required_sample_size_for_lift(values_a[metric], config.minimum_improvement,
                                                     alpha=config.significance_level,
                                                     power=power)
        achieved = min(sum(arms["counts_a"]), sum(arms["counts_b"]))
        undersized = required is not None and achieved < required
        if undersized:
            notes.append(f"{achieved} labelled units per arm of the {required} needed to detect "
                         f"a {100 * config.minimum_improvement:.1f}% relative change of {metric}"
                         f" with power {power}.")
        srm_detected = bool(srm is not None and srm.details["mismatch"])
        if srm is not None and srm_detected:
            notes.append(f"Sample ratio mismatch: {arms['n_a']} vs {arms['n_b']} rows for a "
                         f"{share_a:.0%}/{1 - share_a:.0%} split (p={srm.p_value:.2g}).")
        if paired:
            notes.append("Shadow mode: both versions scored the same units (paired tests).")
        short = achieved < min_samples
        winner, significant, recommendation = decide(
            config, tests[metric], srm_detected=srm_detected, undersized=undersized,
            insufficient=f"{achieved} labelled predictions in the smaller arm, below the "
                         f"minimum of {min_samples} per version" if short else None)
        reg = self.registry
        return ABTestResult(
            config, reg.get(config.model_name, a), reg.get(config.model_name, b),
            {m: values_b[m] - values_a[m] for m in metrics}, winner, significant,
            tests[metric].p_value, recommendation, metrics_a=values_a, metrics_b=values_b,
            tests=tests, srm=srm, sample_size_required=required, sample_size_achieved=achieved,
            paired=paired, sequential=sequential, notes=tuple(notes), insufficient=short)

    # ------------------------------------------------------------------ rollouts
    def start_rollout(self, config: ABTestConfig, *,
                      plan: Mapping[int, float] | Sequence[float] | None = None,
                      guardrails: Guardrails | Mapping[str, object] | None = None,
                      environment: str = "production", now: datetime | None = None
                      ) -> Rollout:
        """Start a guarded gradual rollout of ``config.version_b`` (see `rollout`)."""
        from mlmkit.services.experiments.rollout import start_rollout

        return start_rollout(self.db, self.registry, self.alerts, config, plan=plan,
                             guardrails=guardrails, environment=environment, now=now)

    def get_rollout(self, rollout_id: int) -> Rollout:
        """A stored rollout by id (state reloaded from the database)."""
        from mlmkit.services.experiments.rollout import Rollout

        return Rollout(self.db, self.registry, self.alerts,
                       check_int("rollout_id", rollout_id, low=1))

    def active_rollout(self, model_name: str) -> Rollout | None:
        """The running rollout of ``model_name``, if any."""
        ids = sql.rollout_ids(self.db, check_name("model_name", model_name), "running")
        return self.get_rollout(ids[-1]) if ids else None

    def rollouts(self, model_name: str | None = None) -> list[Rollout]:
        """Every rollout (of one model), oldest first."""
        return [self.get_rollout(i) for i in sql.rollout_ids(self.db, model_name)]


def _holm(tests: dict[str, TestResult], secondary: list[str], alpha: float
          ) -> dict[str, TestResult]:
    import dataclasses

    if not secondary:
        return tests
    adjusted = multiple_testing([tests[m].p_value for m in secondary], method="holm",
                                alpha=alpha)["p_adjusted"].to_list()
    out = dict(tests)
    for name, p in zip(secondary, adjusted, strict=True):
        out[name] = dataclasses.replace(tests[name], details={**tests[name].details,
                                                              "p_holm": float(p)})
    return out
