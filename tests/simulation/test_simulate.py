"""The operations simulation: a few simulated days, every invariant must hold.

This is the test that runs mlmkit as production runs it (late and missing labels, shared
request ids, rollouts, episodes, every job at its cadence, scrapes, webhook deliveries).
``make soak`` runs the same for 30 simulated days.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import mlmkit
from mlmkit.simulation import SimulationConfig, simulate


def test_short_run_holds_every_invariant(tmp_path: Path) -> None:
    report = simulate(tmp_path / "sim.duckdb", SimulationConfig(days=3.0))
    print(report.summary())
    assert report.ok, report.summary()
    assert report.rows_tracked > 0 and report.deliveries > 0
    assert report.false_alarms == 0
    assert all(v is not None for v in report.detection_delay_h.values())
    assert set(report.job_runs) >= {"performance-monitoring", "degradation-check",
                                    "drift-detection", "retention", "rollout-advancement"}
    # one model of each other task ran beside the binary ones: its rows, labels and window
    # metrics held (report.ok); what waits for the jobs to learn the tasks is reported as
    # expected to fail with its reason, never skipped silently
    from mlmkit.simulation.invariants import PENDING

    assert {s.task for s in SimulationConfig().models} == {"binary", "multiclass",
                                                           "regression", "score-only"}
    assert report.task_metric_checks == 3 * 3 * 96  # every performance-monitoring run, per model
    # the regression model's 3 segments over the two whole days before each UTC day's first
    # run (the first day has none before it): stored segment days (m012) under late labels
    assert report.segment_day_checks == 2 * 3
    assert set(report.task_detection_delay_h) == {"degradation:intent", "degradation:eta",
                                                  "degradation:anomaly"}
    failing = {line.split(":")[0] for line in report.expected_failures}
    assert failing <= set(PENDING) and failing | set(report.now_hold) == set(PENDING)
    assert all(PENDING[line.split(":")[0]] in line for line in report.expected_failures)


def test_invariants_catch_a_planted_fault(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A log that stores the wrong label for one model must fail the label invariant."""
    from mlmkit.services.log import PredictionLog

    original = PredictionLog.record_actuals

    def flipped(self: PredictionLog, ids: object, actuals: object, **kw: object) -> object:
        if kw.get("model_name") == "churn":
            actuals = [not a for a in actuals]  # type: ignore[attr-defined]
        return original(self, ids, actuals, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(PredictionLog, "record_actuals", flipped)
    report = simulate(tmp_path / "sim.duckdb", SimulationConfig(days=0.5, episodes=()))
    assert not report.ok
    assert any(v.startswith("churn:") and "label" in v for v in report.violations)


def test_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    path.write_bytes(b"")
    with pytest.raises(mlmkit.ValidationError, match="path"):
        simulate(path, SimulationConfig(days=0.1, step=timedelta(minutes=30)))


def test_a_label_on_the_wrong_task_column_is_caught(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A log that stores a regression label off by one fails the per-task label invariant."""
    from mlmkit.services.log import PredictionLog

    original = PredictionLog.record_actuals

    def shifted(self: PredictionLog, ids: object, actuals: object, **kw: object) -> object:
        if kw.get("model_name") == "eta":
            actuals = [a + 1.0 for a in actuals]  # type: ignore[attr-defined]
        return original(self, ids, actuals, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(PredictionLog, "record_actuals", shifted)
    report = simulate(tmp_path / "sim.duckdb", SimulationConfig(days=0.25, episodes=()))
    assert any(v.startswith("eta (regression):") and "actual_value" in v
               for v in report.violations), report.summary()
