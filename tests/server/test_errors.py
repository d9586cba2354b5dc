"""The JSON error shape: field, row and value come from the ValidationError's attributes."""

from __future__ import annotations

import polars as pl
import pytest

from mlmkit.exceptions import DuplicateError, NotFoundError, ValidationError
from mlmkit.server.bodies import error_payload
from mlmkit.services.ingest import prediction_batch


def test_fields_come_from_the_attributes_not_the_message():
    err = ValidationError("odd wording without the usual shape", field="score", row=4, value=2.5)
    assert error_payload(err)["error"] == {
        "field": "score", "row": 4, "value": "2.5", "message": str(err),
        "type": "ValidationError"}


def test_the_validator_sets_them_for_a_batch_row():
    frame = pl.DataFrame({"model_name": ["m"] * 3, "version": ["1.0.0"] * 3,
                          "prediction": [True] * 3, "score": [0.1, 0.2, 1.5]})
    with pytest.raises(ValidationError) as caught:
        prediction_batch(frame)
    assert (caught.value.field, caught.value.row, caught.value.value) == ("score", 2, 1.5)
    twice = frame.with_columns(score=pl.lit(0.5), prediction_id=pl.Series(["a", "b", "a"]))
    with pytest.raises(DuplicateError) as dupe:
        prediction_batch(twice)
    assert error_payload(dupe.value)["error"]["value"] == "'a'"


def test_other_errors_have_no_field():
    assert error_payload(NotFoundError("no model 'x'"))["error"] == {
        "field": None, "row": None, "value": None, "message": "no model 'x'",
        "type": "NotFoundError"}
    assert error_payload(KeyError("secret"))["error"]["message"] == "KeyError: internal error"
