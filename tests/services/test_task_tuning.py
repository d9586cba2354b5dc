"""ws.tuning per model task: score-only flag thresholds, refusals with reasons, search per task."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import f1_score, mean_absolute_error

from mlmkit import ModelMetadata
from mlmkit.exceptions import StateError, ValidationError
from mlmkit.values import utcnow


def _stamps(n: int) -> list:
    now = utcnow()
    return [now - timedelta(seconds=1 + i) for i in range(n)]


def test_score_only_flag_threshold_is_the_exact_f1_optimum(ws_file) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.random(n) < 0.1
    s = rng.normal(0.0, 1.0, n) + 2.0 * y  # unbounded anomaly scores
    ws_file.registry.register(ModelMetadata("an", "unsupervised", "1.0.0", task="score",
                                            configuration={"threshold": 2.5}))
    ws_file.log.track_batch(pl.DataFrame({"model_name": "an", "version": "1.0.0", "score": s,
                                          "prediction": s > 2.5, "actual": y,
                                          "timestamp": _stamps(n)}))
    r = ws_file.tuning.optimize_threshold("an", "1.0.0", threshold_range=None, step=None)
    best = max(f1_score(y, s >= t) for t in np.unique(s))
    assert r.optimal_value == pytest.approx(best, abs=1e-12)
    assert f1_score(y, s >= r["optimal_threshold"]) == pytest.approx(best, abs=1e-12)
    assert r.current_threshold == 2.5


@pytest.mark.parametrize(("kwargs", "field"), [({}, "step"),
                                               ({"threshold_range": None}, "step"),
                                               ({"step": None}, "threshold_range")])
def test_score_only_refuses_probability_unit_candidates(ws_file, kwargs, field) -> None:
    # a [0, 1] grid or range on unbounded anomaly scores would search the wrong values
    ws_file.registry.register(ModelMetadata("an", "unsupervised", "1.0.0", task="score"))
    ws_file.log.track_batch(pl.DataFrame({"model_name": "an", "version": "1.0.0",
                                          "score": [-3.0, 7.5], "prediction": [False, True],
                                          "actual": [False, True], "timestamp": _stamps(2)}))
    with pytest.raises(ValidationError, match=rf"{field} must be None for a score-only") as e:
        ws_file.tuning.optimize_threshold("an", "1.0.0", **kwargs)
    assert e.value.field == field
    with pytest.raises(ValidationError, match="threshold_range must be None"):  # (0.5, 0.99)
        ws_file.tuning.optimize_precision_recall_tradeoff("an", "1.0.0")
    assert ws_file.tuning.history("an").height == 0


def test_score_only_without_confirmed_anomalies_asks_for_actuals(ws_file) -> None:
    ws_file.registry.register(ModelMetadata("an", "unsupervised", "1.0.0", task="score"))
    ws_file.log.track_batch(pl.DataFrame({"model_name": "an", "version": "1.0.0",
                                          "score": [0.1, 3.0], "timestamp": _stamps(2)}))
    with pytest.raises(StateError, match="record actuals first"):
        ws_file.tuning.optimize_threshold("an", "1.0.0", threshold_range=None, step=None)


@pytest.mark.parametrize(("task", "reason"), [("multiclass", "arg-max of the class"),
                                              ("regression", "prediction is a number")])
def test_threshold_tuning_refuses_multiclass_and_regression(ws_file, task, reason) -> None:
    ws_file.registry.register(ModelMetadata("m", "supervised", "1.0.0", task=task))
    calls = [lambda: ws_file.tuning.optimize_threshold("m", "1.0.0"),
             lambda: ws_file.tuning.optimize_cost("m", "1.0.0", cost_false_positive=1.0,
                                                  cost_false_negative=5.0),
             lambda: ws_file.tuning.optimize_precision_recall_tradeoff("m", "1.0.0"),
             lambda: ws_file.tuning.adaptive_threshold_adjustment("m", "1.0.0")]
    for call in calls:
        with pytest.raises(StateError, match=rf"model_name='m': it is a {task} model; "
                                             rf".*{reason}"):
            call()
    assert ws_file.tuning.history("m").height == 0  # nothing stored


def test_regression_hyperparameter_search_minimises_mae(ws_file) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    y = 3.0 * x + rng.normal(0.0, 0.5, 400)
    ws_file.registry.register(ModelMetadata("rg", "supervised", "1.0.0", task="regression",
                                            configuration={"slope": 1.0}))
    ws_file.log.track_batch(pl.DataFrame({"model_name": "rg", "version": "1.0.0",
                                          "prediction": x, "actual": y, "features": [
                                              {"x": float(v)} for v in x],
                                          "timestamp": _stamps(400)}))

    def evaluate(params, frame):
        assert {"value", "actual_value"} <= set(frame.columns) and frame.height == 400
        xs = frame["x"].to_numpy()
        return mean_absolute_error(frame["actual_value"].to_numpy(), params["slope"] * xs)

    r = ws_file.tuning.optimize_hyperparameters("rg", "1.0.0", {"slope": [1.0, 5.0, 0.5]},
                                                "mae", evaluate=evaluate)
    assert r.best_params == {"slope": 3.0} and r.improvement_percent > 0
    assert r.best_value == pytest.approx(mean_absolute_error(y, 3.0 * x))

    def arrays(params, frame):
        return params["slope"] * frame["x"].to_numpy()

    with pytest.raises(StateError, match=r"the metric as a number for a regression model"):
        ws_file.tuning.optimize_hyperparameters("rg", "1.0.0", {"slope": [1.0, 2.0, 1.0]},
                                                "mae", evaluate=arrays)
