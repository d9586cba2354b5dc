"""Invariants of the multiclass, regression and score-only models of the simulation.

- every label delivered sits in the task's label column of exactly its rows, the other tasks'
  label columns stay NULL, and each row holds the prediction tracked for it;
- after each ``performance-monitoring`` run, ``get_current_metrics`` of the job's window equals
  the metrics computed straight from the window's rows (`direct_metrics`), and so does the
  snapshot the job wrote;
- at the first run of each UTC day, a regression model's breakdown by its ``segment``
  feature over the two whole days before it (read from the per-day segment sums the first
  read stores, m012, while labels keep arriving for those days) equals the metrics of each
  segment's rows, and a second read (from the stored days) equals the first
  (`check_segment_days`);
- each injected degradation raises a ``degradation`` alert, once: a later one with the same
  de-duplication key only after the alert service's cooldown (its repeat interval) or as an
  escalation of severity, never at every run of the check (`repeated_alerts`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from mlmkit.simulation.tasks import (
    close,
    direct_metrics,
    label_column,
    other_label_columns,
)

if TYPE_CHECKING:
    from mlmkit.simulation.invariants import Ledger
    from mlmkit.workspace import Workspace

__all__ = ["check_segment_days", "check_task_labels", "check_task_metrics", "repeated_alerts"]

_PREDICTED = {"multiclass": "label", "regression": "value", "score-only": "score"}


def _same(task: str, got: object, want: object) -> bool:
    if got is None or want is None:
        return got is None and want is None
    if task == "regression":
        return float(got) == float(want)  # type: ignore[arg-type]
    if task == "score-only":
        return bool(got) == bool(want)
    return str(got) == str(want)


def check_task_labels(ws: Workspace, ledger: Ledger) -> int:
    """Labels on the task's column of exactly their rows; returns the raw rows checked."""
    cfg, present = ledger.cfg, 0
    for spec in cfg.models:
        if spec.task == "binary":
            continue
        rows = ws.log.predictions(spec.name, start=cfg.start, end=cfg.end + timedelta(days=1))
        present += rows.height
        column, predicted = label_column(spec.task), _PREDICTED[spec.task]
        wrong = misplaced = mispredicted = 0
        others = [c for c in other_label_columns(spec.task) if c in rows.columns]
        for row in rows.iter_rows(named=True):
            key = (spec.name, row["prediction_id"])
            if not _same(spec.task, row[column], ledger.delivered.get(key)):
                wrong += 1
            if any(row[c] is not None for c in others):
                misplaced += 1
            if not _same(spec.task if spec.task != "score-only" else "regression",
                         row[predicted], ledger.predicted.get(key)):
                mispredicted += 1
        if wrong:
            ledger.fail("task-labels", f"{spec.name} ({spec.task}): {wrong} rows carry a "
                        f"{column} other than the label delivered for them")
        if misplaced:
            ledger.fail("task-labels", f"{spec.name} ({spec.task}): {misplaced} rows carry a "
                        f"label in another task's column ({', '.join(others)})")
        if mispredicted:
            ledger.fail("task-labels", f"{spec.name} ({spec.task}): {mispredicted} rows hold "
                        f"a {predicted} other than the one tracked")
    return present


def _monitor_values(result: Any) -> dict[str, float | None]:
    data = result.to_dict() if hasattr(result, "to_dict") else {}
    out: dict[str, float | None] = {}
    for name, value in data.items():
        try:
            out[name] = None if value is None else float(value)
        except (TypeError, ValueError):
            continue
    return out


def check_task_metrics(ws: Workspace, ledger: Ledger, fire: datetime,
                       window: timedelta = timedelta(hours=1)) -> None:
    """After a ``performance-monitoring`` run at ``fire``: monitor and snapshot vs the rows."""
    from mlmkit.services.jobs.runner import snapshots

    start, end = fire - window, fire
    written = snapshots(ws, job="performance-monitoring")
    for spec in ledger.cfg.models:
        if spec.task == "binary":
            continue
        version = str(ws.registry.deployed_version(spec.name, "production"))
        rows = ws.log.predictions(spec.name, version, start=start, end=end)
        want = direct_metrics(spec.task, rows)
        got = _monitor_values(ws.monitor.get_current_metrics(
            spec.name, version, start=start, end=end, ci=False))
        ledger.task_metric_checks += 1
        for metric in want:  # every metric the oracle computes from the rows
            if not close(got.get(metric), want[metric]):
                ledger.fail("task-metrics", f"{fire:%Y-%m-%d %H:%M} {spec.name} "
                            f"({spec.task}) get_current_metrics {metric}={got.get(metric)} "
                            f"!= {want.get(metric)} from the rows")
        mine = written.filter(pl.col("model_name") == spec.name, pl.col("version") == version,
                              pl.col("created_at") == fire)
        if mine.height == 0:
            ledger.fail("task-snapshots", f"{fire:%Y-%m-%d %H:%M} performance-monitoring "
                        f"wrote no snapshot of {spec.name} ({spec.task})")
            continue
        stored = dict(zip(mine["metric"].to_list(), mine["value"].to_list(), strict=True))
        for metric in want:
            if not close(stored.get(metric), want[metric]):
                ledger.fail("task-snapshots", f"{fire:%Y-%m-%d %H:%M} {spec.name} "
                            f"({spec.task}) snapshot {metric}={stored.get(metric)} != "
                            f"{want[metric]} from the rows")


def check_segment_days(ws: Workspace, ledger: Ledger, fire: datetime) -> None:
    """At the first run of a UTC day: regression segments of the two days before it vs rows."""
    end = fire.replace(hour=0, minute=0, second=0, microsecond=0)
    if ledger.segment_days_until is not None and ledger.segment_days_until >= end:
        return
    ledger.segment_days_until = end
    start = end - timedelta(days=2)
    for spec in ledger.cfg.models:
        if spec.task != "regression":
            continue
        version = str(ws.registry.deployed_version(spec.name, "production"))
        rows = ws.log.predictions(spec.name, version, start=start, end=end)
        if not rows.height:  # (the first day: nothing logged before it)
            continue
        reads = [ws.monitor.get_current_metrics(spec.name, version, start=start, end=end,
                                                segment="segment", ci=False, min_labels=0)
                 for _ in range(2)]  # the second from the days the first stored
        if not reads[0].equals(reads[1]):
            ledger.fail("segment-days", f"{fire:%Y-%m-%d} {spec.name}: a second segmented "
                        "read of the same days differs from the first")
        for row in reads[0].iter_rows(named=True):
            key = row["segment"]
            part = rows.filter(pl.col("segment").is_null() if key is None
                               else pl.col("segment") == key)
            ledger.segment_day_checks += 1
            for metric, want in direct_metrics(spec.task, part).items():
                if not close(row.get(metric), want):
                    ledger.fail("segment-days", f"{fire:%Y-%m-%d} {spec.name} segment {key} "
                                f"{metric}={row.get(metric)} != {want} from the rows")
        if reads[0].height != rows["segment"].n_unique():
            ledger.fail("segment-days", f"{fire:%Y-%m-%d} {spec.name}: {reads[0].height} "
                        f"segment rows for {rows['segment'].n_unique()} segments")


_SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def repeated_alerts(hits: pl.DataFrame, cooldown: timedelta) -> list[str]:
    """Alerts of one episode that repeat an earlier one too soon.

    Too soon: the same ``dedup_key``, less than ``cooldown`` after it and no escalation of its
    severity (what the alert service promises).
    """
    out = []
    last: dict[str, tuple[datetime, int]] = {}
    for key, created, severity, alert_id in hits.sort("created_at").select(
            "dedup_key", "created_at", "severity", "alert_id").iter_rows():
        level = _SEVERITY.get(str(severity), 0)
        if key in last and created - last[key][0] < cooldown and level <= last[key][1]:
            out.append(f"alert {alert_id} ({key}, {severity}) {created - last[key][0]} after "
                       "the previous one")
        last[key] = (created, max(level, last.get(key, (created, 0))[1]))
    return out
