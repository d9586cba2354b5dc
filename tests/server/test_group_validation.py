"""Small requests validated together give each request what it gets validated alone.

The writer validates the small JSON requests waiting together as ONE frame
(`mlmkit.server.batches.validate_rows`). polars gives a column the common type of its values,
so without care one request's values change another's: ``true`` beside ``0.5`` was read
1.0 (a boolean score, refused alone, was stored), a unit id ``7`` beside ``1.5`` became
``"7.0"``, a multiclass prediction ``false`` beside ``2`` the label ``"0"``. Oracle: the same
requests validated one by one (what a request alone gets, the row path of ``track_batch``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mlmkit.catalogue import Task
from mlmkit.exceptions import MlmkitError
from mlmkit.server.batches import Rows, validate_rows
from mlmkit.server.bodies import row_shape

VALUES: dict[str, list[Any]] = {  # JSON values of every type each key may be sent with
    "prediction": [True, False, 1, 0, 2, 0.5, 1.0, "yes", "1", None],
    "score": [0.5, 1, 0, 1.0, 2, -0.1, "0.5", None, True, 0.9999999999999999],
    "confidence": [0.5, 1, None, "x", True],
    "unit_id": ["u1", 7, None, True, 1.5],
    "role": ["champion", "challenger", None, 3, "x"],
    "actual": [True, False, 1, 0, None, "t", 0.5],
    "f1": [1, 1.5, True, "a", None, 2**63],
    "f2": ["a", "b", None, 1, False],
    "timestamp": ["2026-11-30T10:00:00Z", "2026-11-30 10:00:00+01:00", "x", None, 5],
}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, list[list[dict[str, Any]]]]:
    keys = ["prediction", *draw(st.lists(st.sampled_from(sorted(set(VALUES) - {"prediction"})),
                                         max_size=3, unique=True))]
    out = []
    for k in range(draw(st.integers(2, 4))):
        out.append([{"model_name": "m", "version": "1.0.0", "prediction_id": f"r{k}-{i}",
                     **{key: draw(st.sampled_from(VALUES[key])) for key in keys}}
                    for i in range(draw(st.integers(1, 2)))])
    return draw(st.sampled_from([t.value for t in Task])), out


def _outcome(result: Any, stamped: bool) -> Any:
    if isinstance(result, MlmkitError):
        return type(result).__name__, result.field, result.row
    frame = result[0].batch.frame.drop(["labelled_at", *(["ts"] if stamped else [])],
                                       strict=False)  # (stamped when validated: other times)
    return frame.select(sorted(frame.columns)).to_dicts()


@settings(max_examples=300)
@given(requests())
def test_requests_validated_together_get_what_each_gets_alone(
        case: tuple[str, list[list[dict[str, Any]]]]) -> None:
    task, given_rows = case

    def wrap(rows: list[dict[str, Any]]) -> Rows:
        shape = row_shape(rows)
        assert shape is not None
        return Rows(rows, shape, timedelta(minutes=5), {"m": task})

    stamped = "timestamp" not in given_rows[0][0]
    together = validate_rows([wrap(rows) for rows in given_rows])
    for k, rows in enumerate(given_rows):
        alone = validate_rows([wrap(rows)])[0]
        assert _outcome(together[k], stamped) == _outcome(alone, stamped), (k, given_rows)


def test_the_shape_names_the_types_of_the_values() -> None:
    assert row_shape([{"a": 1, "b": None}, {"a": 2.5, "b": None}]) == (
        "a", "b", "a: float | int")
    assert row_shape([{"a": True}]) != row_shape([{"a": 1}])
    assert row_shape([{"features": {"x": 1}}]) == ("features", "x", "features: dict",
                                                    "features.x: int")
    assert row_shape([{"a": 1}, {"b": 1}]) is None


def test_a_boolean_score_beside_numbers_is_refused_in_one_request_too() -> None:
    rows = [{"model_name": "m", "version": "1.0.0", "prediction": True, "score": 0.5},
            {"model_name": "m", "version": "1.0.0", "prediction": True, "score": True}]
    [outcome] = validate_rows([Rows(rows, row_shape(rows) or (), timedelta(minutes=5),
                                    {"m": "binary"})])
    assert isinstance(outcome, MlmkitError)
    assert (outcome.field, outcome.row) == ("score", 1)
    alone = validate_rows([Rows(rows[1:], row_shape(rows[1:]) or (), timedelta(minutes=5),
                                {"m": "binary"})])[0]
    assert isinstance(alone, MlmkitError) and alone.field == "score"


def test_a_boolean_among_regression_labels_is_refused_as_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``/v1/actuals`` and ``record_actuals``: ``[2.5, true]`` was recorded as 2.5 and 1.0."""
    import polars as pl
    import pytest

    import mlmkit
    from mlmkit.exceptions import ValidationError

    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("reg", "supervised", "1.0.0",
                                                  task="regression"))
        ws.log.track_batch(pl.DataFrame({"model_name": "reg", "version": "1.0.0",
                                         "prediction": [1.0, 2.0],
                                         "prediction_id": ["a", "b"]}))
        for actuals in ([2.5, True], [True]):
            with pytest.raises(ValidationError, match="finite number"):
                ws.log.record_actuals(["a", "b"][:len(actuals)], actuals, model_name="reg")
        ws.log.record_actuals(["a", "b"], [2.5, 1], model_name="reg")  # numbers of both kinds
        frame = ws.log.predictions("reg").sort("prediction_id")
        assert frame["actual_value"].to_list() == [2.5, 1.0], frame.columns
