"""Input conversion and validation shared by the metric functions (private).

Every public metric accepts numpy arrays, lists, polars / pandas Series (anything with
``to_numpy``); labels must be bool or 0/1, scores finite probabilities in [0, 1]. Violations
raise [`ValidationError`][mlmkit.exceptions.ValidationError] naming the argument.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmkit._validation import invalid
from mlmkit.exceptions import ValidationError

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def as_1d(name: str, values: Any) -> np.ndarray:
    """Return ``values`` as a 1-D numpy array (polars / pandas / pyarrow via ``to_numpy``)."""
    if not isinstance(values, np.ndarray) and hasattr(values, "to_numpy"):
        values = values.to_numpy()
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise invalid(name, "a 1-D array-like", values) from err
    if arr.ndim == 0:
        raise invalid(name, "a 1-D array-like", values)
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be a 1-D array-like; got shape {arr.shape}")
    return arr


def as_binary(name: str, values: Any) -> BoolArray:
    """Return ``values`` as a bool array, checking that it holds only bool or 0/1."""
    arr = as_1d(name, values)
    expectation = "binary (bool or 0/1) values"
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise invalid(name, expectation, _first_non_binary(arr)) from err
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise invalid(name, expectation, _first_non_binary(arr))
        return arr != 0
    if np.issubdtype(arr.dtype, np.floating):
        ones = arr == 1
        if not np.all(ones | (arr == 0)):
            raise invalid(name, expectation, _first_non_binary(arr))
        return ones
    raise invalid(name, expectation, _first_non_binary(arr))


def _first_non_binary(arr: np.ndarray) -> Any:
    for value in arr:
        if isinstance(value, (bool, np.bool_)):
            continue
        try:
            if value in (0, 1):
                continue
        except TypeError:
            pass
        return value.item() if isinstance(value, np.generic) else value
    return arr  # pragma: no cover - only called when a bad value exists


def as_score(name: str, values: Any) -> FloatArray:
    """Return ``values`` as float64, checking every value is a probability (no NaN)."""
    arr = as_1d(name, values)
    expectation = "probabilities in [0, 1] without NaN"
    try:
        out = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise invalid(name, expectation, arr[:5].tolist()) from err
    if out.size:
        low, high = out.min(), out.max()
        if not (low >= 0.0 and high <= 1.0):  # NaN fails both comparisons
            bad = np.flatnonzero(~((out >= 0.0) & (out <= 1.0)))[0]
            raise invalid(name, expectation, float(out[bad]))
    return out


def check_length(name: str, arr: np.ndarray, reference: str, n: int) -> None:
    """Raise unless ``arr`` has ``n`` elements (the length of ``reference``)."""
    if arr.shape[0] != n:
        raise ValidationError(
            f"{name} must have the same length as {reference} ({n}); got length {arr.shape[0]}"
        )


def as_counts(name: str, values: Any) -> IntArray:
    """Return ``values`` as a 1-D array of non-negative integer counts."""
    arr = as_1d(name, values)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise invalid(name, "non-negative integer counts", arr[:5].tolist())
    if arr.size and not (np.all(arr >= 0) and np.all(np.mod(arr, 1) == 0)):
        raise invalid(name, "non-negative integer counts", arr[:5].tolist())
    return arr.astype(np.int64)


class UndefinedMetricWarning(UserWarning):
    """A metric was 0/0 for the data given (e.g. no positives) and NaN was returned."""


def warn_undefined(names: list[str], reason: str, *, stacklevel: int = 3) -> None:
    """Emit one `UndefinedMetricWarning` for ``names``."""
    warnings.warn(
        f"{', '.join(names)} undefined ({reason}); returned NaN",
        UndefinedMetricWarning,
        stacklevel=stacklevel,
    )
