"""The adaptive threshold controller of the tuning engine (state kept in ``tuning_runs``)."""

from __future__ import annotations

import math
import uuid

from mlmkit._validation import check_real
from mlmkit.analysis.tuning import adaptive_threshold_step
from mlmkit.exceptions import StateError
from mlmkit.services.tuning.data import load_curve, totals
from mlmkit.services.tuning.results import AdaptiveAdjustment
from mlmkit.store.database import Database
from mlmkit.store.engines import StatisticsEngine, WorkspaceEngine
from mlmkit.store.tuning_runs import insert_runs, last_run
from mlmkit.values import TimeRange


def adaptive_adjustment(db: Database, model_name: str, version: str, configured: float,
                        span: TimeRange | None, *, current_threshold: float | None,
                        max_step: float, dead_band: float, reversal_factor: float,
                        min_labels: int, persist: bool,
                        engine: StatisticsEngine | None = None) -> AdaptiveAdjustment:
    """One controller run: read the state, decide, append the decision (see the service).

    The curve comes from ``engine`` (default: ``db``); the controller's state is in ``db``.
    """
    last = last_run(db, model_name, version, "adaptive")
    previous = str(last["details"].get("last_move", "hold")) if last else "hold"
    if current_threshold is not None:
        current = check_real("current_threshold", current_threshold, low=0.0, high=1.0)
    elif last is not None and last["threshold"] is not None:
        current = float(last["threshold"])
    else:
        current = configured
    try:
        curve = load_curve(WorkspaceEngine(db) if engine is None else engine, model_name,
                           version, span, points=None)
    except StateError as err:
        fields = _hold(current, 0, f"hold: {err}")
    else:
        labelled, _ = totals(curve)
        step = adaptive_threshold_step(curve, current=current, max_step=max_step,
                                       dead_band=dead_band, last_direction=previous,
                                       reversal_factor=reversal_factor)
        fields = {"recommended_threshold": step.recommended_threshold,
                  "direction": step.direction, "fp_rate": step.fp_rate,
                  "fn_rate": step.fn_rate, "false_positives": step.fp,
                  "false_negatives": step.fn, "labelled_count": labelled,
                  "imbalance": step.imbalance, "balance_threshold": step.balance_threshold,
                  "reason": step.reason}
        if labelled < min_labels:
            fields.update(_hold(current, labelled, f"hold: only {labelled} labelled "
                                f"predictions (min_labels={min_labels}); {step.reason}"),
                          fp_rate=step.fp_rate, fn_rate=step.fn_rate,
                          false_positives=step.fp, false_negatives=step.fn)
    last_move = previous if fields["direction"] == "hold" else str(fields["direction"])
    run_id = uuid.uuid4().hex
    if persist:
        insert_runs(db, [{"run_id": run_id, "trial": 0, "kind": "adaptive",
                          "model_name": model_name, "version": version, "metric": "imbalance",
                          "value": fields["imbalance"],
                          "threshold": fields["recommended_threshold"],
                          "params": {"max_step": max_step, "dead_band": dead_band,
                                     "reversal_factor": reversal_factor},
                          "details": {"current_threshold": current, "last_move": last_move,
                                      **{k: v for k, v in fields.items()
                                         if k != "recommended_threshold"}}}])
    return AdaptiveAdjustment(model_name=model_name, version=version,
                              current_threshold=current, previous_direction=previous,
                              run_id=run_id, **fields)  # type: ignore[arg-type]


def _hold(current: float, labelled: int, reason: str) -> dict[str, object]:
    return {"recommended_threshold": current, "direction": "hold", "fp_rate": math.nan,
            "fn_rate": math.nan, "false_positives": 0, "false_negatives": 0,
            "labelled_count": labelled, "imbalance": 0.0, "balance_threshold": math.nan,
            "reason": reason}
