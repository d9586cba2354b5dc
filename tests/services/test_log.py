"""The prediction log: track, batches, delayed labels, validation, retention."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlmkit
from mlmkit import DuplicateError, NotFoundError, ValidationError

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def frame(n: int = 100, seed: int = 0, **extra) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    data = {
        "model_name": ["m"] * n,
        "version": ["1.0.0"] * n,
        "prediction": score >= 0.5,
        "score": score,
        "actual": rng.random(n) < score,
        "prediction_id": [f"p{seed}-{i}" for i in range(n)],
        "timestamp": [T0 + timedelta(minutes=i) for i in range(n)],
        "qty": rng.normal(size=n),
        "kind": rng.choice(["a", "b"], n),
    }
    data.update(extra)
    return pl.DataFrame(data)


def test_track_single_roundtrip(ws_file):
    pid = ws_file.log.track("m", "1.0.0", True, actual=False, confidence=0.8,
                            features={"qty": 3, "kind": "x"}, unit_id=7, timestamp=T0)
    rows = ws_file.log.predictions("m")
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert row["prediction_id"] == pid and row["prediction"] is True and row["actual"] is False
    assert row["score"] == pytest.approx(0.8) and row["confidence"] == pytest.approx(0.8)
    assert row["qty"] == 3.0 and row["kind"] == "x" and row["unit_id"] == "7"
    assert row["ts"] == T0
    pid2 = ws_file.log.track("m", "1.0.0", False, confidence=0.9)
    assert ws_file.log.predictions("m").filter(pl.col("prediction_id") == pid2)["score"][0] == \
        pytest.approx(0.1)


@pytest.mark.parametrize("kind", ["polars", "pandas", "pyarrow", "dict"])
def test_track_batch_accepts_frame_kinds(ws_mem, kind):
    df = frame(50)
    data = {"polars": df, "pandas": df.to_pandas(), "pyarrow": df.to_arrow(),
            "dict": df.to_dict(as_series=False)}[kind]
    assert ws_mem.log.track_batch(data) == 50
    back = ws_mem.log.predictions("m")
    assert back.height == 50
    assert back.sort("prediction_id")["score"].to_list() == \
        df.sort("prediction_id")["score"].to_list()
    assert back["kind"].to_list() == df["kind"].to_list()


def test_struct_features_and_batches_without_ids(ws_mem):
    df = pl.DataFrame({"model_name": ["m", "m"], "version": ["v1.0.0", "1.0.0"],
                       "prediction": [1, 0],
                       "features": [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": "y"}]})
    assert ws_mem.log.track_batch(df) == 2
    back = ws_mem.log.predictions("m")
    assert back["version"].to_list() == ["1.0.0", "1.0.0"]
    assert sorted(back["a"].to_list()) == [1.0, 2.0]
    assert back["prediction_id"].null_count() == 2   # no ids given: none invented


def test_delayed_labels(ws_file):
    df = frame(20).drop("actual")
    ws_file.log.track_batch(df)
    assert ws_file.log.predictions("m", labelled_only=True).height == 0
    at = T0 + timedelta(days=2)
    ws_file.log.record_actuals(df["prediction_id"][:5], [True, False, 1, 0, True], at=at)
    ws_file.log.record_actual(df["prediction_id"][6], False, at=at)
    labelled = ws_file.log.predictions("m", labelled_only=True)
    assert labelled.height == 6 and labelled["labelled_at"].unique().to_list() == [at]
    with pytest.raises(NotFoundError, match="nope"):
        ws_file.log.record_actuals(["nope", df["prediction_id"][10]], [True, True])
    assert ws_file.log.predictions("m", labelled_only=True).height == 6  # all or nothing
    with pytest.raises(ValidationError, match="actuals"):
        ws_file.log.record_actuals(df["prediction_id"][:2], [True])
    with pytest.raises(ValidationError, match="actuals"):
        ws_file.log.record_actuals(df["prediction_id"][:2], [True, 3])
    with pytest.raises(ValidationError, match="prediction_ids"):
        ws_file.log.record_actuals(["x", "x"], [True, True])


def test_duplicate_ids_rejected(ws_mem):
    ws_mem.log.track_batch(frame(10))
    with pytest.raises(DuplicateError, match="p0-3"):
        ws_mem.log.track_batch(frame(10).slice(3, 2))
    with pytest.raises(DuplicateError):
        ws_mem.log.track_batch(pl.concat([frame(3, seed=5), frame(3, seed=5)]))
    with pytest.raises(DuplicateError):
        ws_mem.log.track("m", "1.0.0", True, prediction_id="p0-1")
    # the same id may be logged once per version (shadow scoring shares the label)
    shadow = frame(10).with_columns(version=pl.lit("1.1.0"), role=pl.lit("shadow"))
    assert ws_mem.log.track_batch(shadow) == 10
    ws_mem.log.record_actual("p0-1", True)
    both = ws_mem.log.predictions("m").filter(pl.col("prediction_id") == "p0-1")
    assert both["actual"].to_list() == [True, True]
    assert ws_mem.log.count() == 20


BAD_COLUMNS = {
    "score": [st.just(1.5), st.just(-0.1), st.just(float("nan"))],
    "confidence": [st.just(2.0), st.just(float("nan"))],
    "prediction": [st.just(2), st.just(None)],
    "actual": [st.just(5)],
    "version": [st.just("1.0"), st.just("latest"), st.just("")],
    "model_name": [st.just(""), st.just(" m"), st.just(None)],
    "prediction_id": [st.just(None), st.just("")],
}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=st.sampled_from(sorted(BAD_COLUMNS)), row=st.integers(0, 19), data=st.data())
def test_bad_batch_rejected_whole_naming_field(ws_mem, column, row, data):
    bad_value = data.draw(st.one_of(*BAD_COLUMNS[column]))
    df = frame(20, seed=99)
    if column == "confidence":
        df = df.with_columns(confidence=pl.lit(0.5))
    values = df[column].to_list()
    values[row] = bad_value
    df = df.with_columns(pl.Series(column, values, strict=False))
    before = ws_mem.log.count()
    with pytest.raises(ValidationError, match=column):
        ws_mem.log.track_batch(df)
    assert ws_mem.log.count() == before


@pytest.mark.parametrize("kwargs, name", [
    ({"prediction": 2}, "prediction"), ({"score": 1.2}, "score"),
    ({"confidence": -1}, "confidence"), ({"version": "x"}, "version"),
    ({"model_name": ""}, "model_name"), ({"actual": "yes"}, "actual"),
    ({"features": [1, 2]}, "features"), ({"role": "canary"}, "role"),
])
def test_track_bad_input(ws_mem, kwargs, name):
    args = {"model_name": "m", "version": "1.0.0", "prediction": True, **kwargs}
    with pytest.raises(ValidationError, match=name):
        ws_mem.log.track(args.pop("model_name"), args.pop("version"), args.pop("prediction"),
                         **args)
    assert ws_mem.log.count() == 0


def test_missing_columns_and_bad_types(ws_mem):
    with pytest.raises(ValidationError, match="missing"):
        ws_mem.log.track_batch(pl.DataFrame({"model_name": ["m"], "prediction": [True]}))
    with pytest.raises(ValidationError, match="frame must be"):
        ws_mem.log.track_batch([1, 2, 3])
    with pytest.raises(ValidationError, match="timestamp"):
        ws_mem.log.track_batch(frame(3).with_columns(timestamp=pl.lit("yesterday")))
    with pytest.raises(ValidationError, match="feature 'blob'"):
        ws_mem.log.track_batch(frame(3).with_columns(blob=pl.lit([1, 2])))
    ws_mem.log.track_batch(frame(3))
    with pytest.raises(ValidationError, match="qty"):
        ws_mem.log.track_batch(frame(3, seed=4).with_columns(qty=pl.lit("text")))
    assert ws_mem.log.count() == 3


def test_windows_and_retention(ws_mem):
    now = datetime.now(UTC)
    old = frame(10, seed=1).with_columns(timestamp=pl.lit(now - timedelta(days=40)))
    new = frame(10, seed=2).with_columns(timestamp=pl.lit(now - timedelta(hours=1)))
    ws_mem.log.track_batch(pl.concat([old, new]))
    assert ws_mem.log.predictions("m", window="24h").height == 10
    assert ws_mem.log.predictions("m", start=now - timedelta(days=41),
                                  end=now - timedelta(days=30)).height == 10
    assert ws_mem.log.apply_retention(days=30) == 10
    assert ws_mem.log.count() == 10
    with pytest.raises(ValidationError, match="days"):
        ws_mem.log.apply_retention(days=0)


def test_buffered_writer_flushes(ws_file):
    with ws_file.log.buffered(max_rows=64, max_seconds=60) as buf:
        for i in range(200):
            buf.track("m", "1.0.0", i % 3 == 0, score=(i % 10) / 10, features={"q": i})
        assert ws_file.log.count() == 192  # three full batches flushed, 8 pending
        with pytest.raises(ValidationError, match="score"):
            buf.track("m", "1.0.0", True, score=3)
    assert ws_file.log.count() == 200
    assert sorted(ws_file.log.predictions("m")["q"].to_list()) == [float(i) for i in range(200)]


def test_batch_with_pandas_datetimes_and_categoricals(ws_mem):
    df = pd.DataFrame({"model_name": "m", "version": "1.0.0", "prediction": [True, False],
                       "timestamp": pd.to_datetime(["2026-01-01 10:00", "2026-01-01 11:00"]),
                       "kind": pd.Categorical(["a", "b"])})
    assert ws_mem.log.track_batch(df) == 2
    back = ws_mem.log.predictions("m")
    assert back["ts"][0] == datetime(2026, 1, 1, 10, tzinfo=UTC)
    table = pa.table({"model_name": ["m"], "version": ["1.0.0"], "prediction": [1]})
    assert ws_mem.log.track_batch(table) == 1


def test_closed_workspace_refuses(tmp_path):
    ws = mlmkit.open(tmp_path / "c.duckdb")
    ws.close()
    ws.close()
    with pytest.raises(mlmkit.StoreError, match="closed"):
        ws.log.count()
