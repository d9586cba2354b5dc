"""Guarded gradual rollouts of a new model version, persisted in the workspace.

A rollout sends a growing share of traffic to version B along a plan (default: the seed's
10 % → 25 % → 50 % → 75 % → 100 %). Routing is sticky
([`mlmkit.analysis.routing`][mlmkit.analysis.routing]), so a unit already on B stays
on B when the share grows. [`Rollout.advance`][mlmkit.services.experiments.Rollout.advance]
evaluates the
current step on the predictions logged since the step began:

1. **Guardrails** (any failure → automatic rollback): no open *critical* alert for the model
   since the rollout started; no sample-ratio mismatch between the arms; B's accuracy not
   significantly below A's (always-valid mSPRT by default, so calling ``advance`` often does
   not inflate false rollbacks; a drop must also exceed ``max_accuracy_drop``); optionally
   B's accuracy at or above ``min_accuracy`` once ``min_samples`` labels arrived.
2. **Hold** while the step is younger than ``min_duration`` or has fewer than
   ``min_samples`` labelled predictions per arm.
3. Otherwise **advance** to the next share; reaching the last step (share 1.0) deploys B to
   the environment through the registry and completes the rollout.

A rollback sets B's share to 0 (all traffic back on A), records a ``rollout_rollback`` event
in the deployment history (and, if B had already been deployed, rolls the registry back) and
fires a critical alert through ``ws.alerts``. Every transition is stored in
``rollout_events`` and in the registry's history (``rollout_start``, ``rollout_step``,
``rollout_rollback``, and the final ``deploy``); the state lives in DuckDB and survives
restarts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, cast

import polars as pl

from mlmkit._faults import fault_point
from mlmkit._html import dict_table
from mlmkit._jsonable import JSONObject
from mlmkit._validation import check_name, invalid
from mlmkit.analysis import routing
from mlmkit.catalogue import Task
from mlmkit.exceptions import StateError
from mlmkit.services.experiments.guardrails import ConfigValue, Guardrails, StepCounts
from mlmkit.services.experiments.steps import (
    DEFAULT_PLAN,
    PlanLike,
    RolloutDecision,
    RolloutState,
    config_at,
    parse_plan,
    state_to_dict,
)
from mlmkit.services.experiments.task_rollout import task_step_counts
from mlmkit.store import experiments as sql
from mlmkit.store.engines import WorkspaceEngine
from mlmkit.store.predictions.aggregates import confusion_counts
from mlmkit.values import ABTestConfig, TimeRange, Version, utc, utcnow

if TYPE_CHECKING:
    from mlmkit.services.alerts.service import AlertingService
    from mlmkit.store.database import Database
    from mlmkit.store.registry.duckdb import ModelRegistry

__all__ = ["DEFAULT_PLAN", "Guardrails", "Rollout", "RolloutDecision", "start_rollout"]

def start_rollout(db: Database, registry: ModelRegistry, alerts: AlertingService,
                  config: ABTestConfig, *,
                  plan: PlanLike = None,
                  guardrails: Guardrails | Mapping[str, object] | None = None,
                  environment: str = "production", now: datetime | None = None) -> Rollout:
    """Start a rollout of ``config.version_b`` replacing ``config.version_a`` in ``environment``.

    Both versions must be registered. If nothing serves the environment yet, A is deployed
    first (the baseline); if another version than A serves it,
    [`StateError`][mlmkit.exceptions.StateError] is raised. One running rollout per model at a time.
    """
    if not isinstance(config, ABTestConfig):
        raise invalid("config", "an ABTestConfig", config)
    check_name("environment", environment)
    shares = parse_plan(plan)
    rails = Guardrails.parse(guardrails)
    when = utc(now, "now") if now is not None else utcnow()
    reg = registry
    a, b = str(config.version_a), str(config.version_b)
    reg.require(config.model_name, a)
    reg.require(config.model_name, b)
    with db.transaction():  # baseline, rollout row and history event: all or nothing
        rollout_id = _start(db, reg, config, shares, rails, environment, when)
    return Rollout(db, registry, alerts, rollout_id)


def _start(db: Database, reg: ModelRegistry, config: ABTestConfig, shares: list[float],
           rails: Guardrails, environment: str, when: datetime) -> int:
    a, b = str(config.version_a), str(config.version_b)
    serving = reg.deployed_version(config.model_name, environment)
    if serving is None:
        reg.deploy(config.model_name, a, environment, reason="rollout baseline",
                   actor="mlmkit-rollout")
        fault_point("rollout.start.after_baseline")
    elif str(serving) != a:
        raise StateError(f"{environment} serves {config.model_name} {serving}, not version_a "
                         f"{a}; start the rollout from the serving version")
    state = {"model_name": config.model_name, "version_a": a, "version_b": b,
             "environment": environment, "config": config.to_dict(), "plan": shares,
             "guardrails": rails.to_dict(), "step": 1, "share_b": shares[0],
             "status": "running", "created_at": when, "step_started_at": when,
             "updated_at": when, "reason": "started"}
    reason = f"rollout started: step 1 of {len(shares)}, {shares[0]:.0%} of traffic to {b}"
    rollout_id = sql.insert_rollout(db, state, {"event_at": when, "action": "start",
                                                "step": 1, "share_b": shares[0],
                                                "reason": reason})
    fault_point("rollout.start.after_insert")
    reg.record_event(config.model_name, b, environment, "rollout_start", reason=reason,
                     actor="mlmkit-rollout")
    return rollout_id


class Rollout:
    """A persisted guarded rollout; reload any time with ``ws.ab.get_rollout(rollout_id)``.

    Serve traffic with
    [`select_version`][mlmkit.services.experiments.Rollout.select_version] (or
    ``ws.ab.assign(rollout.config, ids)``) and call
    [`advance`][mlmkit.services.experiments.Rollout.advance] periodically (e.g. from a
    scheduled job).
    """

    def __init__(self, db: Database, registry: ModelRegistry, alerts: AlertingService,
                 rollout_id: int) -> None:
        self.db = db
        self.registry = registry
        self.alerts = alerts
        self.rollout_id = int(rollout_id)
        self._state: RolloutState
        self._config: ABTestConfig | None = None
        self.refresh()

    def refresh(self) -> Rollout:
        """Reload the state from the database; returns ``self``."""
        self._state = cast("RolloutState", sql.load_rollout(self.db, self.rollout_id))
        self._config = config_at(self._state["config"], self._state["share_b"])
        return self

    # ------------------------------------------------------------------ state
    @property
    def model_name(self) -> str:
        """The model being rolled out."""
        return str(self._state["model_name"])

    @property
    def version_a(self) -> Version:
        """The version being replaced."""
        return Version.parse(self._state["version_a"])

    @property
    def version_b(self) -> Version:
        """The version being rolled out."""
        return Version.parse(self._state["version_b"])

    @property
    def environment(self) -> str:
        """The target environment."""
        return str(self._state["environment"])

    @property
    def plan(self) -> tuple[float, ...]:
        """Traffic share of B at each step."""
        return tuple(float(x) for x in self._state["plan"])

    @property
    def guardrails(self) -> Guardrails:
        """The guardrails of this rollout."""
        return Guardrails.parse(self._state["guardrails"])

    @property
    def step(self) -> int:
        """Current step (1-based)."""
        return int(self._state["step"])

    @property
    def share_b(self) -> float:
        """Current share of traffic on B (0 after a rollback)."""
        return float(self._state["share_b"])

    @property
    def status(self) -> str:
        """``"running"``, ``"completed"`` or ``"rolled_back"``."""
        return str(self._state["status"])

    @property
    def step_started_at(self) -> datetime:
        """When the current step began."""
        return self._state["step_started_at"]

    @property
    def config(self) -> ABTestConfig:
        """The experiment at the current share (use it for routing)."""
        assert self._config is not None
        return self._config

    def select_version(self, unit_id: int | str | None = None) -> Version:
        """The version serving ``unit_id`` at the current step (sticky)."""
        return routing.select_version(self.config, unit_id)

    def history(self) -> pl.DataFrame:
        """Every event of this rollout: ``event_at, action, step, share_b, reason, details``."""
        return sql.rollout_events(self.db, self.rollout_id)

    # ------------------------------------------------------------------ transitions
    def advance(self, *, now: datetime | None = None) -> RolloutDecision:
        """Check the current step and advance, hold or roll back (see the module docstring)."""
        self.refresh()
        if self.status != "running":
            raise StateError(f"rollout {self.rollout_id} is {self.status}; nothing to advance")
        when = utc(now, "now") if now is not None else utcnow()
        rails = self.guardrails
        counts, checks, failure = self._checks(when, rails)
        if failure is not None:
            return self._roll_back(failure, checks, when)
        age = (when - self.step_started_at).total_seconds()
        waiting = []
        if age < rails.min_duration_seconds:
            waiting.append(f"step age {age:.0f}s < min_duration {rails.min_duration_seconds:.0f}s")
        labelled = {"A": counts.labelled_a, "B": counts.labelled_b}
        for arm in ("A", "B") if self.share_b < 1.0 else ("B",):
            if labelled[arm] < rails.min_samples:
                waiting.append(f"{labelled[arm]} labelled predictions of "
                               f"{arm} < min_samples {rails.min_samples}")
        if waiting:
            reason = "hold: " + "; ".join(waiting)
            sql.append_event(self.db, self.rollout_id, {
                "event_at": when, "action": "hold", "step": self.step, "share_b": self.share_b,
                "reason": reason, "details": checks})
            return RolloutDecision("hold", self.step, self.share_b, reason, checks)
        return self._next_step(checks, when)

    def _checks(self, when: datetime, rails: Guardrails
                ) -> tuple[StepCounts, dict[str, ConfigValue], str | None]:
        """Run the guardrails in order: the counts, the details so far, the first failure."""
        guardrails = rails.checks()
        counts = self._step_counts(when, any(g.needs_alerts for g in guardrails))
        checks: dict[str, ConfigValue] = {
            "n_a": counts.n_a, "n_b": counts.n_b, "labelled_a": counts.labelled_a,
            "labelled_b": counts.labelled_b, "accuracy_a": counts.accuracy_a,
            "accuracy_b": counts.accuracy_b}
        for guardrail in guardrails:
            verdict = guardrail.check(counts)
            checks.update(verdict.details)
            if not verdict.passed:
                return counts, checks, verdict.reason
        return counts, checks, None

    def _step_counts(self, when: datetime, alerts: bool) -> StepCounts:
        a, b = str(self.version_a), str(self.version_b)
        start = self.step_started_at
        critical = sql.count_open_alerts(self.db, self.model_name,
                                         since=self._state["created_at"]) if alerts else 0
        task = self.registry.task(self.model_name)
        if task is not Task.BINARY:  # the task's guarded metric (see task_rollout)
            head = StepCounts(self.model_name, a, b, self.share_b, critical_alerts=critical)
            return task_step_counts(WorkspaceEngine(self.db), task, head, TimeRange(
                start, when) if when > start else None, self._state["config"]["primary_metric"])
        rows = {}
        if when > start:
            frame = confusion_counts(self.db, self.model_name, versions=[a, b],
                                     time_range=TimeRange(start, when))
            rows = {r["version"]: r for r in frame.iter_rows(named=True)}
        zero = {"n": 0, "labelled": 0, "tp": 0, "tn": 0}
        ra, rb = rows.get(a, zero), rows.get(b, zero)
        return StepCounts(self.model_name, a, b, self.share_b, n_a=int(ra["n"]),
                          n_b=int(rb["n"]), labelled_a=int(ra["labelled"]),
                          labelled_b=int(rb["labelled"]),
                          correct_a=int(ra["tp"]) + int(ra["tn"]),
                          correct_b=int(rb["tp"]) + int(rb["tn"]), critical_alerts=critical)

    def _next_step(self, checks: dict[str, ConfigValue], when: datetime) -> RolloutDecision:
        step, plan = self.step, self.plan
        new_step, share = step + 1, plan[step] if step < len(plan) else 1.0
        final = new_step >= len(plan) or share >= 1.0
        action = "complete" if final else "advance"
        reason = (f"step {new_step} of {len(plan)}: {share:.0%} of traffic to "
                  f"{self.version_b}" + (" — full deployment" if final else ""))
        changes = {"step": new_step, "share_b": share, "step_started_at": when,
                   "updated_at": when, "reason": reason,
                   "status": "completed" if final else "running"}
        reg, point = self.registry, f"rollout.{action}"
        # One transaction: the new state, its event, the history and (last step) the deploy
        with self.db.transaction():
            sql.transition_rollout(self.db, self.rollout_id, expected_step=step,
                                   changes=changes, event={"event_at": when, "action": action,
                                                           "step": new_step, "share_b": share,
                                                           "reason": reason, "details": checks})
            fault_point(f"{point}.after_transition")
            reg.record_event(self.model_name, self.version_b, self.environment, "rollout_step",
                             reason=reason, actor="mlmkit-rollout")
            if final:
                fault_point(f"{point}.after_history")
                reg.deploy(self.model_name, self.version_b, self.environment,
                           reason=f"rollout {self.rollout_id} completed", actor="mlmkit-rollout")
            fault_point(f"{point}.before_commit")
        fault_point(f"{point}.after_commit")
        self.refresh()
        return RolloutDecision(action, new_step, share, reason, checks)

    def rollback(self, *, reason: str = "manual rollback", now: datetime | None = None
                 ) -> RolloutDecision:
        """Roll back now: all traffic to A; if B was already deployed, the registry too."""
        self.refresh()
        check_name("reason", reason)
        when = utc(now, "now") if now is not None else utcnow()
        if self.status == "rolled_back":
            raise StateError(f"rollout {self.rollout_id} is already rolled back")
        return self._roll_back(reason, {}, when)

    def _roll_back(self, reason: str, checks: dict[str, ConfigValue], when: datetime
                   ) -> RolloutDecision:
        step = self.step
        text = f"rollback at step {step} ({self.share_b:.0%} on {self.version_b}): {reason}"
        changes = {"share_b": 0.0, "status": "rolled_back", "updated_at": when, "reason": text}
        event = {"event_at": when, "action": "rollback", "step": step, "share_b": 0.0,
                 "reason": text, "details": checks}
        with self.db.transaction():  # state, event and registry: all or nothing
            if self.status == "completed":
                sql.force_transition(self.db, self.rollout_id, changes=changes, event=event)
            else:
                sql.transition_rollout(self.db, self.rollout_id, expected_step=step,
                                       changes=changes, event=event)
            fault_point("rollout.rollback.after_transition")
            self._restore_a(text)
            fault_point("rollout.rollback.before_commit")
        # After the commit: a crash here leaves a rollback without its alert, which the
        # rollout-advancement job fires (reconcile(), de-duplicated by its key)
        fault_point("rollout.rollback.before_alert")
        self._alert(text, checks)
        self.refresh()
        return RolloutDecision("rollback", step, 0.0, text, checks)

    def _restore_a(self, text: str) -> None:
        reg = self.registry
        if reg.deployed_version(self.model_name, self.environment) == self.version_b:
            reg.rollback(self.model_name, self.environment, reason=text, actor="mlmkit-rollout")
        else:
            reg.record_event(self.model_name, self.version_b, self.environment,
                             "rollout_rollback", reason=text, actor="mlmkit-rollout")

    def reconcile(self) -> list[str]:
        """Repair what a crash between two steps could leave; idempotent. Returns what it did.

        Transitions are single transactions, so this is the safety net the
        ``rollout-advancement`` job runs on each model's newest finished rollout: a completed
        rollout whose deployment was never recorded deploys B; a rolled-back one whose
        completion deploy still serves rolls it back; a rollback without its alert fires it.
        """
        self.refresh()
        reg, done = self.registry, []
        mine = f"rollout {self.rollout_id} completed"
        serving = reg.history(self.model_name, environment=self.environment).filter(
            pl.col("action").is_in(["deploy", "rollback", "undeploy"]))
        deployed = serving.filter((pl.col("action") == "deploy")
                                  & pl.col("reason").str.starts_with(mine))
        if self.status == "completed" and deployed.height == 0:
            reg.deploy(self.model_name, self.version_b, self.environment,
                       reason=f"{mine} (reconciled)", actor="mlmkit-rollout")
            done.append(f"deployed {self.version_b}")
        elif self.status == "rolled_back":
            last = serving.tail(1)
            if deployed.height and last.height and \
                    last["event_id"][0] == deployed["event_id"][-1]:
                self._restore_a(f"rollout {self.rollout_id} rolled back (reconciled)")
                done.append(f"rolled {self.version_b} back")
            if not sql.alert_exists(self.db, f"rollout_rollback:{self.rollout_id}"):
                self._alert(str(self._state["reason"]), {})
                done.append("fired the rollback alert")
        return done

    def _alert(self, message: str, checks: Mapping[str, ConfigValue]) -> None:
        details = {"rollout_id": self.rollout_id, **{k: v for k, v in checks.items()
                                                     if not isinstance(v, float)
                                                     or math.isfinite(v)}}
        self.alerts.fire("rollout_rollback", "critical", self.model_name,
                            str(self.version_b), message, details,
                            dedup_key=f"rollout_rollback:{self.rollout_id}")

    # ------------------------------------------------------------------ display
    def to_dict(self) -> JSONObject:
        """JSON-friendly state."""
        return state_to_dict(self._state)

    def _repr_html_(self) -> str:
        keys = ("rollout_id", "model_name", "version_a", "version_b", "environment", "status",
                "step", "share_b", "step_started_at", "reason")
        data = self.to_dict()
        return dict_table({k: data[k] for k in keys}, title="Rollout")

    def __repr__(self) -> str:
        return (f"Rollout(id={self.rollout_id}, {self.model_name} {self.version_a}->"
                f"{self.version_b}, step {self.step}/{len(self.plan)}, share_b={self.share_b:g}, "
                f"{self.status})")

