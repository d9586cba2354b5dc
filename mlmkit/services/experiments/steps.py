"""The steps of a rollout: its plan, its stored state and the decision taken at a step.

A plan is B's traffic share at each step (increasing, ending at 1.0); the state is the
``rollouts`` row as `mlmkit.store.experiments.load_rollout` returns it; a
[`RolloutDecision`][mlmkit.services.experiments.RolloutDecision] says what
[`advance`][mlmkit.services.experiments.Rollout.advance] (or a rollback) did.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeAlias, TypedDict

from mlmkit._html import dict_table
from mlmkit._jsonable import JSONObject, JSONValue
from mlmkit._validation import check_real, invalid
from mlmkit.services.experiments.guardrails import ConfigValue
from mlmkit.values import ABTestConfig, Version

__all__ = ["DEFAULT_PLAN", "PlanLike", "RolloutDecision", "RolloutState", "StoredConfig",
           "config_at", "parse_plan", "state_to_dict"]

DEFAULT_PLAN = (0.1, 0.25, 0.5, 0.75, 1.0)

PlanLike: TypeAlias = "Mapping[int, float] | Sequence[float] | None"
"""A plan as given: shares in order, ``{step: share}``, or ``None`` for `DEFAULT_PLAN`."""


class StoredConfig(TypedDict):
    """The experiment of a rollout as stored ([`to_dict`][mlmkit.values.ABTestConfig.to_dict])."""

    model_name: str
    version_a: str
    version_b: str
    traffic_split_a: float
    primary_metric: str
    minimum_improvement: float
    significance_level: float


class RolloutState(TypedDict):
    """One ``rollouts`` row: JSON columns decoded, times aware UTC."""

    rollout_id: int
    model_name: str
    version_a: str
    version_b: str
    environment: str
    config: StoredConfig
    plan: list[float]
    guardrails: JSONObject
    step: int
    share_b: float
    status: str
    created_at: datetime
    step_started_at: datetime
    updated_at: datetime
    reason: str


def config_at(stored: StoredConfig, share_b: float) -> ABTestConfig:
    """The stored experiment with ``share_b`` of the traffic on B."""
    return ABTestConfig(stored["model_name"], Version.parse(stored["version_a"]),
                        Version.parse(stored["version_b"]), round(1.0 - float(share_b), 12),
                        stored["primary_metric"], stored["minimum_improvement"],
                        stored["significance_level"])


def state_to_dict(state: RolloutState) -> JSONObject:
    """``state`` as JSON-friendly values (times as ISO 8601 text)."""
    c = state["config"]
    config: JSONObject = {
        "model_name": c["model_name"], "version_a": c["version_a"], "version_b": c["version_b"],
        "traffic_split_a": c["traffic_split_a"], "primary_metric": c["primary_metric"],
        "minimum_improvement": c["minimum_improvement"],
        "significance_level": c["significance_level"]}
    return {"rollout_id": state["rollout_id"], "model_name": state["model_name"],
            "version_a": state["version_a"], "version_b": state["version_b"],
            "environment": state["environment"], "config": config,
            "plan": list(state["plan"]), "guardrails": state["guardrails"],
            "step": state["step"], "share_b": state["share_b"], "status": state["status"],
            "created_at": state["created_at"].isoformat(),
            "step_started_at": state["step_started_at"].isoformat(),
            "updated_at": state["updated_at"].isoformat(), "reason": state["reason"]}


def parse_plan(plan: PlanLike) -> list[float]:
    """The shares of ``plan``: increasing, in (0, 1], ending at 1.0 (or raise naming ``plan``)."""
    if plan is None:
        return list(DEFAULT_PLAN)
    expectation = "increasing traffic shares in (0, 1] ending at 1.0"
    if isinstance(plan, Mapping):
        values = [plan[k] for k in sorted(plan)]
    elif isinstance(plan, Sequence) and not isinstance(plan, str):
        values = list(plan)
    else:
        raise invalid("plan", expectation, plan)
    try:
        shares = [check_real("plan share", v, low=0.0, high=1.0, low_open=True) for v in values]
    except ValueError as err:
        raise invalid("plan", expectation, plan) from err
    if not shares or shares[-1] != 1.0 or any(x >= y for x, y in itertools.pairwise(shares)):
        raise invalid("plan", expectation, plan)
    return shares


@dataclasses.dataclass(frozen=True)
class RolloutDecision:
    """What [`Rollout.advance`][mlmkit.services.experiments.Rollout.advance] did.

    ``action`` is ``"advance"``, ``"hold"``, ``"rollback"`` or ``"complete"``.
    """

    action: str
    step: int
    share_b: float
    reason: str
    checks: Mapping[str, ConfigValue] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> JSONObject:
        """JSON-friendly dict."""
        checks: dict[str, JSONValue] = dict(self.checks)
        return {"action": self.action, "step": self.step, "share_b": self.share_b,
                "reason": self.reason, "checks": checks}

    def _repr_html_(self) -> str:
        return dict_table({k: v for k, v in self.to_dict().items() if k != "checks"}
                          | {str(k): v for k, v in self.checks.items()}, title="Rollout decision")
