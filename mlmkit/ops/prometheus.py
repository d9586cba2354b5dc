"""Prometheus exposition of a workspace: a custom collector read fresh on every scrape.

Each scrape opens the workspace file, runs a handful of small aggregate queries and closes it
again (≈ tens of milliseconds), so the exporter never holds the DuckDB lease between scrapes
and a notebook or a job can use the same file. Exposed families (all gauges):

=============================================== ==============================================
metric                                          labels / meaning
=============================================== ==============================================
``mlmkit_model_accuracy_ratio``                 model, version, environment; over ``window``
``mlmkit_model_precision_ratio``                idem
``mlmkit_model_recall_ratio``                   idem
``mlmkit_model_f1_ratio``                       idem
``mlmkit_model_label_coverage_ratio``           labelled / logged predictions in the window
``mlmkit_model_predictions``                    predictions logged in the window
``mlmkit_model_labelled_predictions``           of which labelled
``mlmkit_model_traffic_share_ratio``            share of the model's served traffic (rollouts)
``mlmkit_model_label_delay_seconds``            median prediction-to-label delay (window's labels)
``mlmkit_model_drift_share_ratio``              latest drift-detection snapshot
``mlmkit_model_open_alerts``                    model, version, severity
``mlmkit_model_verdict``                        model, version, environment, severity; 0/1/2
``mlmkit_model_metric``                         model, version, environment, metric; see below
``mlmkit_rollout_traffic_share_ratio``          configured share of each arm of a rollout
``mlmkit_job_last_success_timestamp_seconds``   job
``mlmkit_job_last_run_timestamp_seconds``       job
``mlmkit_job_last_duration_seconds``            job
``mlmkit_job_last_run_failed``                  job; 1 when the last run was not ``ok``
``mlmkit_newest_prediction_timestamp_seconds``  newest logged prediction
``mlmkit_workspace_up``                         1 when the workspace could be read
``mlmkit_scrape_duration_seconds``              time this collection took
=============================================== ==============================================

``mlmkit_model_last_prediction_timestamp_seconds`` (model, version, environment) is the Unix
time of the version's newest prediction in the window (stale traffic alerts).
A ratio with no labelled data (0/0) is omitted rather than exported as NaN.

The ``*_ratio`` families above are the binary task's. A multiclass, regression or score-only
model's window metrics (``ws.monitor.get_current_metrics`` over ``window``) are exported as
``mlmkit_model_metric{model, version, environment, metric}``, one sample per metric the
catalogue lists for its task: multiclass ``accuracy``, ``log_loss``, ``f1_macro``,
``precision_macro``, ``recall_macro``, ``f1_weighted``, ``roc_auc_ovr`` (the last two with
probabilities); regression ``mae``, ``rmse``, ``mape``, ``r2``; score-only ``mean_score`` and
``flag_rate``. An undefined value (no labels, MAPE with only zero actuals) is omitted. Their
``mlmkit_model_labelled_predictions`` and ``mlmkit_model_label_coverage_ratio`` count the
task's own label column (class label, numeric actual).
[`generate_metrics`][mlmkit.ops.generate_metrics],
[`write_textfile`][mlmkit.ops.write_textfile] and ``mlmkit serve`` write the text format
themselves, so they work on the core install; ``prometheus_client`` (``pip install 'mlmkit[ops]'``)
is needed only to put [`MlmkitCollector`][mlmkit.ops.MlmkitCollector] in a registry of
your own (`make_registry`).
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import polars as pl

from mlmkit._lazy import require
from mlmkit.catalogue import Significance, Task, Use, select
from mlmkit.exceptions import MlmkitError, NotFoundError
from mlmkit.ops._access import short_db
from mlmkit.ops._exposition import GaugeFamily, exposition, write_atomically
from mlmkit.store import jobs as _sql
from mlmkit.store.database import Database
from mlmkit.values import WindowLike, parse_window, utcnow

__all__ = ["MlmkitCollector", "generate_metrics", "make_registry", "read_exposition_data",
           "write_textfile"]

logger = logging.getLogger("mlmkit.ops.prometheus")

_MODEL_LABELS = ["model", "version", "environment"]
# (gauge key, catalogue metric): the headline metrics; F1's gauge keeps its published name
_RATIOS = tuple(({"f1_score": "f1"}.get(m, m), m) for m in select(use=Use.HEADLINE))
# volumes with gauges of their own
_VOLUMES = frozenset(select(test=Significance.NONE)) | {"label_coverage"}


def _prometheus() -> Any:
    return require("prometheus_client", "ops")


class MlmkitCollector:
    """A ``prometheus_client`` collector reading a workspace file on each `collect`.

    Parameters
    ----------
    path
        The workspace file (never created or migrated by the collector).
    window
        Window of the model performance gauges (default ``"1h"``).
    lock_timeout
        Seconds to wait for the file when another process holds it.
    """

    def __init__(self, path: str | os.PathLike[str], *, window: WindowLike = "1h",
                 lock_timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self.window = parse_window(window)
        self.lock_timeout = lock_timeout

    def describe(self) -> list[Any]:
        """Nothing up front: families depend on the workspace content."""
        return []

    def _read(self) -> dict[str, Any]:
        with short_db(self.path, lock_timeout=self.lock_timeout) as db:
            return read_exposition_data(db, self.window)

    def collect(self) -> Iterator[Any]:
        """Yield the metric families (``mlmkit_workspace_up`` 0 when the file is unreadable)."""
        _prometheus()
        from prometheus_client.core import GaugeMetricFamily

        yield from self.families(GaugeMetricFamily)

    def families(self, gauge: Any = GaugeFamily) -> Iterator[Any]:
        """The families built with ``gauge`` (a ``GaugeMetricFamily``-like class).

        The default, `mlmkit.ops._exposition.GaugeFamily`, needs no prometheus_client.
        """
        started = time.perf_counter()
        up = gauge("mlmkit_workspace_up", "1 when the workspace file could be read")
        try:
            data = self._read()
        except (MlmkitError, OSError) as err:
            logger.warning("scrape of %s failed: %s", self.path, err)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from _model_families(gauge, data["counts"], self.window, data.get("tasks", {}))
        yield from _task_family(gauge, data["counts"], data.get("tasks", {}))
        yield from _drift_family(gauge, data["drift"])
        yield from _alert_family(gauge, data["alerts"])
        yield from _verdict_family(gauge, data["verdicts"])
        yield from _rollout_family(gauge, data["rollouts"])
        yield from _job_families(gauge, data["jobs"])
        newest = gauge("mlmkit_newest_prediction_timestamp_seconds",
                       "Unix time of the newest logged prediction")
        if data["newest"] is not None:
            newest.add_metric([], data["newest"].timestamp())
        yield newest
        took = gauge("mlmkit_scrape_duration_seconds", "Seconds this collection took")
        took.add_metric([], time.perf_counter() - started)
        yield took


def read_exposition_data(db: Database, window: timedelta) -> dict[str, Any]:
    """The few aggregate queries behind the exposition, on an open ``db`` (one read)."""
    now = utcnow()
    counts = _sql.live_counts(db, now - window, now)
    return {
        "counts": counts,
        "tasks": _task_metrics(db, counts, window, now),
        "alerts": _sql.open_alert_counts(db),
        "jobs": _sql.job_summary(db),
        "drift": _sql.snapshots(db, job="drift-detection", latest=True),
        "newest": _sql.newest_prediction(db),
        "rollouts": _sql.running_rollouts(db),
        "verdicts": _verdicts(db),
    }


def _verdicts(db: Database) -> list[Any]:
    """The verdict of every production model (the same rules as the alerts and the report)."""
    from mlmkit.services.monitor import model_verdicts
    from mlmkit.workspace import Workspace

    return model_verdicts(Workspace(db))


def _task_metrics(db: Database, counts: pl.DataFrame, window: timedelta, now: Any
                  ) -> dict[tuple[str, str], dict[str, float]]:
    """(model, version) -> {metric: value, "labelled_count": n} of the non-binary models."""
    from mlmkit.workspace import Workspace

    ws = Workspace(db)
    out: dict[tuple[str, str], dict[str, float]] = {}
    tasks = {name: ws.registry.task(name) for name in set(counts["model_name"].to_list())}
    for model, version in counts.select("model_name", "version").unique().iter_rows():
        task = tasks[model]
        if task is Task.BINARY:
            continue
        try:
            m = ws.monitor.get_current_metrics(model, version, None, start=now - window,
                                               end=now, min_labels=0, bins=1000)
        except NotFoundError:  # traffic of a version nobody registered
            continue
        d = m.to_dict()
        values = {"labelled_count": float(m.labelled_count)}
        for name in select(task=task):
            v = d.get(name)
            if name not in _VOLUMES and isinstance(v, int | float) and math.isfinite(v):
                values[name] = float(v)
        out[(model, version)] = values
    return out


def _task_family(gauge: Any, counts: pl.DataFrame,
                 tasks: dict[tuple[str, str], dict[str, float]]) -> Iterator[Any]:
    fam = gauge("mlmkit_model_metric",
                "window metric of a multiclass, regression or score-only model (label metric)",
                labels=[*_MODEL_LABELS, "metric"])
    for model, version, env in counts.select("model_name", "version", "environment").rows():
        for name, value in tasks.get((model, version), {}).items():
            if name != "labelled_count":
                fam.add_metric([model, version, env, name], value)
    yield fam


def _verdict_family(gauge: Any, verdicts: list[Any]) -> Iterator[Any]:
    fam = gauge("mlmkit_model_verdict",
                "verdict per production model: 0 ok, 1 warning, 2 critical (label severity)",
                labels=[*_MODEL_LABELS, "severity"])
    for v in verdicts:
        fam.add_metric([v.model_name, v.version, v.environment, v.severity],
                       float(("ok", "warning", "critical").index(v.severity)))
    yield fam


def _model_families(gauge: Any, counts: pl.DataFrame, window: timedelta,
                    tasks: dict[tuple[str, str], dict[str, float]]) -> Iterator[Any]:
    from mlmkit.analysis.metrics.binary import (
        metrics_from_counts,  # scipy: imported on first scrape
    )

    span = f" over the last {window.total_seconds():g} s"
    fams = {key: gauge(f"mlmkit_model_{key}_ratio", f"{key} of labelled predictions{span}",
                       labels=_MODEL_LABELS) for key, _ in _RATIOS}
    coverage = gauge("mlmkit_model_label_coverage_ratio",
                     f"labelled / logged predictions{span}", labels=_MODEL_LABELS)
    samples = gauge("mlmkit_model_predictions", f"predictions logged{span}",
                    labels=_MODEL_LABELS)
    labelled = gauge("mlmkit_model_labelled_predictions", f"labelled predictions{span}",
                     labels=_MODEL_LABELS)
    share = gauge("mlmkit_model_traffic_share_ratio",
                  f"share of the model's served predictions{span}", labels=_MODEL_LABELS)
    newest = gauge("mlmkit_model_last_prediction_timestamp_seconds",
                   f"Unix time of the version's newest prediction{span}", labels=_MODEL_LABELS)
    delay = gauge("mlmkit_model_label_delay_seconds",
                  f"median seconds from prediction to label, labelled predictions{span}",
                  labels=_MODEL_LABELS)
    totals = counts.group_by("model_name").agg(pl.col("n").sum().alias("total"))
    total = dict(totals.iter_rows())
    for row in counts.iter_rows(named=True):
        labels = [row["model_name"], row["version"], row["environment"]]
        task = tasks.get((row["model_name"], row["version"]))
        if task is not None:  # the task's own label column
            row["labelled"] = int(task["labelled_count"])
        samples.add_metric(labels, float(row["n"]))
        labelled.add_metric(labels, float(row["labelled"]))
        if row["n"]:
            coverage.add_metric(labels, row["labelled"] / row["n"])
        if total.get(row["model_name"]):
            share.add_metric(labels, row["n"] / total[row["model_name"]])
        if row["last_ts"] is not None:
            newest.add_metric(labels, row["last_ts"].timestamp())
        if row["label_delay_s"] is not None:
            delay.add_metric(labels, float(row["label_delay_s"]))
        if not row["labelled"]:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = metrics_from_counts(row["tp"], row["fp"], row["tn"], row["fn"])
        for key, name in _RATIOS:
            value = float(values[name])
            if math.isfinite(value):
                fams[key].add_metric(labels, value)
    yield from fams.values()
    yield from (coverage, samples, labelled, share, newest, delay)


def _drift_family(gauge: Any, drift: pl.DataFrame) -> Iterator[Any]:
    fam = gauge("mlmkit_model_drift_share_ratio",
                "share of drifted features (or concept drift 0/1) at the last drift check",
                labels=_MODEL_LABELS)
    rows = drift.filter(pl.col("metric").is_in(["drift_share", "concept_drift"]))
    seen: set[tuple[str, str, str]] = set()
    for metric in ("drift_share", "concept_drift"):
        for row in rows.filter(pl.col("metric") == metric).iter_rows(named=True):
            key = (row["model_name"], row["version"], row["environment"])
            if key in seen or row["value"] is None or not math.isfinite(row["value"]):
                continue
            seen.add(key)
            fam.add_metric(list(key), float(row["value"]))
    yield fam


def _rollout_family(gauge: Any, rollouts: pl.DataFrame) -> Iterator[Any]:
    fam = gauge("mlmkit_rollout_traffic_share_ratio",
                "configured traffic share of each arm of a running rollout",
                labels=_MODEL_LABELS)
    for row in rollouts.iter_rows(named=True):
        env = row["environment"]
        fam.add_metric([row["model_name"], row["version_a"], env], 1.0 - row["share_b"])
        fam.add_metric([row["model_name"], row["version_b"], env], float(row["share_b"]))
    yield fam


def _alert_family(gauge: Any, alerts: pl.DataFrame) -> Iterator[Any]:
    fam = gauge("mlmkit_model_open_alerts", "alerts not yet resolved",
                labels=["model", "version", "severity"])
    for row in alerts.iter_rows(named=True):
        fam.add_metric([row["model_name"], row["version"], row["severity"]], float(row["n"]))
    yield fam


def _job_families(gauge: Any, jobs: pl.DataFrame) -> Iterator[Any]:
    success = gauge("mlmkit_job_last_success_timestamp_seconds",
                    "Unix time the job last finished with status ok", labels=["job"])
    last = gauge("mlmkit_job_last_run_timestamp_seconds", "Unix time the job last started",
                 labels=["job"])
    duration = gauge("mlmkit_job_last_duration_seconds", "Duration of the job's last run",
                     labels=["job"])
    failed = gauge("mlmkit_job_last_run_failed", "1 when the job's last run was not ok",
                   labels=["job"])
    for row in jobs.iter_rows(named=True):
        label = [row["job"]]
        if row["last_success_at"] is not None:
            success.add_metric(label, row["last_success_at"].timestamp())
        last.add_metric(label, row["last_started_at"].timestamp())
        if row["last_duration_s"] is not None:
            duration.add_metric(label, float(row["last_duration_s"]))
        failed.add_metric(label, float(row["last_status"] not in ("ok", "running")))
    yield from (success, last, duration, failed)


def make_registry(path: str | os.PathLike[str], *, window: WindowLike = "1h") -> Any:
    """A ``CollectorRegistry`` holding only a `MlmkitCollector` for ``path``."""
    pc = _prometheus()
    registry = pc.CollectorRegistry(auto_describe=False)
    registry.register(MlmkitCollector(path, window=window))
    return registry


def generate_metrics(path: str | os.PathLike[str], *, window: WindowLike = "1h") -> bytes:
    """The Prometheus text exposition of the workspace at ``path``.

    Examples
    --------
    >>> import tempfile, pathlib, mlmkit
    >>> from mlmkit.ops.prometheus import generate_metrics
    >>> db = pathlib.Path(tempfile.mkdtemp()) / "ws.duckdb"
    >>> mlmkit.open(db).close()
    >>> b"mlmkit_workspace_up 1.0" in generate_metrics(db)
    True
    """
    return exposition(MlmkitCollector(path, window=window).families())


def write_textfile(path: str | os.PathLike[str], out: str | os.PathLike[str], *,
                   window: WindowLike = "1h") -> None:
    """Write the exposition to ``out`` atomically (node-exporter's textfile collector).

    Point node-exporter at the directory (``--collector.textfile.directory``) and name the
    file ``*.prom``; run this from cron or after each job.
    """
    write_atomically(out, generate_metrics(path, window=window))
