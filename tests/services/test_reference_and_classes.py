"""Two answers a hostile sweep found wrong without an error (issue 15's territory).

- A multiclass window with probabilities counted the classes that appear only in the
  probabilities (top-k lists name many) as classes with F1 0: F1-macro 0.67 where
  scikit-learn, the trend, compare_versions and a segment said 1.0.
- ``data_drift(reference={"version": <a typo>})`` read no reference rows and reported every
  feature as not drifting; every other call refuses an unregistered version.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import f1_score, precision_score

import mlmkit
from mlmkit import ModelMetadata, NotFoundError


def test_probability_only_classes_stay_out_of_the_averages(tmp_path) -> None:
    rng = np.random.default_rng(7)
    n = 400
    actual = rng.choice(["a", "b", "c"], n)
    predicted = np.where(rng.random(n) < 0.8, actual, rng.choice(["a", "b", "c"], n))
    probs = [{p: 0.7, "zz": 0.1, "yy": 0.1, ("a" if p != "a" else "b"): 0.1} for p in predicted]
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        ws.registry.register(ModelMetadata("mc", "supervised", "1.0.0", task="multiclass"))
        ws.log.track_batch(pl.DataFrame({"model_name": "mc", "version": "1.0.0",
                                         "prediction": predicted, "actual": actual,
                                         "store": "n", "probabilities": pl.Series(
                                             probs, strict=False)}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = ws.monitor.get_current_metrics("mc", "1.0.0", window="24h", min_labels=1)
            plain = ws.monitor.get_current_metrics("mc", "1.0.0", window="24h", min_labels=1,
                                                   scores=False)
            seg = ws.monitor.get_current_metrics("mc", "1.0.0", window="24h", min_labels=1,
                                                 segment="store")
    for average in ("macro", "weighted"):
        want = f1_score(actual, predicted, average=average)
        assert full[f"f1_{average}"] == pytest.approx(want, abs=1e-12)
        assert plain[f"f1_{average}"] == pytest.approx(want, abs=1e-12)
    assert full["precision_macro"] == pytest.approx(
        precision_score(actual, predicted, average="macro"), abs=1e-12)
    assert seg["f1_macro"].item() == pytest.approx(full["f1_macro"], abs=1e-12)
    assert full.probability_count == n and full.log_loss is not None


def test_a_reference_version_that_is_not_registered_is_refused(tmp_path) -> None:
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        for v in ("1.0.0", "1.1.0"):
            ws.registry.register(ModelMetadata("rg", "supervised", v, task="regression"))
            ws.log.track_batch(pl.DataFrame({
                "model_name": "rg", "version": v,
                "prediction": np.arange(200.0) + (50 if v == "1.1.0" else 0),
                "x": np.arange(200.0) * (3 if v == "1.1.0" else 1)}))
        found = ws.monitor.data_drift("rg", "1.1.0", reference={"version": "1.0.0"},
                                      current="24h")
        assert found["drift"].all()
        for reference in ({"version": "9.9.9"}, {"version": "9.9.9", "window": "24h"}):
            with pytest.raises(NotFoundError, match=r"9\.9\.9"):  # before: no drift, no error
                ws.monitor.data_drift("rg", "1.1.0", reference=reference, current="24h")
            with pytest.raises(NotFoundError, match=r"9\.9\.9"):
                ws.monitor.data_drift("rg", "1.1.0", reference=reference, current="24h",
                                      segment={"filter": "x >= 0"})
        with pytest.raises(NotFoundError, match=r"9\.9\.9"):
            ws.monitor.estimate_performance("rg", "1.1.0", reference={"version": "9.9.9"})


@pytest.mark.parametrize("task", ["regression", "score-only"])
def test_a_zero_baseline_judges_the_window(tmp_path, task: str) -> None:
    """A registered MAE of 0 or a flag rate of 0 (a detector that never flagged): any move is
    unbounded. Before: the relative worsening was NaN and 300 labelled rows 'insufficient'."""
    rng = np.random.default_rng(8)
    n = 300
    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        if task == "regression":
            ws.registry.register(ModelMetadata("m", "supervised", "1.0.0", task=task))
            y = rng.normal(10, 2, n)
            cols = {"prediction": y + rng.normal(0, 1, n), "actual": y}
        else:
            ws.registry.register(ModelMetadata("m", "unsupervised", "1.0.0", task=task))
            s = rng.random(n)
            cols = {"score": s, "prediction": s > 0.9}
        ws.log.track_batch(pl.DataFrame({"model_name": "m", "version": "1.0.0", **cols}))
        info = ws.monitor.get_performance_degradation_info("m", "1.0.0", window="24h",
                                                           baseline=0.0)
        stored = ws.alerts.list("m")
    assert not info.insufficient and info.severity == "critical" and info.has_degraded
    assert info.relative_drop == float("inf") and info.alert_id is not None
    assert len(stored) == 1


def test_track_takes_ids_as_track_batch_does_and_huge_integers_are_named(tmp_path) -> None:
    """``track(prediction_id=True)`` stored the id "True" (track_batch and the HTTP API refuse
    booleans and floats); an actual of 2**1100 raised OverflowError from ``check_real``."""
    from mlmkit import ValidationError

    with mlmkit.open(tmp_path / "w.duckdb") as ws:
        ws.registry.register(ModelMetadata("m", "supervised", "1.0.0"))
        ws.registry.register(ModelMetadata("rg", "supervised", "1.0.0", task="regression"))
        for bad in (True, 1.5, [1]):
            with pytest.raises(ValidationError, match="prediction_id"):
                ws.log.track("m", "1.0.0", True, prediction_id=bad)
        assert ws.log.track("m", "1.0.0", True, prediction_id=np.int64(7)) == "7"
        with pytest.raises(ValidationError, match="actual"):
            ws.log.track("rg", "1.0.0", 1.0, actual=2**1100)
        assert ws.db.execute("SELECT count(*) FROM predictions")[0][0] == 1
