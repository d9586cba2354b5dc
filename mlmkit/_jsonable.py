"""JSON values of model metadata: made canonical once, stored by every registry the same way.

[`ModelMetadata`][mlmkit.values.ModelMetadata] passes its ``configuration``, ``performance_metrics``
and ``metadata`` through `canonical`, so the in-memory and the DuckDB registry hold (and give
back) equal values:

- ``None``, ``bool``, ``int``, ``str`` and finite ``float`` stay (subclasses such as enums and
  ``numpy.str_`` become the plain type);
- numpy scalars become Python ``bool``/``int``/``float``; a ``float32``/``float16`` becomes the
  float of its shortest decimal form (``np.float32(0.7)`` → ``0.7``, not ``0.699999988…``);
- numpy arrays and tuples become lists; mappings become dicts (keys must be ``str``);
- a ``datetime`` becomes an aware UTC datetime (naive ones are taken as UTC) and is stored as
  the tagged object ``{"$datetime": "<ISO 8601>"}``, so it comes back as a datetime (an ISO
  string would come back as a string);
- anything JSON cannot hold faithfully (sets, bytes, dates, arbitrary objects, NaN and
  infinities, a mapping key ``"$datetime"``) raises
  [`ValidationError`][mlmkit.exceptions.ValidationError] naming the key path, e.g.
  ``configuration['grid'][2]``.

Examples
--------
>>> import numpy as np
>>> canonical("configuration", {"threshold": np.float32(0.7), "grid": np.arange(2)})
{'threshold': 0.7, 'grid': [0, 1]}
>>> canonical("metadata", {"tags": {"a"}})
Traceback (most recent call last):
...
mlmkit.exceptions.ValidationError: metadata['tags'] must be a JSON value (None, bool, int, \
finite float, str, datetime, list, or mapping with str keys); got {'a'}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias

from mlmkit._validation import invalid

__all__ = ["DATETIME_TAG", "JSONObject", "JSONValue", "canonical", "dumps", "finite", "loads"]

#: A JSON-friendly value as mlmkit results, alerts and reports hold it (``to_dict`` outputs,
#: alert payloads and details): JSON's types plus ``datetime`` (serialised by `dumps`
#: as a tagged object, or as an ISO string by a caller).
JSONValue: TypeAlias = (
    "bool | int | float | str | datetime | list[JSONValue] | dict[str, JSONValue] | None")
#: A JSON-friendly object: ``str`` keys, `JSONValue` values.
JSONObject: TypeAlias = "dict[str, JSONValue]"

DATETIME_TAG = "$datetime"
_EXPECTED = ("a JSON value (None, bool, int, finite float, str, datetime, list, or mapping "
             "with str keys)")


def canonical(path: str, value: Any) -> Any:
    """Return ``value`` as a canonical JSON value; raise ``ValidationError`` naming ``path``."""
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return value
    if kind is float:
        return _finite(path, value, value)
    if kind.__module__ == "numpy":
        return _numpy(path, value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _finite(path, float(value), value)
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return datetime.fromisoformat(aware.isoformat())  # a plain datetime, not a subclass
    if isinstance(value, Mapping):
        return _mapping(path, value)
    if isinstance(value, list | tuple):
        return [canonical(f"{path}[{i}]", item) for i, item in enumerate(value)]
    raise invalid(path, _EXPECTED, value)


def _mapping(path: str, value: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise invalid(f"{path} key", "a str", key)
        if key == DATETIME_TAG:
            raise invalid(f"{path} key", f"not {DATETIME_TAG!r} (reserved for datetimes)", key)
        out[str.__str__(key)] = canonical(f"{path}[{key!r}]", item)
    return out


def _finite(path: str, number: float, original: Any) -> float:
    if not math.isfinite(number):
        raise invalid(path, "a finite number (JSON holds no NaN or infinity)", original)
    return number


def _numpy(path: str, value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        number = float(value) if value.dtype.itemsize >= 8 else float(str(value))
        return _finite(path, number, value)
    if isinstance(value, np.str_):
        return str.__str__(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufU":
        return canonical(path, value.tolist())
    raise invalid(path, _EXPECTED, value)


def dumps(value: Any) -> str:
    """Serialise a canonical value; datetimes become ``{"$datetime": iso}``."""
    return json.dumps(value, default=_tag, allow_nan=False)


def finite(value: Any) -> Any:
    """``value`` with every NaN and infinite float (nested in mappings and lists) as ``None``.

    For JSON that reports measurements (alert details, API answers): an overflowed metric is
    ``null`` there, never a value JSON cannot hold. Mapping keys become ``str``.

    Examples
    --------
    >>> finite({"rmse": math.inf, "n": [1.5, math.nan]})
    {'rmse': None, 'n': [1.5, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def loads(text: str) -> Any:
    """Parse what `dumps` wrote (tagged datetimes come back as aware datetimes)."""
    return json.loads(text, object_hook=_untag)


def _tag(value: Any) -> Any:
    if isinstance(value, datetime):
        return {DATETIME_TAG: value.isoformat()}
    raise TypeError(f"{type(value).__name__} is not a canonical JSON value")


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and DATETIME_TAG in obj:
        return datetime.fromisoformat(obj[DATETIME_TAG])
    return obj
