"""Ingestion per task (issue 15): multiclass, regression, score-only; binary as before."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import mlmkit
from mlmkit import ModelMetadata, NotFoundError, ValidationError

T0 = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def ws(tmp_path):
    with mlmkit.open(tmp_path / "tasks.duckdb") as ws:
        for name, task in (("mc", "multiclass"), ("rg", "regression"), ("so", "score")):
            ws.registry.register(ModelMetadata(name, "supervised", "1.0.0", task=task))
        yield ws


def stored(ws, name, *columns):
    return ws.log.predictions(name).sort("prediction_id").select(columns).rows()


# ------------------------------------------------------------------ round trips
def test_multiclass_track_batch_and_labels(ws):
    assert ws.log.task("mc") == "multiclass" and ws.log.task("unknown") == "binary"
    ws.log.track("mc", "1.0.0", "cat", probabilities={"cat": 0.7, "dog": 0.2, "eel": 0.1},
                 confidence=0.7, prediction_id="a")
    ws.log.track("mc", "1.0.0", 2, actual=1, prediction_id="b")  # ints are labels, as text
    frame = pl.DataFrame({"model_name": ["mc"] * 3, "version": "1.0.0",
                          "prediction_id": ["c", "d", "e"], "prediction": ["dog", "cat", "dog"],
                          "actual": ["dog", None, None],
                          "probabilities": [{"cat": 0.4, "dog": 0.6}, {"cat": 1.0}, None]})
    assert ws.log.track_batch(frame) == 3
    assert stored(ws, "mc", "prediction_id", "label", "actual_label", "prediction") == [
        ("a", "cat", None, None), ("b", "2", "1", None), ("c", "dog", "dog", None),
        ("d", "cat", None, None), ("e", "dog", None, None)]
    probs = dict(stored(ws, "mc", "prediction_id", "probabilities"))
    assert probs["a"] == [{"label": "cat", "p": 0.7}, {"label": "dog", "p": 0.2},
                          {"label": "eel", "p": 0.1}]
    assert probs["c"] == [{"label": "cat", "p": 0.4}, {"label": "dog", "p": 0.6}]
    assert probs["d"] == [{"label": "cat", "p": 1.0}] and probs["e"] is None
    # delayed labels: scoped and unscoped, ints become text
    assert ws.log.record_actuals(["a", "d"], ["dog", 3], model_name="mc") == 2
    ws.log.record_actual("e", "eel")
    labels = dict(stored(ws, "mc", "prediction_id", "actual_label"))
    assert labels == {"a": "dog", "b": "1", "c": "dog", "d": "3", "e": "eel"}
    assert ws.log.predictions("mc", labelled_only=True).height == 5
    audit = ws.db.execute("SELECT prediction_id, actual, actual_label FROM actuals "
                          "ORDER BY prediction_id")
    assert audit == [("a", None, "dog"), ("d", None, "3"), ("e", None, "eel")]


def test_regression_track_batch_and_labels(ws):
    ws.log.track("rg", "1.0.0", 3.5, actual=2, prediction_id="a")
    ws.log.track("rg", "1.0.0", np.float32(-1.25), prediction_id="b")
    frame = pd.DataFrame({"model_name": ["rg", "rg"], "version": ["1.0.0", "1.0.0"],
                          "prediction_id": ["c", "d"], "prediction": [10, 20],
                          "actual": [11.5, None]})
    assert ws.log.track_batch(frame) == 2
    assert ws.log.record_actuals(pl.Series(["b", "d"]), np.array([0.5, 19.0]),
                                 model_name="rg") == 2
    assert stored(ws, "rg", "prediction_id", "value", "actual_value", "prediction") == [
        ("a", 3.5, 2.0, None), ("b", -1.25, 0.5, None), ("c", 10.0, 11.5, None),
        ("d", 20.0, 19.0, None)]


def test_score_only_track_batch_and_labels(ws):
    ws.log.track("so", "1.0.0", score=-4.5, prediction_id="a")  # any finite score
    ws.log.track("so", "1.0.0", True, score=12.0, actual=False, prediction_id="b")
    table = pa.table({"model_name": ["so", "so"], "version": ["1.0.0", "1.0.0"],
                      "prediction_id": ["c", "d"], "score": [0.25, 99.0],
                      "prediction": [None, True]})
    assert ws.log.track_batch(table) == 2
    ws.log.record_actuals(["a", "d"], [True, 1], model_name="so")
    assert stored(ws, "so", "prediction_id", "score", "prediction", "actual") == [
        ("a", -4.5, None, True), ("b", 12.0, True, False), ("c", 0.25, None, None),
        ("d", 99.0, True, True)]


@pytest.mark.parametrize("shape", ["struct", "list", "map", "pandas-dicts"])
def test_probabilities_column_shapes(ws, shape):
    dicts = [{"a": 0.25, "b": 0.75}, {"a": 0.5, "b": 0.5}]
    base = {"model_name": ["mc", "mc"], "version": ["1.0.0", "1.0.0"], "prediction": ["b", "a"]}
    if shape == "struct":
        frame = pl.DataFrame({**base, "probabilities": dicts})
    elif shape == "list":
        frame = pl.DataFrame({**base, "probabilities": [
            [{"label": k, "p": v} for k, v in d.items()] for d in dicts]})
    elif shape == "map":
        frame = pa.table({**base, "probabilities": pa.array(
            [list(d.items()) for d in dicts], pa.map_(pa.string(), pa.float64()))})
    else:
        frame = pd.DataFrame({**base, "probabilities": dicts})
    assert ws.log.track_batch(frame) == 2
    got = ws.log.predictions("mc").sort("label", descending=True)["probabilities"].to_list()
    assert got == [[{"label": "a", "p": 0.25}, {"label": "b", "p": 0.75}],
                   [{"label": "a", "p": 0.5}, {"label": "b", "p": 0.5}]]


def test_buffered_writer_per_task(ws):
    with ws.log.buffered(max_rows=40) as buf:
        for i in range(100):
            buf.track("mc", "1.0.0", i % 3, actual=str((i + 1) % 3),
                      probabilities={i % 3: 0.6, (i + 1) % 3: 0.4} if i % 2 else None)
            buf.track("rg", "1.0.0", i / 2, actual=i)
            buf.track("so", "1.0.0", score=float(i), prediction=i % 5 == 0)
            buf.track("bin", "1.0.0", i % 2, score=0.5)
        with pytest.raises(ValidationError, match="prediction must be a class label"):
            buf.track("mc", "1.0.0", 1.5)
    assert [ws.log.count(m) for m in ("mc", "rg", "so", "bin")] == [100, 100, 100, 100]
    mc = ws.log.predictions("mc")
    assert set(mc["label"]) == {"0", "1", "2"} and mc["actual_label"].null_count() == 0
    assert mc["probabilities"].null_count() == 50
    assert ws.log.predictions("rg")["value"].sum() == sum(i / 2 for i in range(100))
    assert ws.log.predictions("so")["prediction"].sum() == 20


# ------------------------------------------------------------------ bad inputs
BAD_ROWS = [  # model, prediction, options, field, value shown
    ("mc", True, {}, "prediction", "True"),
    ("mc", 1.5, {}, "prediction", "1.5"),
    ("mc", "", {}, "prediction", "''"),
    ("mc", "a", {"actual": False}, "actual", "False"),
    ("mc", "a", {"probabilities": {"a": 0.5, "b": 0.4}}, "probabilities", "0.4"),
    ("mc", "c", {"probabilities": {"a": 0.5, "b": 0.5}}, "probabilities", "'c'"),
    ("mc", "a", {"probabilities": {"a": 1.5, "b": -0.5}}, "probabilities['a']", "1.5"),
    ("mc", "a", {"score": 0.3}, "score", "0.3"),
    ("rg", "3", {}, "prediction", "'3'"),
    ("rg", float("nan"), {}, "prediction", "nan"),
    ("rg", True, {}, "prediction", "True"),
    ("rg", 1.0, {"actual": float("inf")}, "actual", "inf"),
    ("rg", 1.0, {"confidence": 0.9}, "confidence", "0.9"),
    ("so", None, {}, "score", "None"),
    ("so", None, {"score": float("nan")}, "score", "nan"),
    ("so", 0.5, {"score": 1.0}, "prediction", "0.5"),
    ("so", None, {"score": 1.0, "probabilities": {"a": 1.0}}, "probabilities", "{'a': 1.0}"),
    ("bin", "cat", {}, "prediction", "'cat'"),
    ("bin", 2, {}, "prediction", "2"),
    ("bin", True, {"probabilities": {"a": 1.0}}, "probabilities", "{'a': 1.0}"),
]


@pytest.mark.parametrize(("model", "prediction", "options", "field", "shown"), BAD_ROWS)
def test_bad_rows_name_field_and_value(ws, model, prediction, options, field, shown):
    with pytest.raises(ValidationError) as err:
        ws.log.track(model, "1.0.0", prediction, **options)
    assert err.value.field == field and shown in str(err.value), str(err.value)
    with pytest.raises(ValidationError):  # the buffered writer refuses it the same way
        ws.log.buffered().track(model, "1.0.0", prediction, **options)
    assert ws.log.count() == 0


BAD_BATCHES = [  # model, columns (2 rows, the second bad), field, row, value shown
    ("mc", {"prediction": ["a", None]}, "prediction", 1, "None"),
    ("mc", {"prediction": [1.0, 2.0]}, "prediction", None, "'Float64'"),
    ("mc", {"prediction": ["a", "b"], "actual": [True, False]}, "actual", None, "'Boolean'"),
    ("mc", {"prediction": ["a", "b"], "probabilities": [{"a": 1.0}, {"a": 0.5, "b": 0.4}]},
     "probabilities", 1, "'b': 0.4"),
    ("mc", {"prediction": ["a", "c"], "probabilities": [{"a": 1.0}, {"a": 0.5, "b": 0.5}]},
     "probabilities", 1, "predicted label 'c'"),
    ("mc", {"prediction": ["a", "b"], "score": [None, 0.2]}, "score", 1, "0.2"),
    ("rg", {"prediction": [1.0, float("nan")]}, "prediction", 1, "nan"),
    ("rg", {"prediction": ["1", "2"]}, "prediction", None, "'String'"),
    ("rg", {"prediction": [1.0, 2.0], "actual": [1.0, float("inf")]}, "actual", 1, "inf"),
    ("so", {"score": [1.0, None]}, "score", 1, "None"),
    ("so", {"score": [1.0, 2.0], "prediction": [1, 5]}, "prediction", 1, "5"),
    ("bin", {"prediction": [1.0, 0.5]}, "prediction", 1, "0.5"),
    ("bin", {"prediction": ["a", "b"]}, "prediction", None, "'String'"),
]


@pytest.mark.parametrize(("model", "columns", "field", "row", "shown"), BAD_BATCHES)
def test_bad_batches_name_field_row_value_and_write_nothing(ws, model, columns, field, row,
                                                            shown):
    frame = pl.DataFrame({"model_name": [model] * 2, "version": "1.0.0", **columns},
                         strict=False)
    with pytest.raises(ValidationError) as err:
        ws.log.track_batch(frame)
    assert (err.value.field, err.value.row) == (field, row) and shown in str(err.value), \
        str(err.value)
    assert ws.log.count() == 0


def test_binary_float_batch_is_a_validation_error_not_a_polars_error(ws):
    # before issue 15 this raised polars' InvalidOperationError ('is_in' on Float64)
    frame = pl.DataFrame({"model_name": ["b", "b"], "version": "1.0.0",
                          "prediction": [0.2, 0.7]})
    with pytest.raises(ValidationError, match=r"prediction \(row 0\) must be a boolean"):
        ws.log.track_batch(frame)
    ok = frame.with_columns(pl.Series("prediction", [0.0, 1.0]))  # 0.0/1.0 are booleans
    assert ws.log.track_batch(ok) == 2
    assert ws.log.predictions("b")["prediction"].to_list() == [False, True]


def test_a_batch_holds_one_task(ws):
    frame = pl.DataFrame({"model_name": ["mc", "bin"], "version": "1.0.0",
                          "prediction": ["a", "b"]})
    with pytest.raises(ValidationError, match="models of one task") as err:
        ws.log.track_batch(frame)
    assert err.value.field == "model_name" and "'mc' is multiclass" in str(err.value)
    assert ws.log.count() == 0


def test_score_only_batch_needs_a_score(ws):
    with pytest.raises(ValidationError, match=r"columns \['model_name', 'version', 'score'\]"):
        ws.log.track_batch(pl.DataFrame({"model_name": ["so"], "version": "1.0.0",
                                         "prediction": [True]}))


BAD_LABELS = [("mc", [True], "actuals (row 0)", "True"), ("mc", [1.5], "actuals (row 0)", "1.5"),
              ("rg", ["x"], "actuals", "'x'"), ("rg", [None], "actuals", "None"),
              ("so", [0.5], "actuals", "0.5")]


@pytest.mark.parametrize(("model", "values", "name", "shown"), BAD_LABELS)
def test_bad_delayed_labels_record_nothing(ws, model, values, name, shown):
    ws.log.track(model, "1.0.0", {"mc": "a", "rg": 1.0, "so": None}[model],
                 score=1.0 if model == "so" else None, prediction_id="p")
    with pytest.raises(ValidationError) as err:
        ws.log.record_actuals(["p"], values, model_name=model)
    assert name.startswith(err.value.field) and shown in str(err.value), str(err.value)
    assert ws.log.predictions(model, labelled_only=True).height == 0
    assert ws.db.execute("SELECT count(*) FROM actuals") == [(0,)]


def test_unscoped_labels_of_models_of_several_tasks_are_refused(ws):
    ws.log.track("mc", "1.0.0", "a", prediction_id="same")
    ws.log.track("rg", "1.0.0", 1.0, prediction_id="other")
    ws.log.record_actuals(["other"], [2.0])  # one model: its task decides
    with pytest.raises(ValidationError, match="model_name"):
        ws.log.record_actuals(["same", "other"], ["a", 1.0])
    with pytest.raises(NotFoundError):
        ws.log.record_actuals(["nope"], ["a"], model_name="mc")


def test_binary_rows_unchanged(ws):
    ws.log.track("bin", "1.0.0", 1, confidence=0.8, actual=0, prediction_id="a",
                 timestamp=T0)
    ws.log.track_batch(pl.DataFrame({"model_name": ["bin"], "version": "1.0.0",
                                     "prediction": [False], "score": [0.1],
                                     "prediction_id": ["b"]}))
    ws.log.record_actual("b", True)
    rows = ws.log.predictions("bin").sort("prediction_id")
    assert rows.columns[:11] == ["prediction_id", "model_name", "version", "ts", "prediction",
                                 "score", "confidence", "unit_id", "role", "actual",
                                 "labelled_at"]
    assert "label" not in rows.columns and "value" not in rows.columns
    assert rows.select("prediction", "score", "actual").rows() == [(True, 0.8, False),
                                                                    (False, 0.1, True)]
    assert ws.db.execute("SELECT count(*) FROM predictions WHERE label IS NOT NULL OR value "
                         "IS NOT NULL OR probabilities IS NOT NULL") == [(0,)]


def test_dicts_whose_classes_vary_after_100_rows_are_refused_saying_how(ws):
    """polars builds a struct column from the first 100 dicts' keys: row 150's own classes
    were dropped and its probabilities arrived empty; the error says so and how to build it
    (pandas and pl.Series(..., strict=False) keep every key)."""
    dicts = [{"a": 0.9, "b": 0.1}] * 150 + [{"c": 0.5, "d": 0.5}]
    base = {"model_name": "mc", "version": "1.0.0", "prediction": ["a"] * 150 + ["c"]}
    with pytest.raises(ValidationError, match=r"probabilities \(row 150\).*strict=False"):
        ws.log.track_batch(pl.DataFrame({**base, "probabilities": dicts}))
    assert ws.log.predictions("mc").height == 0  # the batch is refused whole
    for frame in (pd.DataFrame({**base, "probabilities": dicts}),
                  pl.DataFrame({**base, "probabilities": pl.Series(dicts, strict=False)})):
        assert ws.log.track_batch(frame) == 151
    got = ws.log.predictions("mc").filter(pl.col("label") == "c")["probabilities"]
    assert got.to_list() == [[{"label": "c", "p": 0.5}, {"label": "d", "p": 0.5}]] * 2
