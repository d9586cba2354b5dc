"""Run mlmkit as a deployment would, on a simulated clock, and check what must hold.

`simulate` drives a real workspace file through the public API: traffic every step
(``track``, ``track_batch`` and the buffered writer), labels arriving late or never, guarded
rollouts of a good and a bad version, a degradation and a drift episode, every job of
``mlmkit jobs`` at its cron cadence (the scheduler's plan and cron rules, the clock injected),
``/metrics`` scraped over real HTTP and parsed with prometheus_client's parser, alerts delivered
to a webhook receiver on 127.0.0.1. The invariants are checked as it runs and at the end
(`mlmkit.simulation.invariants`).
"""

from __future__ import annotations

import os
import threading
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlmkit.analysis.metrics import UndefinedMetricWarning
from mlmkit.catalogue import Task
from mlmkit.clock import SimulatedClock, use_clock
from mlmkit.ops.cron import parse_cron
from mlmkit.ops.scheduler import JobSchedule, load_schedule
from mlmkit.services.jobs.runner import run_job
from mlmkit.simulation.invariants import Ledger, SimulationReport, check_end, check_step
from mlmkit.simulation.receiver import WebhookReceiver
from mlmkit.simulation.task_checks import check_segment_days, check_task_metrics
from mlmkit.simulation.tasks import baseline_metrics, draw_task_traffic, track_kwargs
from mlmkit.simulation.world import LabelQueue, ModelSpec, SimulationConfig, draw_traffic
from mlmkit.values import ABTestConfig, ModelMetadata, ModelType, Version

if TYPE_CHECKING:
    from mlmkit.services.experiments import Rollout
    from mlmkit.workspace import Workspace

__all__ = ["simulate"]

Progress = Callable[[str], None]


def _plan(cfg: SimulationConfig, schedule: Mapping[str, object] | None
          ) -> list[JobSchedule]:
    """The scheduler's plan; retention keeps ``cfg.retention_days`` so it acts in a short run."""
    base: dict[str, object] = {"jobs": {"retention": {"options": {"days": cfg.retention_days}}}}
    plan, _ = load_schedule(schedule if schedule is not None else base)
    return plan


class _Cadence:
    """When each scheduled job next runs, by the same cron rules as ``mlmkit jobs schedule``."""

    def __init__(self, plan: list[JobSchedule], start: datetime) -> None:
        self.plan = plan
        self._cron = {item.job: parse_cron(item.cron, "UTC", name=f"jobs.{item.job}.cron")
                      for item in plan if item.interval_s is None and item.cron is not None}
        self._next: dict[str, datetime] = {}
        for item in plan:
            self._next[item.job] = self._after(item, start - timedelta(microseconds=1))

    def _after(self, item: JobSchedule, moment: datetime) -> datetime:
        if item.interval_s is not None:
            return moment + timedelta(seconds=item.interval_s)
        return self._cron[item.job].next_after(moment)  # parsed once, in __init__

    def due(self, until: datetime) -> list[tuple[datetime, JobSchedule]]:
        """Runs due before ``until``, coalesced per job (as the scheduler does), in time order."""
        runs = []
        for item in self.plan:
            fire = self._next[item.job]
            if fire < until:
                last = fire
                while fire < until:
                    last, fire = fire, self._after(item, fire)
                self._next[item.job] = fire
                runs.append((last, item))
        return sorted(runs, key=lambda r: r[0])


def _window(item: JobSchedule) -> timedelta:
    """The window the performance-monitoring job of ``item`` reads (its default: 1 h)."""
    from mlmkit.values import parse_window

    return parse_window(dict(item.options).get("window", "1h"), "window")


def _setup(ws: Workspace, cfg: SimulationConfig, receiver: WebhookReceiver) -> None:
    for spec in cfg.models:
        for version in spec.accuracy:
            if spec.task == "binary":
                ws.registry.register(ModelMetadata(
                    spec.name, ModelType.SUPERVISED, Version.parse(version),
                    configuration={"threshold": 0.5},
                    performance_metrics={"accuracy": spec.accuracy[version]}))
            else:
                ws.registry.register(ModelMetadata(
                    spec.name, ModelType.SUPERVISED, Version.parse(version), task=Task(spec.task),
                    performance_metrics=baseline_metrics(spec, version)))
        ws.registry.deploy(spec.name, spec.production, "production", reason="simulation start")
    for name, version in cfg.staging:
        ws.registry.deploy(name, version, "staging", reason="candidate")
    ws.alerts.add_webhook(receiver.url, timeout=5.0, retries=1)


def _accuracy_of(spec: ModelSpec, version: str) -> float:
    """A version's accuracy; a tuned patch version inherits that of its closest ancestor."""
    if version in spec.accuracy:
        return spec.accuracy[version]
    v = Version.parse(version)
    known = sorted((Version.parse(k), a) for k, a in spec.accuracy.items())
    below = [a for k, a in known if k <= v]
    return below[-1] if below else known[0][1]


def _log_step(ws: Workspace, rng: np.random.Generator, cfg: SimulationConfig, now: datetime,
              step: int, ledger: Ledger, labels: LabelQueue,
              task_rng: np.random.Generator) -> None:
    ids = np.array([f"req-{step}-{i}" for i in range(cfg.rows_per_step)], dtype=object)
    for spec in cfg.models:
        if spec.task != "binary":
            _log_task_step(ws, task_rng, cfg, now, spec, ids, ledger, labels)
            continue
        rollout: Rollout | None = ws.ab.active_rollout(spec.name)
        if rollout is not None:
            versions = np.array([str(rollout.select_version(u)) for u in ids], dtype=object)
        else:
            serving = ws.registry.deployed_version(spec.name, "production")
            versions = np.full(ids.size, str(serving), dtype=object)
        degraded = any(e.kind == "degradation" and e.model == spec.name
                       and now >= cfg.moment(e.at) for e in cfg.episodes)
        drifted = any(e.kind == "drift" and e.model == spec.name and now >= cfg.moment(e.at)
                      for e in cfg.episodes)
        accuracy = np.array([cfg.degraded_accuracy if degraded else _accuracy_of(spec, v)
                             for v in versions])
        frame, truth = draw_traffic(rng, cfg, spec, versions, ids, now, accuracy, drifted)
        single, buffered = frame.head(3), frame.slice(3, 17)
        for row in single.iter_rows(named=True):
            ws.log.track(row["model_name"], row["version"], row["prediction"], score=row["score"],
                         prediction_id=row["prediction_id"], timestamp=row["timestamp"],
                         features={"x1": row["x1"], "x2": row["x2"], "segment": row["segment"]})
        with ws.log.buffered(max_rows=1000) as writer:
            for row in buffered.iter_rows(named=True):
                writer.track(row["model_name"], row["version"], row["prediction"],
                             score=row["score"], prediction_id=row["prediction_id"],
                             timestamp=row["timestamp"],
                             features={"x1": row["x1"], "x2": row["x2"],
                                       "segment": row["segment"]})
        ws.log.track_batch(frame.slice(20))
        ledger.tracked(frame, truth)
        labels.add(rng, cfg, spec.name, frame, truth)


def _log_task_step(ws: Workspace, rng: np.random.Generator, cfg: SimulationConfig,
                   now: datetime, spec: ModelSpec, ids: np.ndarray, ledger: Ledger,
                   labels: LabelQueue) -> None:
    """A multiclass, regression or score-only model's step, through the binary models' paths."""
    serving = str(ws.registry.deployed_version(spec.name, "production"))
    versions = np.full(ids.size, serving, dtype=object)
    degraded = any(e.kind == "degradation" and e.model == spec.name
                   and now >= cfg.moment(e.at) for e in cfg.episodes)
    quality = np.full(ids.size, spec.degraded if degraded and spec.degraded is not None
                      else spec.accuracy[serving])
    frame, truth = draw_task_traffic(rng, cfg, spec, versions, ids, now, quality)
    for row in frame.head(3).iter_rows(named=True):
        ws.log.track(**track_kwargs(row))
    with ws.log.buffered(max_rows=1000) as writer:
        for row in frame.slice(3, 17).iter_rows(named=True):
            writer.track(**track_kwargs(row))
    ws.log.track_batch(frame.slice(20))
    ledger.tracked(frame, truth)
    labels.add(rng, cfg, spec.name, frame, truth)


def _deliver_labels(ws: Workspace, now: datetime, labels: LabelQueue, ledger: Ledger) -> None:
    for model, ids, values in labels.pop_due(now):
        changed = ws.log.record_actuals(ids, values, model_name=model, on_unknown="skip")
        ledger.labelled(model, ids, values, changed)


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:  # loopback only
        return str(response.read().decode("utf-8"))


def _start_rollouts(ws: Workspace, cfg: SimulationConfig, now: datetime) -> None:
    for name, version in cfg.staging:
        current = ws.registry.deployed_version(name, "production")
        config = ABTestConfig.for_gradual_rollout(name, str(current), version)
        ws.ab.start_rollout(config, now=now)


def simulate(path: str | os.PathLike[str], config: SimulationConfig | None = None, *,
             schedule: Mapping[str, object] | None = None,
             progress: Progress | None = None) -> SimulationReport:
    """Run the simulation on a new workspace file at ``path`` and return its report.

    ``schedule`` overrides the job plan like the scheduler's TOML file (default: the seed's
    cadences, retention shortened to ``config.retention_days``). The report's
    `ok` is true when every invariant held.
    """
    from mlmkit.ops.server import make_server
    from mlmkit.workspace import open_workspace

    cfg = config or SimulationConfig()
    file = Path(path)
    if file.exists():
        from mlmkit._validation import invalid

        raise invalid("path", "a path where no file exists yet (the simulation creates it)",
                      str(file))
    rng = np.random.default_rng(cfg.seed)
    task_rng = np.random.default_rng((cfg.seed, 15))  # the binary models' draws stay as they were
    clock = SimulatedClock(cfg.start)
    ledger = Ledger(cfg)
    labels = LabelQueue()
    cadence = _Cadence(_plan(cfg, schedule), cfg.start)
    say = progress or (lambda _msg: None)
    with use_clock(clock), WebhookReceiver() as receiver, open_workspace(file) as ws, \
            warnings.catch_warnings():
        # a multiclass window without some class's rows warns at every check: expected here
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        _setup(ws, cfg, receiver)
        server = make_server(file, port=0, window="1h")
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        metrics_url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        rollouts_at = cfg.moment(cfg.rollouts_at)
        try:
            step, now = 0, cfg.start
            while now < cfg.end:
                # jobs due in [now, now + step) run at their fire time, before the step's
                # traffic; then time moves to the end of the step and the traffic of the
                # step (timestamps inside it) is logged, and the labels due by then arrive
                for fire, item in cadence.due(now + cfg.step):
                    clock.set(max(fire, clock()))
                    ledger.job(run_job(ws, item.job, now=fire, **dict(item.options)))
                    if item.job == "performance-monitoring":
                        check_task_metrics(ws, ledger, fire, _window(item))
                        check_segment_days(ws, ledger, fire)
                if now == rollouts_at:
                    _start_rollouts(ws, cfg, clock())
                clock.set(now + cfg.step)
                _log_step(ws, rng, cfg, now, step, ledger, labels, task_rng)
                _deliver_labels(ws, now + cfg.step, labels, ledger)
                scrape = _scrape(metrics_url) if step % 4 == 3 else None
                check_step(ws, ledger, now, scrape)
                if step % 96 == 95:
                    say(f"{now:%Y-%m-%d %H:%M} rows={ledger.rows_tracked} "
                        f"alerts={len(ledger.alerts_seen(ws))} runs={len(ledger.runs)}")
                step += 1
                now += cfg.step
            ws.alerts.retry_unsent()
        finally:
            server.shutdown()
            server.server_close()
        report = check_end(ws, ledger, receiver.alerts(), labels)
    return report
