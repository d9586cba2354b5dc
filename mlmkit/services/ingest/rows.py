"""One prediction row (``track``, the buffered writer): canonical values and features."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime, timedelta
from numbers import Integral
from typing import Required, TypedDict

import numpy as np

from mlmkit._validation import check_name, invalid
from mlmkit.catalogue import Task
from mlmkit.services.ingest.tasks import row_outcome
from mlmkit.store.predictions.batch import ROLES
from mlmkit.values import Version, VersionLike, parse_task, utc, utcnow

__all__ = ["DEFAULT_MAX_FUTURE", "Feature", "OPTIONAL", "PredictionRow", "REQUIRED", "Row",
           "check_max_future", "feature_value", "prediction_row"]

REQUIRED = ("model_name", "version", "prediction")
OPTIONAL = ("actual", "score", "confidence", "probabilities", "prediction_id", "timestamp",
            "unit_id", "role")
DEFAULT_MAX_FUTURE = timedelta(minutes=5)
"""How far in the future a prediction timestamp may lie (clock skew between hosts)."""


class PredictionRow(TypedDict, total=False):
    """The base columns of one canonical prediction (the optional ones only when given).

    ``prediction``/``actual`` (booleans) belong to binary and score-only rows, ``label``/
    ``actual_label``/``probabilities`` to multiclass rows, ``value``/``actual_value`` to
    regression rows (see `mlmkit.services.ingest.tasks`).
    """

    model_name: Required[str]
    version: Required[str]
    ts: Required[datetime]
    role: Required[str]
    prediction: bool
    actual: bool
    label: str
    actual_label: str
    probabilities: list[dict[str, object]]
    value: float
    actual_value: float
    labelled_at: datetime
    confidence: float
    score: float
    prediction_id: str
    unit_id: str


Feature = tuple[str | None, str | float | None]
"""One canonical feature value: ``(kind or None when missing, value)``."""

Row = tuple[PredictionRow, dict[str, Feature]]
"""A canonical row: base columns, and ``{feature: (kind or None when missing, value)}``."""


def check_max_future(value: timedelta | float) -> timedelta:
    """``max_future`` as a timedelta (seconds when a number); must be >= 0."""
    if isinstance(value, timedelta) and value >= timedelta(0):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e9:
        return timedelta(seconds=float(value))
    raise invalid("max_future", "a timedelta or seconds >= 0", value)


@functools.lru_cache(maxsize=1024)
def _canonical_text(version: str) -> str:
    return str(Version.parse(version))


def canonical_version(version: VersionLike) -> str:
    """The canonical text of a version (cached for strings)."""
    return _canonical_text(version) if isinstance(version, str) else str(Version.parse(version))


def feature_value(name: str, value: object) -> Feature:
    """``(kind, canonical value)`` of one feature value; kind ``None`` for a missing value."""
    if type(value) is float:
        return ("numeric", value) if value - value == 0.0 else (None, None)  # NaN/inf
    if value is None:
        return None, None
    if isinstance(value, str):
        return "categorical", value
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        number = float(value)
        return ("numeric", number) if np.isfinite(number) else (None, None)
    raise invalid(f"features[{name!r}]", "a number, a boolean, a string or None", value)


def _timestamp(value: datetime, now: datetime, max_future: timedelta) -> datetime:
    ts = utc(value, "timestamp")
    if ts > now + max_future:
        raise invalid("timestamp", f"at most {max_future} in the future (clock skew bound "
                      "max_future; naive timestamps are UTC)", value)
    return ts


def prediction_row(model_name: str, version: VersionLike, prediction: object = None, *,
                   actual: object = None, score: object = None, confidence: object = None,
                   probabilities: Mapping[object, object] | None = None,
                   features: Mapping[str, object] | None = None, prediction_id: object = None,
                   timestamp: datetime | None = None, unit_id: object = None,
                   role: str = "served", max_future: timedelta = DEFAULT_MAX_FUTURE,
                   task: Task | str = Task.BINARY) -> Row:
    """Validate one prediction of a ``task`` model and return its canonical `Row`."""
    check_name("model_name", model_name)
    kind = task if isinstance(task, Task) else parse_task(task)
    outcome = row_outcome(kind, model_name, prediction, actual, score, confidence,
                          probabilities)
    if role not in ROLES:
        raise invalid("role", "'served' or 'shadow'", role)
    now = utcnow()
    row: PredictionRow = {"model_name": model_name, "version": canonical_version(version),
                          "role": role, "ts": now if timestamp is None else
                          _timestamp(timestamp, now, max_future)}
    row.update(outcome)  # type: ignore[typeddict-item]
    if actual is not None:
        row["labelled_at"] = now
    if prediction_id is not None:  # a string or an integer, as track_batch and the HTTP API
        if isinstance(prediction_id, bool) or not isinstance(prediction_id, (str, Integral)):
            raise invalid("prediction_id", "a string or an integer id", prediction_id)
        row["prediction_id"] = check_name("prediction_id", str(prediction_id))
    if unit_id is not None:
        row["unit_id"] = str(unit_id)
    if features is None:
        return row, {}
    if not isinstance(features, Mapping):
        raise invalid("features", "a mapping of feature name to value", features)
    canonical = {}
    for key, value in features.items():
        check_name("features key", key)
        if key in REQUIRED or key in OPTIONAL or key == "features":
            raise invalid("features key", "a name that is not a prediction column", key)
        canonical[key] = feature_value(key, value)
    return row, canonical
