"""The auto-tuning job's step per production model: tune, confirm on held-out data, then act.

Tuning and judging on the same rows overstates the gain (the best of a grid on noise looks
like an improvement), so the window is split by time: the threshold is tuned on the earlier
rows (``1 - holdout`` of the labelled rows, 70 % by default) and the improvement must be
confirmed on the later ones with the same machinery (``ws.tuning.optimize_threshold`` with the
tuned threshold as the only candidate: its paired bootstrap interval must lie above 0 and the
improvement reach ``minimum_improvement``). Nothing is deployed directly: ``action="rollout"``
starts a guarded gradual rollout (canary at 10 %, advanced by the ``rollout-advancement`` job
and its guardrails), ``action="propose"`` registers the version and raises an ``info`` alert.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from mlmkit._jsonable import JSONObject, finite
from mlmkit.catalogue import Task
from mlmkit.store.predictions.aggregates import confusion_counts
from mlmkit.values import ABTestConfig, ModelMetadata, TimeRange

if TYPE_CHECKING:
    from mlmkit.services.jobs.bodies import JobContext
    from mlmkit.services.tuning.engine import AutoTuningEngine

__all__ = ["ACTIONS", "holdout_split", "tune_model"]

#: What the job does with a confirmed improvement; it never deploys directly.
ACTIONS = ("rollout", "propose")
_BUCKETS = 500  # time resolution of the split: 1/500 of the window


def holdout_split(ctx: JobContext, meta: ModelMetadata, span: TimeRange,
                  holdout: float) -> tuple[int, datetime | None]:
    """``(labelled rows in span, split time)``: about ``holdout`` of them lie after the split.

    One aggregated scan (labelled counts per 1/500 of the window). The split is ``None`` when
    it would leave either part empty.
    """
    step = max(span.duration / _BUCKETS, timedelta(seconds=1))
    counts = confusion_counts(ctx.ws.db, meta.model_name, versions=[str(meta.version)],
                              time_range=span, by_version=False, interval=step)
    counts = counts.filter(pl.col("labelled") > 0).sort("bucket")
    total = int(counts.get_column("labelled").sum()) if counts.height else 0
    if total == 0:
        return 0, None
    cumulative = counts.get_column("labelled").cum_sum().to_list()
    index = next(i for i, c in enumerate(cumulative) if c >= (1.0 - holdout) * total)
    if cumulative[index] >= total:  # no labelled row after the split
        return total, None
    split = counts.get_column("bucket")[index] + step
    return total, split if span.start < split < span.end else None


def tune_model(ctx: JobContext, tuning: AutoTuningEngine, meta: ModelMetadata,
               log: logging.LoggerAdapter, *,
               metric: str, threshold_range: tuple[float, float], step: float,
               span: TimeRange, minimum_improvement: float, min_samples: int,
               holdout: float, action: str) -> JSONObject:
    """The job item of one production version (see the module docstring)."""
    name, version = meta.model_name, str(meta.version)
    if meta.task is not Task.BINARY:  # the job's grid is in probability units
        return {"status": "skipped", "reason": f"{name} is a {meta.task} model: the job tunes "
                "binary decision thresholds only (see ws.tuning for a score-only flag)"}
    if action == "rollout" and (active := ctx.ab.active_rollout(name)) is not None:
        return {"status": "skipped", "reason": f"rollout {active.rollout_id} of {name} "
                f"({active.version_a} -> {active.version_b}) is running"}
    bumped = meta.version.bump("patch")
    if ctx.ws.registry.exists(name, bumped):
        return {"status": "skipped", "reason": f"{name} {bumped} is already registered "
                "(proposed or rolled out from this version before)"}
    labelled, split = holdout_split(ctx, meta, span, holdout)
    if labelled < min_samples:
        return {"status": "skipped", "reason": f"{labelled} labelled < {min_samples}"}
    if split is None:
        return {"status": "skipped", "reason": "the labelled rows cannot be split in time"}
    tuned = tuning.optimize_threshold(
        name, version, metric, threshold_range, step, start=span.start, end=split,
        min_labels=math.ceil(min_samples * (1.0 - holdout)),
        min_improvement_percent=minimum_improvement)
    item: JSONObject = {"improvement_percent": finite(float(tuned.improvement_percent)),
                            "optimal_threshold": tuned.optimal_threshold,
                            "current_threshold": tuned.current_threshold,
                            "split": split.isoformat(), "action": action}
    if not tuned.recommended:
        return {**item, "status": "unchanged", "reason": str(tuned.recommendation)}
    # the same comparison on the later rows, the tuned threshold as the only candidate
    threshold = tuned.optimal_threshold
    check = tuning.optimize_threshold(
        name, version, metric, (threshold, threshold), step, start=split, end=span.end,
        min_labels=math.ceil(min_samples * holdout),
        min_improvement_percent=minimum_improvement)
    item.update(holdout_improvement_percent=finite(float(check.improvement_percent)),
                holdout_interval=list(check.improvement_interval),
                holdout_labelled=check.labelled_count)
    if not check.recommended or check.optimal_threshold != threshold:
        return {**item, "status": "unchanged",
                "reason": f"held-out check refused: {check.recommendation}"}
    summary = (f"threshold {tuned.current_threshold:g} -> {threshold:g}, {metric} "
               f"{tuned.improvement_percent:+.2f}% on the tuning rows, "
               f"{check.improvement_percent:+.2f}% on the held-out rows")
    why = f"auto-tuning job run {ctx.run_id}: {summary} (split at {split.isoformat()})"
    new = tuning.apply(tuned, bump="patch", min_improvement_percent=minimum_improvement,
                       reason=why)
    item["new_version"] = str(new.version)
    if action == "rollout":
        rollout = ctx.ab.start_rollout(
            ABTestConfig.for_gradual_rollout(name, version, new.version),
            environment=meta.environment or "production", now=ctx.now)
        item.update(rollout_id=rollout.rollout_id, share_b=rollout.share_b)
        log.warning("auto-tuning %s: %s; rollout %s of %s started at %.0f%%", name, summary,
                    rollout.rollout_id, new.version, 100 * rollout.share_b)
    else:
        item["alert_id"] = ctx.ws.alerts.fire(
            "auto_tuning", "info", name, str(new.version),
            f"auto-tuning proposes {name} {new.version} (not deployed): {why}",
            {k: v for k, v in item.items() if k != "holdout_interval"},
            dedup_key=f"auto_tuning:{name}:{new.version}")
        log.warning("auto-tuning %s: %s; proposed as %s (not deployed)", name, summary,
                    new.version)
    return {**item, "status": "changed"}
