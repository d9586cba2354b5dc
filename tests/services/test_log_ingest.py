"""The ingest edge: scoped labels, clock skew, missing feature values, feature typing."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

import mlmkit
from mlmkit import DuplicateError, NotFoundError, ValidationError
from mlmkit.values import utcnow

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def rows(model: str, ids: list[str], version: str = "1.0.0") -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame({"model_name": [model] * n, "version": [version] * n,
                         "prediction": [True] * n, "prediction_id": ids,
                         "timestamp": [T0] * n})


# -- one validator ---------------------------------------------------------------------------
def test_single_and_batch_share_the_rules(ws_mem):
    """The same bad value fails alike in track, track_batch and the buffered writer."""
    with pytest.raises(ValidationError, match=r"features key must be a name that is not"):
        ws_mem.log.track("m", "1.0.0", True, features={"score": 0.3})
    with ws_mem.log.buffered() as buf, pytest.raises(ValidationError, match="features key"):
        buf.track("m", "1.0.0", True, features={"timestamp": 1})
    assert ws_mem.log.count() == 0


@pytest.mark.parametrize("versions", [["1.0.0"] * 4, ["1.0.0", "1.1.0", "1.1.0", "1.0.0"]])
def test_duplicate_ids_in_a_batch_name_the_id(ws_mem, versions):
    df = pl.DataFrame({"model_name": "m", "version": versions, "prediction": True,
                       "prediction_id": ["a", "b", "c", "a"]})
    with pytest.raises(DuplicateError, match="'a'"):
        ws_mem.log.track_batch(df)
    ok = df.with_columns(prediction_id=pl.Series(["a", "a", "b", "c"]))
    if versions[1] != versions[0]:  # the same id under two versions is fine
        assert ws_mem.log.track_batch(ok) == 4


# -- scoped labels (issue 12.3) --------------------------------------------------------------
def test_labels_are_scoped_to_a_model(ws_mem):
    ws_mem.log.track_batch(pl.concat([rows("fraud", ["req-1", "req-2"]),
                                      rows("churn", ["req-1"])]))
    with pytest.raises(ValidationError, match=r"model_name.*\['churn', 'fraud'\]"):
        ws_mem.log.record_actuals(["req-1"], [True])
    assert ws_mem.log.predictions("churn", labelled_only=True).height == 0
    assert ws_mem.log.record_actuals(["req-1"], [True], model_name="fraud") == 1
    assert ws_mem.log.predictions("churn", labelled_only=True).height == 0
    assert ws_mem.log.predictions("fraud", labelled_only=True).height == 1
    ws_mem.log.record_actual("req-2", False)  # one model only: no model_name needed
    with pytest.raises(NotFoundError, match=r"req-2.*churn"):
        ws_mem.log.record_actual("req-2", True, model_name="churn")


def test_labels_by_version_and_unknown_ids_skipped(ws_mem):
    ws_mem.log.track_batch(pl.concat([rows("m", ["a", "b"]), rows("m", ["a"], "1.1.0")]))
    assert ws_mem.log.record_actuals(["a"], [True], model_name="m", version="1.1.0") == 1
    with pytest.raises(NotFoundError, match="zz"):
        ws_mem.log.record_actuals(["b", "zz"], [True, True], model_name="m")
    assert ws_mem.log.predictions("m", labelled_only=True).height == 1  # nothing recorded
    result = ws_mem.log.record_actuals(["a", "b", "zz", "yy"], [1, 0, 1, 1], model_name="m",
                                       on_unknown="skip")
    assert result == 3 and result.skipped == 2  # 'a' labels both versions
    with pytest.raises(ValidationError, match="on_unknown"):
        ws_mem.log.record_actuals(["a"], [1], on_unknown="ignore")


# -- clock skew (issue 12.13) ----------------------------------------------------------------
def test_far_future_timestamps_are_refused(ws_mem):
    far = datetime(9999, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match=r"timestamp.*future"):
        ws_mem.log.track("m", "1.0.0", True, timestamp=far)
    with pytest.raises(ValidationError, match=r"timestamp \(row 1\).*future"):
        ws_mem.log.track_batch(rows("m", ["a", "b"]).with_columns(
            timestamp=pl.Series([T0, far])))
    with ws_mem.log.buffered() as buf, pytest.raises(ValidationError, match="future"):
        buf.track("m", "1.0.0", True, timestamp=far)
    assert ws_mem.log.count() == 0
    soon = utcnow() + timedelta(minutes=1)  # within the default 5-minute skew
    ws_mem.log.track("m", "1.0.0", True, timestamp=soon)
    ws_mem.log.track_batch(rows("m", ["s"]).with_columns(timestamp=pl.lit(soon)))
    assert ws_mem.log.count() == 2


def test_naive_timestamps_are_utc_in_track_and_batch(ws_mem):
    naive_future = (utcnow() + timedelta(hours=2)).replace(tzinfo=None)
    with pytest.raises(ValidationError, match="future"):
        ws_mem.log.track("m", "1.0.0", True, timestamp=naive_future)
    with pytest.raises(ValidationError, match="future"):
        ws_mem.log.track_batch(pd.DataFrame({"model_name": ["m"], "version": ["1.0.0"],
                                             "prediction": [1],
                                             "timestamp": [naive_future]}))
    naive = datetime(2026, 3, 1, 10, 0)
    ws_mem.log.track("m", "1.0.0", True, timestamp=naive)
    ws_mem.log.track_batch(pd.DataFrame({"model_name": ["m"], "version": ["1.0.0"],
                                         "prediction": [1], "timestamp": [naive]}))
    assert ws_mem.log.predictions("m")["ts"].to_list() == [naive.replace(tzinfo=UTC)] * 2


def test_clock_skew_bound_is_configurable(ws_mem):
    from mlmkit.services.log import PredictionLog

    log = PredictionLog(ws_mem.predictions_store, max_future=timedelta(days=1))
    log.track("m", "1.0.0", True, timestamp=utcnow() + timedelta(hours=2))
    with pytest.raises(ValidationError, match="max_future"):
        PredictionLog(ws_mem.predictions_store, max_future=-1)


# -- missing feature values (issue 12.14) ----------------------------------------------------
def test_nan_and_inf_features_are_stored_as_null(ws_mem):
    ws_mem.log.track("m", "1.0.0", True, features={"x": float("nan")}, timestamp=T0)
    ws_mem.log.track("m", "1.0.0", True, features={"x": np.float32("inf")}, timestamp=T0)
    ws_mem.log.track_batch(rows("m", ["a", "b", "c"]).with_columns(
        x=pl.Series([float("inf"), -float("inf"), 2.0])))
    assert ws_mem.log.predictions("m")["x"].to_list() == [None, None, None, None, 2.0]


# -- feature typing (issue 13.9) -------------------------------------------------------------
def test_case_and_hash_lookalike_features_keep_their_values(ws_mem):
    ws_mem.log.track("m", "1.0.0", True, features={"B": 1.0, "b_9d5ed678": 2.0})
    ws_mem.log.track_batch(pl.DataFrame({"model_name": ["m2"], "version": ["1.0.0"],
                                         "prediction": [True], "B": [1.0], "b": [3.0]}))
    row = ws_mem.log.predictions("m").row(0, named=True)
    assert (row["B"], row["b_9d5ed678"]) == (1.0, 2.0)
    row = ws_mem.log.predictions("m2").row(0, named=True)
    assert (row["B"], row["b"]) == (1.0, 3.0)


def test_numpy_numbers_are_numeric(ws_mem):
    ws_mem.log.track("m", "1.0.0", True, features={"n": np.int64(3), "f": np.float32(0.5)})
    ws_mem.log.track("m", "1.0.0", True, features={"n": 4, "f": np.float32(1.5)})
    back = ws_mem.log.predictions("m")
    assert back["n"].dtype == pl.Float64 and back["n"].to_list() == [3.0, 4.0]
    assert back["f"].to_list() == [0.5, 1.5]
    with pytest.raises(ValidationError, match=r"features\['n'\]|feature 'n'"):
        ws_mem.log.track("m", "1.0.0", True, features={"n": "three"})
    with pytest.raises(ValidationError, match=r"features\['o'\]"):
        ws_mem.log.track("m", "1.0.0", True, features={"o": object()})


def test_an_all_missing_first_sight_leaves_the_kind_open(ws_mem):
    ws_mem.log.track_batch(rows("m", ["a"]).with_columns(tag=pl.lit(None)))
    ws_mem.log.track("m", "1.0.0", True, features={"tag2": None})
    ws_mem.log.track_batch(rows("m", ["b"]).with_columns(tag=pl.lit("red")))
    ws_mem.log.track("m", "1.0.0", True, features={"tag2": "blue"})
    back = ws_mem.log.predictions("m")
    assert back["tag"].drop_nulls().to_list() == ["red"]
    assert back["tag2"].drop_nulls().to_list() == ["blue"]


# -- raw library errors become ValidationError (issue 13.5) ----------------------------------
def test_duplicate_and_mixed_pandas_columns_name_the_column(ws_mem):
    dup = pd.DataFrame([["m", "1.0.0", 1, 0.1, 0.2]],
                       columns=["model_name", "version", "prediction", "x", "x"])
    with pytest.raises(ValidationError, match="'x'"):
        ws_mem.log.track_batch(dup)
    mixed = pd.DataFrame({"model_name": ["m", "m"], "version": ["1.0.0"] * 2,
                          "prediction": [1, 0], "amount": pd.Series([1.5, "high"],
                                                                    dtype=object)})
    with pytest.raises(ValidationError, match="'amount'"):
        ws_mem.log.track_batch(mixed)
    lookalike = pl.DataFrame({"model_name": ["m"], "version": ["1.0.0"], "prediction": [1],
                              "Q x": [1.0], "Q_x": [2.0]})
    assert ws_mem.log.track_batch(lookalike) == 1  # distinct names, distinct columns
    assert ws_mem.log.count() == 1


def test_workspace_default_bound(tmp_path):
    with mlmkit.open(tmp_path / "w.duckdb") as ws, pytest.raises(ValidationError):
        ws.log.track("m", "1.0.0", True, timestamp=datetime(9999, 1, 1))
