"""The one validator of delayed labels: ``ws.log.record_actuals`` and ``POST /v1/actuals``.

`label_request` checks what a label call can get wrong before anything is read from the log:
the scope (``model_name``, ``version``), ``on_unknown``, the ids (a sequence of strings or of
integers, as ``track_batch`` takes them; no nulls; each once; as text) and the labels (as many
as ids, of the model's task: `label_values`). The store then checks what needs the table (ids
in scope, ids shared by several models).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from mlmkit._validation import check_choice, check_name, invalid
from mlmkit.services.ingest.frames import to_polars
from mlmkit.services.ingest.tasks import label_values

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from mlmkit.catalogue import Task
    from mlmkit.values import VersionLike

__all__ = ["ON_UNKNOWN", "LabelRequest", "label_request"]

ON_UNKNOWN = ("raise", "skip")
"""What an id with no logged row in scope does: reject the call, or be skipped and counted."""


@dataclass(frozen=True, slots=True)
class LabelRequest:
    """A validated label call: unique text ids, labels in their task's column, the scope."""

    model_name: str | None
    version: str | None
    """Canonical semver text, or ``None`` for every version."""
    ids: pa.Array
    values: pa.Array
    column: str
    """``actual`` (binary, score-only), ``actual_label`` (multiclass), ``actual_value``."""
    skip_unknown: bool


def _sequence(name: str, given: object) -> Iterable[object]:
    """``given`` if it is a sequence of values (text and mappings are not: list() splits them)."""
    if isinstance(given, (str, bytes, Mapping)) or not isinstance(given, Iterable):
        raise invalid(name, "a sequence of values (a list, an array, a Series)",
                      type(given).__name__)
    return cast(Iterable[object], given)


_IDS = "ids of one type: strings, or integers (not booleans or floats)"


def _ids(given: Iterable[object]) -> pl.Series:
    """The ids as text: strings, or integers (``7`` is the id ``"7"``), of one type.

    As ``track_batch`` and ``/v1/predictions`` take them; a boolean, float, list or mapping
    is refused naming itself (cast to text it could label a row logged with id ``"True"``).
    """
    import numpy as np
    import polars as pl
    import pyarrow as pa

    if isinstance(given, (pl.Series, np.ndarray, pa.Array)):
        ids = to_polars({"prediction_id": given}, "prediction_ids").get_column("prediction_id")
        if ids.null_count():
            raise invalid("prediction_ids", "ids without nulls", None)
        if not (ids.dtype in (pl.String, pl.Categorical, pl.Null)
                or isinstance(ids.dtype, pl.Enum) or ids.dtype.is_integer()):
            raise invalid("prediction_ids", _IDS, str(ids.dtype))
        return ids.cast(pl.String)
    values = list(given)
    for value in values:
        if value is None:
            raise invalid("prediction_ids", "ids without nulls", None)
        if not isinstance(value, (str, int, np.integer)) or isinstance(value, (bool, np.bool_)):
            raise invalid("prediction_ids", _IDS, value)
    text = [isinstance(value, str) for value in values]
    if any(text) and not all(text):  # (as a column of /v1/predictions: one type)
        raise invalid("prediction_ids", _IDS, values[text.index(not text[0])])
    return pl.Series("prediction_id", [str(value) for value in values], pl.String)


def label_request(prediction_ids: Iterable[object], actuals: Iterable[object], *,
                  model_name: str | None, version: VersionLike | None = None,
                  on_unknown: str = "raise", task_of: Callable[[pl.Series], Task]
                  ) -> LabelRequest | None:
    """Validate one label call; ``None`` when it labels nothing (no ids).

    ``task_of`` gets the validated ids (text) and returns the task whose labels ``actuals``
    must be (the model's, or that of the models which logged the ids).
    """
    import numpy as np
    import polars as pl
    import pyarrow as pa

    from mlmkit.values import Version

    if model_name is not None:
        check_name("model_name", model_name)
    ver = None if version is None else str(Version.parse(version, "version"))
    check_choice("on_unknown", on_unknown, ON_UNKNOWN)
    ids = _ids(_sequence("prediction_ids", prediction_ids))
    labels = _sequence("actuals", actuals)
    values = labels if isinstance(labels, (pl.Series, np.ndarray, pa.Array)) else list(labels)
    if len(ids) != len(values):
        raise invalid("actuals", f"as many values as prediction_ids ({len(ids)})",
                      f"{len(values)} values")
    if len(ids) == 0:
        return None
    if ids.is_duplicated().any():
        raise invalid("prediction_ids", "unique ids", ids.filter(ids.is_duplicated())[0])
    arrow, column = label_values(values, task_of(ids))
    return LabelRequest(model_name, ver, ids.to_arrow().cast(pa.string()), arrow, column,
                        on_unknown == "skip")
