"""Rollout guardrails: strategy objects round-trip through their stored config."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest

import mlmkit
from mlmkit.exceptions import ValidationError
from mlmkit.services.experiments.guardrails import (
    GUARDRAILS,
    AccuracyDrop,
    CriticalAlert,
    Guardrail,
    Guardrails,
    MinAccuracy,
    SampleRatio,
    StepCounts,
    Verdict,
    make_guardrail,
    register_guardrail,
)
from mlmkit.values import ABTestConfig, ModelMetadata

from ._ab_data import T0

# one non-default configuration per registered guardrail
CONFIGS: dict[str, Guardrail] = {
    "critical_alert": CriticalAlert(),
    "srm": SampleRatio(alpha=0.01),
    "accuracy_drop": AccuracyDrop(alpha=0.1, max_drop=0.02, sequential=False),
    "min_accuracy": MinAccuracy(value=0.8, min_samples=50),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_each_guardrail_round_trips_through_its_stored_config(name: str) -> None:
    guardrail = CONFIGS[name]
    assert type(guardrail) is GUARDRAILS[name]
    stored = json.loads(json.dumps(guardrail.to_dict()))
    assert stored["guardrail"] == name
    assert make_guardrail(stored) == guardrail


def test_every_registered_guardrail_is_covered() -> None:
    assert set(GUARDRAILS) == set(CONFIGS)


def test_make_guardrail_names_the_bad_config() -> None:
    with pytest.raises(ValidationError, match=r"guardrail.*nope"):
        make_guardrail({"guardrail": "nope"})
    with pytest.raises(ValidationError, match="srm"):
        make_guardrail({"guardrail": "srm", "beta": 1})
    with pytest.raises(ValidationError, match="max_drop"):
        AccuracyDrop(max_drop=2.0)


def _counts(**kw: int | float) -> StepCounts:
    return StepCounts("m", "1.0.0", "1.1.0", 0.5, **kw)  # type: ignore[arg-type]


def test_guardrail_verdicts() -> None:
    assert not CriticalAlert().check(_counts(critical_alerts=2)).passed
    assert CriticalAlert().check(_counts()).passed
    assert not SampleRatio().check(_counts(n_a=900, n_b=100)).passed
    assert SampleRatio().check(_counts(n_a=500, n_b=510)).passed
    drop = _counts(labelled_a=1000, correct_a=950, labelled_b=1000, correct_b=700)
    assert "significantly below" in str(AccuracyDrop().check(drop).reason)
    assert AccuracyDrop(max_drop=0.5).check(drop).passed
    assert "below min_accuracy" in str(MinAccuracy(value=0.8).check(drop).reason)
    assert MinAccuracy(value=0.8, min_samples=2000).check(drop).passed


def test_guardrails_builds_the_builtin_strategies_from_its_fields() -> None:
    rails = Guardrails(alpha=0.1, max_accuracy_drop=0.02, min_accuracy=0.8, min_samples=50,
                       srm_alpha=0.01, sequential=False)
    assert rails.checks() == tuple(CONFIGS[n] for n in
                                   ("critical_alert", "srm", "accuracy_drop", "min_accuracy"))
    assert [g.name for g in Guardrails(block_on_critical_alert=False).checks()] == \
        ["srm", "accuracy_drop"]


def test_stored_format_without_extra_is_unchanged_and_old_rows_load() -> None:
    old_row = {"min_duration": "3600.0s", "min_samples": 100, "alpha": 0.05,
               "max_accuracy_drop": 0.0, "min_accuracy": None, "srm_alpha": 0.001,
               "sequential": True, "block_on_critical_alert": True}
    assert Guardrails().to_dict() == old_row
    assert Guardrails.parse(old_row) == Guardrails(min_duration="3600.0s")


@dataclasses.dataclass(frozen=True)
class _MaxRowsOnB(Guardrail):
    name: ClassVar[str] = "test_max_rows_on_b"
    limit: int = 10

    def check(self, counts: StepCounts) -> Verdict:
        if counts.n_b > self.limit:
            return Verdict(f"{counts.n_b} rows on B > {self.limit}", {"rows_b": counts.n_b})
        return Verdict(None, {"rows_b": counts.n_b})


@pytest.fixture
def max_rows_on_b() -> Iterator[type[Guardrail]]:
    register_guardrail(_MaxRowsOnB)
    yield _MaxRowsOnB
    GUARDRAILS.pop(_MaxRowsOnB.name)


def test_extra_guardrail_is_stored_and_rebuilt_by_a_reopened_workspace(
        tmp_path: Path, max_rows_on_b: type[Guardrail]) -> None:
    path = tmp_path / "ws.duckdb"
    cfg = ABTestConfig.for_gradual_rollout("n1-detector", "1.0.0", "1.1.0")
    rails = Guardrails(min_duration="3600.0s", extra=(_MaxRowsOnB(limit=3),))
    assert Guardrails.parse(json.loads(json.dumps(rails.to_dict()))) == rails
    with mlmkit.open(path) as ws:
        for v in ("1.0.0", "1.1.0"):
            ws.registry.register(ModelMetadata.for_n1_detector(v))
        rollout_id = ws.ab.start_rollout(cfg, guardrails=rails, now=T0).rollout_id
        for i in range(5):
            ws.log.track("n1-detector", "1.1.0", True, timestamp=T0 + timedelta(minutes=i + 1))
    with mlmkit.open(path) as ws:
        rollout = ws.ab.get_rollout(rollout_id)
        assert rollout.guardrails == rails
        decision = rollout.advance(now=T0 + timedelta(minutes=30))
        assert decision.action == "rollback" and "5 rows on B > 3" in decision.reason
        assert decision.checks["rows_b"] == 5

