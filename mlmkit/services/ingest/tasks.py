"""What each task logs: the prediction and ground-truth columns of a row, a frame, a label.

========================  ===================================  ==========================
task                      ``prediction`` / ``actual`` given    stored as
========================  ===================================  ==========================
binary                    booleans or 0/1; ``score`` in [0, 1]  ``prediction``, ``actual``
multiclass                class labels (str or int, not bool)   ``label``, ``actual_label``
regression                finite numbers                        ``value``, ``actual_value``
score-only                ``score`` any finite number           ``score``; ``prediction``
                          (required), ``prediction`` an         the flag, ``actual`` a
                          optional boolean flag, ``actual``     confirmed anomaly
                          an optional boolean
========================  ===================================  ==========================

A multiclass row may carry ``probabilities``: a mapping class label -> probability in [0, 1]
summing to 1 (± 1e-6) that contains the predicted label, stored as a list of
``{label, p}`` sorted by label; ``confidence`` (the predicted label's probability) is kept as
given. A column or argument another task uses (``score`` of a regression row, say) is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from mlmkit._validation import check_probability, check_real, invalid
from mlmkit.catalogue import Task
from mlmkit.services.ingest.frames import boolean, fail, finite, first_bad, unit_interval

__all__ = ["BOOLEAN_OUTCOMES", "LABEL_COLUMNS", "PROBABILITIES", "TOLERANCE", "TaskLookup",
           "as_bool", "batch_task", "class_label", "frame_outcome", "label_values", "row_outcome"]

TaskLookup = Callable[[Sequence[str]], Mapping[str, Task]]
"""``tasks(model_names) -> {model_name: task}`` of the registered models (others: binary)."""

TOLERANCE = 1e-6
"""How far from 1 the probabilities of a multiclass row may sum."""
PROBABILITIES = pl.List(pl.Struct({"label": pl.String, "p": pl.Float64}))
"""The stored type of ``probabilities``."""
LABEL_COLUMNS = {Task.BINARY: "actual", Task.MULTICLASS: "actual_label",
                 Task.REGRESSION: "actual_value", Task.SCORE_ONLY: "actual"}
"""The column holding the ground truth of each task."""
_LABEL = "a class label: a non-empty string or an integer (not a boolean, not a float)"
BOOLEAN_OUTCOMES = frozenset({Task.BINARY, Task.SCORE_ONLY})
"""Tasks whose prediction and label are booleans, given as 0/1 too (``true`` means ``1``)."""
_ACTUAL = {**dict.fromkeys(BOOLEAN_OUTCOMES, "a boolean or 0/1"),
           Task.REGRESSION: "a finite number"}
_UNUSED = {Task.BINARY: ("probabilities",), Task.MULTICLASS: ("score",),
           Task.REGRESSION: ("score", "confidence", "probabilities"),
           Task.SCORE_ONLY: ("confidence", "probabilities")}


def as_bool(name: str, value: object) -> bool:
    """``value`` as a boolean (booleans and 0/1)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise invalid(name, "a boolean or 0/1", value)


def class_label(name: str, value: object) -> str:
    """A class label as text: a non-empty string, or an integer (``2`` -> ``"2"``)."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    raise invalid(name, _LABEL, value)


def _unused(task: Task, model: str, given: Mapping[str, object]) -> None:
    for name in _UNUSED[task]:
        if given.get(name) is not None:
            raise invalid(name, f"absent for a {task.value} model ({model!r} is "
                          f"{task.value})", given[name])


def _row_probabilities(value: object, label: str) -> list[dict[str, object]]:
    if not isinstance(value, Mapping) or not value:
        raise invalid("probabilities", "a mapping of class label to probability", value)
    found: dict[str, float] = {}
    for key, p in value.items():
        text = class_label("probabilities key", key)
        if text in found:
            raise invalid("probabilities", "distinct class labels", key)
        found[text] = check_probability(f"probabilities[{text!r}]", p)
    total = sum(found.values())
    if abs(total - 1.0) > TOLERANCE:
        raise invalid("probabilities", f"probabilities summing to 1 ± {TOLERANCE:g} (these "
                      f"sum to {total:.9g})", dict(value))
    if label not in found:
        raise invalid("probabilities", f"a mapping containing the predicted label {label!r}",
                      dict(value))
    return [{"label": k, "p": found[k]} for k in sorted(found)]


def row_outcome(task: Task, model: str, prediction: object, actual: object, score: object,
                confidence: object, probabilities: object) -> dict[str, object]:
    """The canonical prediction/label/score columns of one row of a ``task`` model."""
    _unused(task, model, {"score": score, "confidence": confidence,
                          "probabilities": probabilities})
    out = _ROWS[task](model, prediction, actual, score, confidence, probabilities)
    if confidence is not None:
        out["confidence"] = check_probability("confidence", confidence)
    return out


def _binary_row(model: str, prediction: object, actual: object, score: object,
                confidence: object, probabilities: object) -> dict[str, object]:
    out: dict[str, object] = {"prediction": as_bool("prediction", prediction)}
    if actual is not None:
        out["actual"] = as_bool("actual", actual)
    if score is not None:
        out["score"] = check_probability("score", score)
    elif confidence is not None:
        conf = check_probability("confidence", confidence)
        out["score"] = conf if out["prediction"] else 1.0 - conf
    return out


def _multiclass_row(model: str, prediction: object, actual: object, score: object,
                    confidence: object, probabilities: object) -> dict[str, object]:
    label = class_label("prediction", prediction)
    out: dict[str, object] = {"label": label}
    if actual is not None:
        out["actual_label"] = class_label("actual", actual)
    if probabilities is not None:
        out["probabilities"] = _row_probabilities(probabilities, label)
    return out


def _regression_row(model: str, prediction: object, actual: object, score: object,
                    confidence: object, probabilities: object) -> dict[str, object]:
    out: dict[str, object] = {"value": check_real("prediction", prediction)}
    if actual is not None:
        out["actual_value"] = check_real("actual", actual)
    return out


def _score_row(model: str, prediction: object, actual: object, score: object,
               confidence: object, probabilities: object) -> dict[str, object]:
    if score is None:
        raise invalid("score", f"a finite number (required: {model!r} is score-only)", None)
    out: dict[str, object] = {"score": check_real("score", score)}
    if prediction is not None:
        out["prediction"] = as_bool("prediction", prediction)
    if actual is not None:
        out["actual"] = as_bool("actual", actual)
    return out


_ROWS = {Task.BINARY: _binary_row, Task.MULTICLASS: _multiclass_row,
         Task.REGRESSION: _regression_row, Task.SCORE_ONLY: _score_row}


def batch_task(models: Sequence[str], tasks: TaskLookup | Mapping[str, Task] | None) -> Task:
    """The one task of a batch's models (unregistered models are binary)."""
    if tasks is None or not models:
        return Task.BINARY
    found = tasks if isinstance(tasks, Mapping) else tasks(models)
    of = {m: Task(found.get(m, Task.BINARY)) for m in models}
    kinds = sorted(set(of.values()))
    if len(kinds) > 1:
        shown = ", ".join(f"{m!r} is {t.value}" for m, t in of.items())
        raise invalid("model_name", "models of one task in a batch (log each task's models in "
                      "its own batch)", shown)
    return kinds[0]


# ---------------------------------------------------------------------------------- frames
def _labels(frame: pl.DataFrame, column: str, *, nullable: bool) -> pl.Expr:
    dtype = frame.schema[column]
    if dtype == pl.Null and nullable:
        return pl.col(column).cast(pl.String)
    if not (dtype in (pl.String, pl.Categorical, pl.Null) or isinstance(dtype, pl.Enum)
            or dtype.is_integer()):
        raise invalid(column, "a column of class labels (strings or integers, not "
                      "booleans or floats)", str(dtype))
    col = pl.col(column).cast(pl.String)
    bad = col == ""
    if not nullable:
        bad = bad | col.is_null()
    if hit := first_bad(frame, bad.fill_null(False), column):
        fail(column, _LABEL + ("" if nullable else ", not null"), hit)
    return col


def _probability_list(frame: pl.DataFrame) -> pl.Expr:
    dtype = frame.schema["probabilities"]
    col = pl.col("probabilities")
    if isinstance(dtype, pl.Struct):  # {label: p, ...} per row: a field per class
        if not all(f.dtype.is_numeric() or f.dtype == pl.Null for f in dtype.fields):
            raise invalid("probabilities", "a struct of class label -> probability (numbers)",
                          str(dtype))
        pairs = pl.concat_list([pl.struct(pl.lit(f.name).alias("label"),
                                          col.struct.field(f.name).cast(pl.Float64).alias("p"))
                                for f in dtype.fields])
        present = pl.element().struct.field("p").is_not_null()
        return pl.when(col.is_not_null()).then(pairs.list.eval(pl.element().filter(present)))
    if isinstance(dtype, pl.Map):  # (an Arrow map): its entries are {key, value} structs
        col = col.map.entries()
        dtype = pl.List(pl.Struct({"key": dtype.key, "value": dtype.value}))
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    names = [f.name for f in inner.fields] if isinstance(inner, pl.Struct) else []
    pair = ("label", "p") if names == ["label", "p"] else \
        ("key", "value") if names == ["key", "value"] else None
    if pair is None or not isinstance(inner, pl.Struct):
        raise invalid("probabilities", "a struct column (class label -> probability), a list "
                      "of {label, p} structs or a map", str(dtype))
    kinds = dict(zip(names, (f.dtype for f in inner.fields), strict=True))
    if not (kinds[pair[0]] in (pl.String, pl.Categorical) or kinds[pair[0]].is_integer()) \
            or not kinds[pair[1]].is_numeric():
        raise invalid("probabilities", "class labels (strings or integers) with numeric "
                      "probabilities", str(dtype))
    element = pl.element().struct
    return col.list.eval(pl.struct(element.field(pair[0]).cast(pl.String).alias("label"),
                                   element.field(pair[1]).cast(pl.Float64).alias("p")))


def _probabilities(frame: pl.DataFrame, label: pl.Expr) -> pl.Expr | None:
    if frame.schema["probabilities"] == pl.Null:
        return None
    given = pl.col("probabilities").is_not_null()
    canon = _probability_list(frame)
    if isinstance(frame.schema["probabilities"], pl.Struct) and (hit := first_bad(
            frame, (given & (canon.list.len() == 0)).fill_null(False), "probabilities")):
        fail("probabilities", "a mapping with at least one class (a struct column has the "
             "fields polars inferred from the first 100 dicts: with classes that vary between "
             "rows build it with pl.Series(dicts, strict=False), or as a list of {label, p} "
             "structs or a map)", hit)
    labels = canon.list.eval(pl.element().struct.field("label"))
    ps = canon.list.eval(pl.element().struct.field("p"))
    element = pl.element()
    checks = [
        (ps.list.eval(element.is_null() | element.is_nan() | (element < 0) | (element > 1))
         .list.any(), "a mapping of class label to a probability in [0, 1]"),
        (labels.list.eval(element.is_null() | (element == "")).list.any()
         | (labels.list.n_unique() != labels.list.len()), "distinct non-empty class labels"),
        ((ps.list.sum() - 1.0).abs() > TOLERANCE,
         f"probabilities summing to 1 ± {TOLERANCE:g}"),
        (~labels.list.contains(label), "a mapping containing the predicted label {}"),
    ]
    for mask, expectation in checks:
        if hit := first_bad(frame, (given & mask).fill_null(False), "probabilities"):
            predicted = frame.select(label.gather(hit[0])).item()
            fail("probabilities", expectation.format(repr(predicted)), hit)
    return canon.list.eval(element.sort_by(element.struct.field("label"))).cast(PROBABILITIES)


def frame_outcome(frame: pl.DataFrame, task: Task, model: str) -> list[pl.Expr]:
    """The expressions of the canonical prediction/label/score columns of a ``task`` batch."""
    for name in _UNUSED[task]:
        if name in frame.columns and (hit := first_bad(frame, pl.col(name).is_not_null(),
                                                       name)):
            fail(name, f"absent or null for a {task.value} model ({model!r} is "
                 f"{task.value})", hit)
    exprs = _FRAMES[task](frame, set(frame.columns))
    if "confidence" in frame.columns and task in (Task.BINARY, Task.MULTICLASS):
        exprs.append(unit_interval(frame, "confidence").alias("confidence"))
    return exprs


def _binary_frame(frame: pl.DataFrame, has: set[str]) -> list[pl.Expr]:
    exprs = [boolean(frame, "prediction", nullable=False).alias("prediction")]
    if "actual" in has:
        exprs.append(boolean(frame, "actual", nullable=True).alias("actual"))
    score = unit_interval(frame, "score") if "score" in has else None
    if "confidence" in has:
        conf = unit_interval(frame, "confidence")
        derived = pl.when(pl.col("prediction").cast(pl.Boolean)).then(conf).otherwise(1.0 - conf)
        score = derived if score is None else pl.coalesce(score, derived)
    return exprs if score is None else [*exprs, score.alias("score")]


def _multiclass_frame(frame: pl.DataFrame, has: set[str]) -> list[pl.Expr]:
    label = _labels(frame, "prediction", nullable=False)
    exprs = [label.alias("label")]
    if "actual" in has:
        exprs.append(_labels(frame, "actual", nullable=True).alias("actual_label"))
    if "probabilities" in has and (probs := _probabilities(frame, label)) is not None:
        exprs.append(probs.alias("probabilities"))
    return exprs


def _regression_frame(frame: pl.DataFrame, has: set[str]) -> list[pl.Expr]:
    exprs = [finite(frame, "prediction", nullable=False).alias("value")]
    if "actual" in has:
        exprs.append(finite(frame, "actual", nullable=True).alias("actual_value"))
    return exprs


def _score_frame(frame: pl.DataFrame, has: set[str]) -> list[pl.Expr]:
    exprs = [finite(frame, "score", nullable=False).alias("score")]
    for column in ("prediction", "actual"):
        if column in has:
            exprs.append(boolean(frame, column, nullable=True).alias(column))
    return exprs


_FRAMES = {Task.BINARY: _binary_frame, Task.MULTICLASS: _multiclass_frame,
           Task.REGRESSION: _regression_frame, Task.SCORE_ONLY: _score_frame}


# ---------------------------------------------------------------------------------- labels
def _no_booleans(given: object) -> None:
    """Refuse a boolean among regression labels: polars reads True beside 2.5 as 1.0."""
    if isinstance(given, list):
        for i, value in enumerate(given):
            if isinstance(value, bool | np.bool_):  # (alone it is refused: not a number)
                raise invalid(f"actuals (row {i})", _ACTUAL[Task.REGRESSION], value)


def label_values(actuals: Iterable[object], task: Task) -> tuple[pa.Array, str]:
    """Delayed labels of a ``task`` model as an Arrow array, and the column they go to."""
    column = LABEL_COLUMNS[task]
    if task is Task.MULTICLASS and not isinstance(actuals, (pl.Series, np.ndarray, pa.Array)):
        return pa.array([class_label(f"actuals (row {i})", v) for i, v in enumerate(actuals)],
                        pa.string()), column
    given = actuals if isinstance(actuals, (pl.Series, np.ndarray, pa.Array)) else list(actuals)
    values = pl.Series("actuals", given, strict=False)
    if isinstance(given, list) and values.null_count():  # show a value polars made null
        for i, (value, held) in enumerate(zip(given, values, strict=True)):  # (an integer
            if held is None and value is not None:  # beyond 128 bits, mixed types)
                raise invalid(f"actuals (row {i})", _ACTUAL[task], value)
    if task is Task.MULTICLASS:
        frame = values.to_frame()
        return frame.select(_labels(frame, "actuals", nullable=False)).to_series().to_arrow(
        ).cast(pa.string()), column
    if task is Task.REGRESSION:
        frame = values.to_frame()
        _no_booleans(given)
        if values.dtype == pl.Object or values.dtype == pl.String:
            raise invalid("actuals", "finite numbers without nulls", values[0])
        return frame.select(finite(frame, "actuals", nullable=False)).to_series().to_arrow(
        ), column
    if values.dtype == pl.Boolean and not values.null_count():
        return values.to_arrow(), column
    if values.dtype.is_integer() and values.is_in([0, 1]).all():
        return values.cast(pl.Boolean).to_arrow(), column
    bad = values.filter(values.is_null() | ~values.cast(pl.String).is_in(
        ["true", "false", "0", "1"]))
    raise invalid("actuals", "booleans or 0/1 without nulls", bad[0] if len(bad) else values[0])
