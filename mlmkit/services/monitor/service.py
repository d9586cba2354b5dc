"""Performance monitoring on the prediction log (``ws.monitor``): the seed's Performance Monitor.

Every windowed method takes ``window`` (``"24h"``, ``"7d"``, a timedelta: the span ending now)
or explicit ``start=`` / ``end=``. Metrics come from aggregates computed inside DuckDB (one scan
per call, no rows transferred) and rest on the *labelled* rows only: unlabelled predictions
are counted (``sample_count``, ``label_coverage``) but are not errors. A result with fewer than
``min_labels`` labels (default `DEFAULT_MIN_LABELS` = 100, the seed's best practice) is
``insufficient``: it is reported but never alerted on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, overload

import polars as pl

from mlmkit._validation import check_choice, check_int, check_probability, invalid
from mlmkit.catalogue import Kind, Task, Use, select
from mlmkit.services.monitor import degradation as _deg
from mlmkit.services.monitor.base import Versions, canonical_version
from mlmkit.services.monitor.compare import version_comparison
from mlmkit.services.monitor.concept_methods import ConceptMethods
from mlmkit.services.monitor.data_drift import reference_versions
from mlmkit.services.monitor.results import DegradationInfo
from mlmkit.services.monitor.segment_verdicts import segment_comparison_frame, segment_degradation
from mlmkit.services.monitor.segments import trend_counts
from mlmkit.services.monitor.task_estimation import TaskEstimate, task_estimate
from mlmkit.services.monitor.task_trend import task_trend
from mlmkit.services.monitor.tasks import AnyWindowMetrics, task_window_metrics
from mlmkit.services.monitor.window import rate_rows
from mlmkit.store.engines.segments import SegmentLike
from mlmkit.store.predictions.batch import ROLES
from mlmkit.values import (
    DefaultWindow,
    Version,
    VersionLike,
    WindowLike,
    parse_window,
    resolve_range,
)

if TYPE_CHECKING:
    from mlmkit.analysis.estimation import EstimatedMetrics
    from mlmkit.services.alerts.service import AlertingService
    from mlmkit.services.log import PredictionLog
    from mlmkit.store.database import Database
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = ["DEFAULT_MIN_LABELS", "PerformanceMonitor"]

DEFAULT_MIN_LABELS = 100
_METRICS = select(use=Use.WINDOW, kind=(Kind.COUNT, Kind.SCORE))
_Versions = Versions
_version = canonical_version


_24H, _7D = DefaultWindow("24h"), DefaultWindow("7d")


def _role(role: str) -> str:
    return check_choice("role", role, ROLES)


class PerformanceMonitor(ConceptMethods):
    """Metrics, degradation, concept drift, trends, version comparison and data drift.

    Parameters
    ----------
    db
        The database holding the prediction log (metrics are aggregated inside it).
    log
        The prediction log (``track_prediction`` and the logged feature map).
    registry
        The model registry (registered ``performance_metrics`` baselines).
    alerts
        Where degradation and drift alerts are fired.

    Examples
    --------
    >>> import mlmkit, polars as pl
    >>> from datetime import timedelta
    >>> from mlmkit.values import utcnow
    >>> with mlmkit.open() as ws:
    ...     now = utcnow()
    ...     _ = ws.registry.register(mlmkit.ModelMetadata("m", "supervised", "1.0.0"))
    ...     _ = ws.log.track_batch(pl.DataFrame({
    ...         "model_name": "m", "version": "1.0.0",
    ...         "prediction": [True, True, False, False], "actual": [True, False, False, None],
    ...         "timestamp": [now - timedelta(minutes=i) for i in range(1, 5)]}))
    ...     m = ws.monitor.get_current_metrics("m", "1.0.0", "1h", ci=False)
    ...     m["accuracy"], m.sample_count, m.labelled_count, m.label_coverage
    (0.6666666666666666, 4, 3, 0.75)
    """

    def __init__(self, db: Database, log: PredictionLog, registry: ModelRegistry,
                 alerts: AlertingService) -> None:
        self.db = db
        self.log = log
        self.registry = registry
        self.alerts = alerts

    # ------------------------------------------------------------------ metrics
    @overload
    def get_current_metrics(
            self, model_name: str, version: VersionLike, window: WindowLike | None = ..., *,
            start: datetime | None = ..., end: datetime | None = ..., min_labels: int = ...,
            ci: bool = ..., confidence: float = ..., bins: int = ..., scores: bool = ...,
            latency: bool = ..., role: str = ..., segment: None = ...) -> AnyWindowMetrics: ...

    @overload
    def get_current_metrics(
            self, model_name: str, version: VersionLike, window: WindowLike | None = ..., *,
            start: datetime | None = ..., end: datetime | None = ..., min_labels: int = ...,
            ci: bool = ..., confidence: float = ..., bins: int = ..., scores: bool = ...,
            latency: bool = ..., role: str = ..., segment: SegmentLike) -> pl.DataFrame: ...

    def get_current_metrics(self, model_name: str, version: VersionLike,
                            window: WindowLike | None = _24H, *, start: datetime | None = None,
                            end: datetime | None = None, min_labels: int = DEFAULT_MIN_LABELS,
                            ci: bool = True, confidence: float = 0.95, bins: int = 10_000,
                            scores: bool = True, latency: bool = True, role: str = "served",
                            segment: SegmentLike | None = None
                            ) -> AnyWindowMetrics | pl.DataFrame:
        """Metrics of one version over a window, from DuckDB aggregations (by the model's task).

        Binary: accuracy, precision, recall, F1, specificity (Wilson / count-bootstrap intervals
        when ``ci``) on the labelled rows. ROC AUC is exact (``roc_auc_method == "exact"``) up
        to ``EXACT_AUC_MAX_ROWS`` (1e6) labelled scored rows, beyond from a ``bins``-bin score
        histogram (``"histogram"``; worst-case error ``roc_auc_error_bound``). Brier score and
        log loss come from exact sums. ``scores=False``: count metrics only (no ROC AUC, Brier,
        log loss, mean score); with it, ``latency=False`` skips the median label latency.
        Multiclass, regression and score-only models: see `task_window_metrics` (``scores=False``
        skips probabilities / residual quantiles; ``bins`` sizes their histograms).

        ``segment``: a feature name, a list of them or a filter such as ``{"country": ["DE"]}``
        (`mlmkit.store.engines.segments`): a polars frame, one row per segment from one grouped
        scan, the frame of `segment_metrics` (``latency`` unused).

        Returns
        -------
        WindowMetrics or MulticlassWindowMetrics or RegressionWindowMetrics or ScoreWindowMetrics
            ``metrics["accuracy"]``, ``.sample_count``, ``.labelled_count``, ``.insufficient``;
            with ``segment``, a polars DataFrame.

        Raises
        ------
        NotFoundError
            When the model or the version is not registered.
        """
        if segment is not None:
            return self.segment_metrics(model_name, version, window, segment=segment,
                                        start=start, end=end, min_labels=min_labels, ci=ci,
                                        confidence=confidence, bins=bins, scores=scores,
                                        role=role)
        ver = _version(version)
        self._registered(model_name, [ver])
        span = resolve_range(window, start=start, end=end)
        min_labels = check_int("min_labels", min_labels, low=0)
        confidence = check_probability("confidence", confidence, open_interval=True)
        bins = check_int("bins", bins, low=1, high=10_000_000)
        task = task_window_metrics(self.engine, self.registry.task(model_name), model_name,
                                   ver, span, min_labels=min_labels, confidence=confidence,
                                   bins=bins, scores=scores, role=_role(role))
        return task if task is not None else self._window_metrics(
            model_name, ver, span, min_labels=min_labels, ci=ci, confidence=confidence,
            bins=bins, scores=scores, latency=latency, role=_role(role))

    current_metrics = get_current_metrics

    # ------------------------------------------------------------------ degradation
    @overload
    def get_performance_degradation_info(
            self, model_name: str, version: VersionLike, threshold_percent: float = ..., *,
            metric: str | None = ..., window: WindowLike | None = ...,
            start: datetime | None = ..., end: datetime | None = ..., baseline: object = ...,
            min_labels: int = ..., alpha: float = ..., alert: bool = ...,
            segment: None = ...) -> DegradationInfo: ...

    @overload
    def get_performance_degradation_info(
            self, model_name: str, version: VersionLike, threshold_percent: float = ..., *,
            metric: str | None = ..., window: WindowLike | None = ...,
            start: datetime | None = ..., end: datetime | None = ..., baseline: object = ...,
            min_labels: int = ..., alpha: float = ..., alert: bool = ...,
            segment: SegmentLike) -> pl.DataFrame: ...

    def get_performance_degradation_info(
            self, model_name: str, version: VersionLike, threshold_percent: float = 0.05, *,
            metric: str | None = None, window: WindowLike | None = _24H,
            start: datetime | None = None, end: datetime | None = None,
            baseline: object = None, min_labels: int = DEFAULT_MIN_LABELS, alpha: float = 0.05,
            alert: bool = True, segment: SegmentLike | None = None
    ) -> DegradationInfo | pl.DataFrame:
        """Compare the current window with a baseline and alert when the metric worsened.

        Parameters
        ----------
        threshold_percent
            Relative worsening (a fraction: 0.05 is 5 %) from which severity is
            ``"warning"``; twice it is ``"critical"``.
        metric
            Binary: a higher-is-better metric (``accuracy``, ``precision``, ``recall``,
            ``f1_score``, ``specificity``, ``roc_auc``). Other tasks: a metric of theirs, its
            direction from the catalogue (a rise of ``mae`` is a degradation; see
            `mlmkit.services.monitor.task_degradation`). Default per task: ``accuracy``
            (binary, multiclass), ``mae`` (regression), ``flag_rate`` (score-only).
        baseline
            ``None``: the version's registered ``performance_metrics[metric]`` if present,
            else the 7 windows before the current one; a number: that value; a duration
            (``"7d"``): the span of that length ending where the current window starts; a
            ``(start, end)`` pair: that span.
        alert
            Fire a ``degradation`` alert through ``ws.alerts`` when the severity is
            ``warning`` or ``critical`` (never on ``ok`` or ``insufficient``).
        segment
            A feature name, a list of them or a filter: a polars frame, one row per segment
            (the segment features, then ``DegradationInfo.to_dict()`` without ``details``, then
            ``p_adjusted`` / ``significant_adjusted``: Holm across the segments' p-values), from
            one grouped scan per window; see `mlmkit.services.monitor.segment_verdicts`. A
            segment alerts (its own dedup key) when degraded and, with a p-value, significant
            after the correction.
        """
        ver = _version(version)
        registered = self._registered(model_name, [ver])[ver]
        span = resolve_range(window, start=start, end=end)
        if segment is not None:
            return segment_degradation(
                self.engine, self.registry.task(model_name), model_name, ver, metric, span,
                self._segment(model_name, segment), threshold=threshold_percent, alpha=alpha,
                baseline=baseline, min_labels=check_int("min_labels", min_labels, low=0),
                registered=registered, alerts=self.alerts if alert else None)
        info = _deg.degradation_info(self, model_name, ver, metric, span, threshold_percent,
                                     baseline=baseline, registered=registered, alpha=alpha,
                                     min_labels=check_int("min_labels", min_labels, low=0))
        return _deg.fire(self.alerts, info) if alert else info

    # ------------------------------------------------------------------ trend
    def get_performance_trend(self, model_name: str, version: _Versions = None,
                              window: WindowLike | None = _7D, interval: WindowLike = "1h", *,
                              start: datetime | None = None, end: datetime | None = None,
                              confidence: float = 0.95, use_summaries: bool = True,
                              role: str = "served", segment: object = None) -> pl.DataFrame:
        """One row per (version, bucket), empty buckets included with ``n = 0``.

        ``version`` is one version, a list of versions, or ``None`` (each version logged in
        the window). Columns: ``version, bucket, bucket_end, n, labelled, tp, fp, tn, fn,
        ...`` plus ``label_coverage``, ``accuracy`` / ``precision`` / ``recall`` /
        ``specificity`` with Wilson ``*_low`` / ``*_high``, ``f1_score``, ``brier_score``,
        ``log_loss`` and ``source``. For whole-day intervals, days whose raw rows were removed
        by retention are filled from the daily summaries
        ([`summarize_daily`][mlmkit.services.monitor.PerformanceMonitor.summarize_daily]).
        Multiclass, regression and score-only models: the columns of
        `mlmkit.services.monitor.task_trend` (no summary fill-in).
        """
        versions = self._versions(version)
        self._registered(model_name, versions)
        span = resolve_range(window, start=start, end=end, default="7d")
        step = parse_window(interval, "interval")
        if span.duration / step > 100_000:
            raise invalid("interval", "at most 100,000 buckets in the window", interval)
        confidence = check_probability("confidence", confidence, open_interval=True)
        role, task = _role(role), self.registry.task(model_name)
        if task is not Task.BINARY:
            return task_trend(self.engine, task, model_name, versions, span, step,
                              confidence=confidence, role=role, segment=segment)
        counts = trend_counts(self.engine, model_name, versions, span, step, role=role,
                              use_summaries=use_summaries, segment=segment)
        return rate_rows(counts, confidence=confidence)

    # ------------------------------------------------------------------ versions
    def compare_versions(self, model_name: str, versions: Sequence[VersionLike],
                         window: WindowLike | None = _24H, *, start: datetime | None = None,
                         end: datetime | None = None, metric: str | None = None,
                         min_labels: int = DEFAULT_MIN_LABELS, alpha: float = 0.05,
                         confidence: float = 0.95, segment: SegmentLike | None = None
                         ) -> pl.DataFrame:
        """One row per version (one DuckDB scan), with significance against the first.

        For count-based metrics (accuracy, precision, recall, specificity) ``p_value`` is the
        two-sided pooled two-proportion z-test of ``version - first``; ``p_adjusted`` applies
        Holm's correction across the comparisons; ``significant`` uses ``p_adjusted``.
        Multiclass, regression and score-only models: the catalogue's test of ``metric``
        (default per task as in `get_performance_degradation_info`), see
        `mlmkit.services.monitor.task_compare`. ``segment``: that frame per segment from one
        grouped scan, the segment features first, plus ``p_family`` / ``significant_family``
        (Holm across every segment's comparisons; `mlmkit.services.monitor.segment_verdicts`).
        """
        if isinstance(versions, (str, Version)) or not isinstance(versions, Iterable) \
                or not versions:
            raise invalid("versions", "a non-empty list of versions", versions)
        vers = [_version(v, "versions") for v in versions]
        self._registered(model_name, vers)
        task, span = self.registry.task(model_name), resolve_range(window, start=start, end=end)
        min_labels = check_int("min_labels", min_labels, low=0)
        alpha = check_probability("alpha", alpha, open_interval=True)
        confidence = check_probability("confidence", confidence, open_interval=True)
        if segment is not None:
            return segment_comparison_frame(
                self.engine, task, model_name, vers, span, self._segment(model_name, segment),
                metric=metric, min_labels=min_labels, alpha=alpha, confidence=confidence)
        return version_comparison(self.engine, task, model_name, vers, span, metric=metric,
                                  min_labels=min_labels, alpha=alpha, confidence=confidence)

    # ------------------------------------------------------------------ data drift
    def estimate_performance(self, model_name: str, version: VersionLike, *,
                             reference: object = "7d", current: object = "24h",
                             threshold: float = 0.5, n_simulations: int = 200,
                             calibration: str = "auto") -> TaskEstimate | EstimatedMetrics:
        """Label-free estimate of the current window's metrics, by the model's task.

        Binary: CBPE of the scores (`estimate_performance_window`); multiclass (CBPE per class,
        ``calibration``), regression (DLE), score-only (refused): `task_estimation`.
        """
        from mlmkit.services.monitor.estimate_window import estimate_performance_window

        ver = _version(version)
        self._registered(model_name, [ver, *reference_versions(reference)])
        task = self.registry.task(model_name)
        if task is not Task.BINARY:
            return task_estimate(self.engine, task, model_name, ver, reference=reference,
                                 current=current, calibration=calibration,
                                 features=self.log.store.feature_map(model_name, refresh=True),
                                 n_simulations=n_simulations)
        return estimate_performance_window(
            self.log.store, model_name, version, reference=reference, current=current,
            threshold=threshold, n_simulations=n_simulations, engine=self.engine)

    def data_drift(self, model_name: str, version: VersionLike | None = None, *,
                   reference: object = "7d", current: object = "24h", method: str = "auto",
                   features: Iterable[str] | None = None, prediction: bool = True,
                   segment: SegmentLike | None = None) -> pl.DataFrame:
        """Per-feature drift of the logged features and the prediction (``monitor.data_drift``).

        ``segment``: per segment x feature, each segment's rows those of this call on its
        rows alone (segment features not tested), from grouped reads whose number does not
        grow with the segments, plus ``p_family`` / ``significant_family`` (Holm over the
        frame); see `mlmkit.services.monitor.segment_data_drift`.
        """
        from mlmkit.services.monitor.data_drift import data_drift

        self._registered(model_name, [*([] if version is None else [_version(version)]),
                                      *reference_versions(reference)])
        if segment is not None:
            from mlmkit.services.monitor.segment_data_drift import segment_data_drift

            return segment_data_drift(
                self.log.store, self.engine, model_name, version, segment,
                reference=reference, current=current, features=features,
                prediction=prediction, method=method, task=self.registry.task(model_name).value)
        return data_drift(self.log.store, model_name, version, reference=reference,
                          current=current, features=features, prediction=prediction, method=method,
                          engine=self.engine, task=self.registry.task(model_name).value)
