"""The ``metric_below`` alert rule on multiclass, regression and score-only models.

The rule takes every window metric of the catalogue and fires when the metric is worse than
its limit in the catalogue's direction: a rise of MAE above the limit (not a fall below it), a
fall of F1-macro below it. Rows are logged on a `SimulatedClock` and labelled a day later; the
values the alerts report are checked against scikit-learn on the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import f1_score, log_loss, mean_absolute_error, r2_score

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.clock import SimulatedClock, use_clock
from mlmkit.exceptions import ValidationError
from mlmkit.services.alerts import make_rule

T0 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def ws(tmp_path):
    clock = SimulatedClock(T0)
    with use_clock(clock), mlmkit.open(tmp_path / "ws.duckdb") as w:
        w.clock = clock  # type: ignore[attr-defined]
        yield w


def _log(ws, model: str, task: str, frame: dict, actuals: list) -> None:
    """Register ``model`` 1.0.0 with ``task``, log ``frame`` over 12 h, label it an hour later."""
    ws.registry.register(ModelMetadata(model, "supervised", "1.0.0", task=task))
    n = len(actuals)
    ids = [f"{model}-{i}" for i in range(n)]
    stamps = [T0 + 12 * HOUR * i / n for i in range(n)]
    ws.clock.set(T0 + 12 * HOUR)
    ws.log.track_batch(pl.DataFrame({"model_name": model, "version": "1.0.0", **frame,
                                     "prediction_id": ids, "timestamp": stamps}))
    ws.clock.advance(HOUR)
    assert ws.log.record_actuals(ids, actuals, model_name=model, version="1.0.0") == n


def _regression(ws, noise: float, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = rng.normal(50.0, 10.0, n)
    pred = y + rng.normal(0.0, noise, n)
    _log(ws, "reg", "regression", {"prediction": pred.tolist()}, y.tolist())
    return y, pred


def test_a_rule_on_mae_fires_when_mae_exceeds_the_limit_once(ws):
    y, pred = _regression(ws, noise=2.0)
    mae = mean_absolute_error(y, pred)
    ws.alerts.add_rule("metric_below", "reg", "1.0.0", metric="mae", value=mae - 0.1)
    ws.alerts.add_rule("metric_below", "reg", "1.0.0", metric="mae", value=mae + 0.1)
    fired = ws.alerts.check()
    assert len(fired) == 1  # only the limit MAE exceeds; the one above it stays quiet
    alert = ws.alerts.list("reg").row(0, named=True)
    assert alert["rule"] == "metric_below"
    assert f"mae of reg 1.0.0 is {mae:.4g} > {mae - 0.1:.4g} over 24h" == alert["message"]
    assert ws.alerts.check() == []  # de-duplicated within the cool-down
    assert ws.alerts.list("reg").height == 1


def test_a_rule_on_mae_below_its_limit_is_quiet_and_r2_fires_below(ws):
    y, pred = _regression(ws, noise=2.0)
    ws.alerts.add_rule("metric_below", "reg", "1.0.0", metric="mae", value=100.0)
    assert ws.alerts.check() == []  # MAE ~1.6 is far below 100: better, not worse
    ws.alerts.add_rule("metric_below", "reg", "1.0.0", metric="r2", value=0.999)
    assert len(ws.alerts.check()) == 1
    assert ws.alerts.list("reg")["message"][0] == (
        f"r2 of reg 1.0.0 is {r2_score(y, pred):.4g} < 0.999 over 24h")


def _multiclass(ws, n: int = 600) -> tuple[list[str], list[str], np.ndarray]:
    rng = np.random.default_rng(11)
    classes = np.array(["cat", "dog", "fox"])
    actual = rng.choice(classes, n, p=[0.5, 0.3, 0.2])
    wrong = rng.random(n) < np.where(actual == "fox", 0.6, 0.15)  # the fox class is hard
    predicted = np.where(wrong, rng.choice(classes, n), actual)
    raw = rng.dirichlet(np.ones(3), n) + 2.0 * (classes[None, :] == predicted[:, None])
    probs = raw / raw.sum(axis=1, keepdims=True)
    structs = [[{"label": c, "p": float(p)} for c, p in zip(classes, row, strict=True)]
               for row in probs]
    _log(ws, "mc", "multiclass", {"prediction": predicted.tolist(), "probabilities": structs},
         actual.tolist())
    return actual.tolist(), predicted.tolist(), probs


def test_multiclass_rules_on_f1_macro_and_log_loss_follow_their_direction(ws):
    actual, predicted, probs = _multiclass(ws)
    f1 = f1_score(actual, predicted, average="macro")
    loss = log_loss(actual, probs, labels=["cat", "dog", "fox"])
    ws.alerts.add_rule("metric_below", "mc", metric="f1_macro", value=f1 + 0.01)
    ws.alerts.add_rule("metric_below", "mc", metric="f1_macro", value=f1 - 0.01)
    ws.alerts.add_rule("metric_below", "mc", metric="log_loss", value=loss - 0.01)
    ws.alerts.add_rule("metric_below", "mc", metric="log_loss", value=loss + 0.01)
    ws.registry.deploy("mc", "1.0.0", "production")  # version=None: the production version
    assert len(ws.alerts.check()) == 2
    messages = sorted(ws.alerts.list("mc")["message"].to_list())
    assert messages == [f"f1_macro of mc 1.0.0 is {f1:.4g} < {f1 + 0.01:.4g} over 24h",
                        f"log_loss of mc 1.0.0 is {loss:.4g} > {loss - 0.01:.4g} over 24h"]
    assert ws.alerts.check() == []


def test_flag_rate_of_a_score_only_model_fires_below(ws):
    rng = np.random.default_rng(3)
    scores = rng.random(300)
    flags = scores > 0.9
    _log(ws, "anom", "score-only", {"score": scores.tolist(), "prediction": flags.tolist()},
         (flags & (rng.random(300) < 0.5)).tolist())
    ws.alerts.add_rule("metric_below", "anom", "1.0.0", metric="flag_rate", value=0.2)
    assert len(ws.alerts.check()) == 1
    assert f"is {flags.mean():.4g} < 0.2" in ws.alerts.list("anom")["message"][0]


def test_a_metric_the_model_task_does_not_report_names_metric_and_task(ws):
    _regression(ws, noise=1.0)
    ws.alerts.add_rule("metric_below", "reg", "1.0.0", metric="f1_macro", value=0.5)
    with pytest.raises(ValidationError, match=r"metric must be a window metric of reg's task "
                       r"regression \(.*mae, rmse, mape, r2\); got 'f1_macro'"):
        ws.alerts.check()


def test_unknown_metric_is_refused_when_the_rule_is_built():
    with pytest.raises(ValidationError, match=r"metric must be one of .*mae.*'nope'"):
        make_rule("metric_below", metric="nope", value=1.0)
    rule = make_rule("metric_below", metric="mae", value=2.5)
    assert rule.fires_above and rule.to_dict()["metric"] == "mae"  # type: ignore[attr-defined]
    assert not make_rule("metric_below", metric="f1_macro", value=0.5).fires_above  # type: ignore[attr-defined]
