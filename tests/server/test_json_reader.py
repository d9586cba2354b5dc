"""Large JSON bodies are read by polars (``pl.read_json``/``read_ndjson``) only when that
gives exactly what the row-object path (``json.loads`` + ``rows_batch``) gives."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlmkit.exceptions import MlmkitError, ValidationError
from mlmkit.server import bodies

ROW = ('{"model_name": "m", "version": "1.0.0", "prediction": true, "score": 0.5, '
       '"prediction_id": "p%d", "timestamp": "2026-01-01T00:00:00Z"%s}')
FUTURE = timedelta(minutes=5)


def _body(*extras: str) -> bytes:
    return ("[" + ",".join(ROW % (i, e) for i, e in enumerate(extras)) + "]").encode()


def _outcome(fn, body: bytes):  # type: ignore[no-untyped-def]
    try:
        batch = fn(body)
    except MlmkitError as err:
        return type(err).__name__, str(err)
    if batch is None:
        return None
    return batch.frame.select(batch.exprs).to_dicts(), sorted(batch.features)


def _rows_path(body: bytes):  # type: ignore[no-untyped-def]
    rows = bodies.parse_rows(body, bodies.JSON)
    return bodies.rows_batch(rows, max_future=FUTURE) if rows else None


CASES = {
    "plain": (_body("", ', "x": 1.5'), True),
    "features": (_body(', "features": {"x": 1}', ', "features": {"x": 2.5, "y": "q"}'), True),
    "bool and int": (_body(', "x": true', ', "x": 1'), False),
    "bool beside a number": (_body("", "").replace(b'"score": 0.5', b'"score": true', 1), False),
    "nested bool and number": (_body(', "features": {"x": 2}', ', "features": {"x": false}'),
                               False),
    "the word in a string": (_body(', "note": "true or false"', ', "note": "x"'), False),
    "empty": (b"[]", True),
    "number then text": (_body(', "unit_id": 7', ', "unit_id": "x"'), False),
    "text then number": (_body(', "unit_id": "x"', ', "unit_id": 7'), False),
    "text then bool": (_body(', "c": "a"', ', "c": false'), False),
    "nested mixed": (_body(', "features": {"c": "a"}', ', "features": {"c": 3}'), False),
    "numeric-looking text": (_body(', "unit_id": "42"', ""), False),
    "escapes": (_body(', "x": "a\\"b"', ""), False),
    "a key twice": (_body(', "score": 0.9', ""), False),
    "an object": (b'{"model_name": "m"}', False),
    "not objects": (b"[1, 2]", False),
    "big integer": (_body(', "x": 123456789012345678901', ""), False),
    "a list value": (_body(', "x": [1]', ""), False),
    "bad score": (_body(', "z": 1', "").replace(b'"score": 0.5', b'"score": 7', 1), True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_polars_reads_a_body_only_when_it_agrees_with_the_row_path(name: str) -> None:
    body, fast = CASES[name]
    assert (bodies._read_json(body, bodies.JSON) is not None) is fast
    assert _outcome(lambda b: bodies.parse_predictions(b, bodies.JSON, max_future=FUTURE),
                    body) == _outcome(_rows_path, body)


def test_ndjson_is_read_by_polars_too() -> None:
    lines = "\n".join(ROW % (i, ', "x": 0.5') for i in range(3)).encode()
    assert bodies._read_json(lines, bodies.NDJSON) is not None
    batch = bodies.parse_predictions(lines, bodies.NDJSON, max_future=FUTURE)
    assert batch is not None and batch.num_rows == 3


@pytest.mark.parametrize(("extras", "field"), [
    (("", ""), "score (row 1)"), ((', "x": 1', ', "x": true'), "x (row 1)"),
    ((', "features": {"x": 2.5}', ', "features": {"x": false}'), "features['x'] (row 1)")])
def test_a_boolean_beside_numbers_is_refused_as_alone_not_read_as_one(
        extras: tuple[str, str], field: str) -> None:
    """``true`` beside ``0.5`` is not the number 1.0 (a boolean score alone is refused)."""
    body = _body(*extras)
    if not extras[0]:
        body = body.replace(b'"score": 0.5', b'"score": true', 2).replace(
            b'"score": true', b'"score": 0.5', 1)
    assert bodies._read_json(body, bodies.JSON) is None  # polars would read it: 1.0 / 0.0
    with pytest.raises(ValidationError, match="as in the other rows") as info:
        bodies.parse_predictions(body, bodies.JSON, max_future=FUTURE)
    assert f"{info.value.field} (row {info.value.row})" == field, info.value


def test_a_mixed_text_column_is_still_refused_naming_row_and_value() -> None:
    body = _body(', "unit_id": "x"', ', "unit_id": 7')
    with pytest.raises(ValidationError, match=r"unit_id \(row 1\)") as info:
        bodies.parse_predictions(body, bodies.JSON, max_future=FUTURE)
    assert info.value.field == "unit_id (row 1)" or info.value.row == 1
