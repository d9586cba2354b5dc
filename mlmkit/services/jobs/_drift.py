"""The data-drift step of the ``drift-detection`` job: snapshot values and the alert rule.

Alert rule (one ``data_drift`` alert per episode of a production version):

- a feature counts when its **value drift** is flagged by ``ws.monitor.data_drift`` (the
  corrected test for small samples, the effect-size threshold for large ones) **and** its
  ``effect_size`` (normalised Wasserstein for numbers, Jensen-Shannon for categories) is at
  least ``min_effect`` (default 0.1), or when its **missing share** drifted (Holm-corrected
  chi-square and Cohen's ``|h| >= 0.1``, see `mlmkit.analysis.drift.missing`);
- one such feature raises the alert; the score (prediction drift) is reported, never alerted
  on alone (a score shift without a feature shift is concept drift's business).

Why the floor: the job compares 24 hours with the 7 days before, every day, over many
features. With a p-value alone the family-wise error of 0.05 per run still means about one
false alarm every three weeks per model, and with large samples any negligible shift is
"significant". Requiring a shift of at least 0.1 reference standard deviations (JS distance
0.1 for categories) makes a false alarm need a sampling error ~6 standard errors wide at 5,000
rows a day; a 1-sd shift gives an effect of 1.0. The simulation in
``tests/services/test_drift_alerts.py`` (15 stationary days, 5,000 rows a day, 5 features:
no alert; a 1-sd shift of one feature: an alert at the next daily run) keeps this true.

De-duplication: key ``data_drift:<model>:<version>``, repeat interval ``reference + window``
(8 days by default): a shift stays visible until the reference span has absorbed it, so one
episode raises one alert, not one a day; a resolved alert lets the next episode through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from mlmkit._jsonable import JSONObject, finite
from mlmkit.store.predictions.aggregates import confusion_counts
from mlmkit.values import ModelMetadata, TimeRange

if TYPE_CHECKING:
    from mlmkit.services.jobs.bodies import JobContext
    from mlmkit.services.monitor.service import PerformanceMonitor

__all__ = ["MIN_EFFECT", "alert_features", "data_drift_step"]

#: Smallest effect size of a value drift that raises an alert.
MIN_EFFECT = 0.1


def alert_features(report: pl.DataFrame, *, min_effect: float = MIN_EFFECT) -> pl.DataFrame:
    """The feature rows of a ``data_drift`` report that the alert rule counts."""
    features = report.filter(pl.col("kind") != "prediction")
    value = pl.when(pl.col("p_value").is_not_null()) \
        .then(pl.col("adjusted_p_value") < pl.col("threshold")) \
        .otherwise(pl.col("statistic") >= pl.col("threshold")).fill_null(False)
    large = (pl.col("effect_size") >= min_effect).fill_null(False)
    return features.filter((value & large) | pl.col("missing_drift").fill_null(False))


def _logged(ctx: JobContext, meta: ModelMetadata, span: TimeRange) -> int:
    counts = confusion_counts(ctx.ws.db, meta.model_name, versions=[str(meta.version)],
                              time_range=span, by_version=False)
    return int(counts["n"][0] or 0) if counts.height else 0


def _details(flagged: pl.DataFrame, n_features: int, ref: TimeRange, span: TimeRange,
             min_effect: float) -> JSONObject:
    keep = ["kind", "method", "statistic", "adjusted_p_value", "threshold", "effect_size",
            "n_reference", "n_current", "missing_reference", "missing_current",
            "missing_effect", "missing_p_value", "missing_drift"]
    stats: JSONObject = {r["feature"]: {k: finite(r[k]) for k in keep}
                         for r in flagged.iter_rows(named=True)}
    return {"features": flagged["feature"].to_list(), "statistics": stats,
            "share": flagged.height / n_features, "min_effect": min_effect,
            "current": [span.start.isoformat(), span.end.isoformat()],
            "reference": [ref.start.isoformat(), ref.end.isoformat()]}


def data_drift_step(ctx: JobContext, monitor: PerformanceMonitor, meta: ModelMetadata,
                    ref: TimeRange, span: TimeRange, min_samples: int, *,
                    min_effect: float = MIN_EFFECT, severity: str = "warning"
                    ) -> dict[str, float | None]:
    """Snapshot values of one version's data drift; fires the ``data_drift`` alert.

    Returns ``drift_share`` (of the features, value or missingness drift), ``drifted_features``,
    ``features``, ``alert_features`` (what the alert rule counts) and ``prediction_drift``;
    nothing when the model logs no features or either side has fewer than ``min_samples``
    predictions.
    """
    if not ctx.ws.predictions_store.feature_map(meta.model_name):
        return {}
    if min(_logged(ctx, meta, ref), _logged(ctx, meta, span)) < min_samples:
        return {}
    report = monitor.data_drift(meta.model_name, meta.version,
                                reference=(ref.start, ref.end), current=(span.start, span.end))
    if report.height == 0:
        return {}
    features = report.filter(pl.col("kind") != "prediction")
    prediction = report.filter(pl.col("kind") == "prediction")
    out: dict[str, float | None] = {}
    if features.height:
        drifted = features.get_column("drift").fill_null(False).cast(pl.Int64)
        flagged = alert_features(report, min_effect=min_effect)
        out.update(drift_share=float(drifted.sum()) / features.height,
                   drifted_features=float(drifted.sum()), features=float(features.height),
                   alert_features=float(flagged.height))
        if flagged.height:
            names = flagged["feature"].to_list()
            version = str(meta.version)
            alert_id = ctx.ws.alerts.fire(
                "data_drift", severity, meta.model_name, version,
                f"data drift in {meta.model_name} {version}: {len(names)} of "
                f"{features.height} features ({', '.join(names[:10])})",
                _details(flagged, features.height, ref, span, min_effect),
                dedup_key=f"data_drift:{meta.model_name}:{version}",
                cooldown=(ref.end - ref.start) + (span.end - span.start))
            ctx.model_log(meta.model_name, version).warning(
                "data drift in %s %s: %s%s", meta.model_name, version, ", ".join(names),
                "" if alert_id is not None else " (alert already open)",
                extra={"alert_id": alert_id, "severity": severity})
    if prediction.height:
        out["prediction_drift"] = float(bool(prediction.get_column("drift")[0]))
    return out
