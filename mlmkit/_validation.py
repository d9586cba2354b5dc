"""One validation shape for every public argument.

Every check raises [`ValidationError`][mlmkit.exceptions.ValidationError] with the message
``"<name> must be <expectation>; got <value>"``, so users and tests read one shape.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Collection
from typing import Any, TypeVar

from mlmkit.exceptions import ValidationError

T = TypeVar("T")

_MAX_SHOWN = 80
_ROW = re.compile(r"(.+) \(row (\d+)\)")


def show(value: Any) -> str:
    """``repr(value)``, cut to 80 characters (the ``got ...`` part of an error message)."""
    return _show(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def invalid(name: str, expectation: str, value: Any) -> ValidationError:
    """Build the standard error for parameter ``name`` that received ``value``.

    Examples
    --------
    >>> str(invalid("alpha", "a float in (0, 0.5)", 2))
    'alpha must be a float in (0, 0.5); got 2'

    A name ending in ``" (row N)"`` (a batch column) sets the error's ``row``:

    >>> err = invalid("score (row 3)", "a float in [0, 1]", 1.5)
    >>> err.field, err.row, err.value
    ('score', 3, 1.5)
    """
    found = _ROW.fullmatch(name)
    field, row = (found.group(1), int(found.group(2))) if found else (name, None)
    return ValidationError(f"{name} must be {expectation}; got {_show(value)}", field=field,
                           row=row, value=value)


def check_real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False,
               infinite: bool = False) -> float:
    """Return ``value`` as float if it is a finite real number inside the given bounds.

    ``infinite``: an infinity inside the bounds passes too (a sum that overflowed), NaN never.
    """
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    bounds = f" in {lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    kind = "a number (infinite allowed, not NaN)" if infinite else "a finite number"
    expectation = kind + (bounds if low is not None or high is not None else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numpy as np

            if not isinstance(value, np.number) or isinstance(value, np.bool_):
                raise invalid(name, expectation, value)
        except ImportError:  # pragma: no cover - numpy is a hard dependency
            raise invalid(name, expectation, value) from None
    try:
        result = float(value)
    except OverflowError:  # an integer beyond the largest float (2**1100)
        raise invalid(name, expectation, value) from None
    if math.isnan(result) or (math.isinf(result) and not infinite):
        raise invalid(name, expectation, value)
    if low is not None and (result < low or (low_open and result == low)):
        raise invalid(name, expectation, value)
    if high is not None and (result > high or (high_open and result == high)):
        raise invalid(name, expectation, value)
    return result


def check_probability(name: str, value: Any, *, open_interval: bool = False) -> float:
    """Return ``value`` if it lies in [0, 1] (or (0, 1) with ``open_interval``)."""
    if type(value) is float and (0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0):
        return value  # the hot path of track(): a plain float in range (NaN fails both tests)
    return check_real(name, value, low=0.0, high=1.0, low_open=open_interval,
                      high_open=open_interval)


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` if it is an integer (not a bool) inside [low, high]."""
    parts = []
    if low is not None:
        parts.append(f">= {low}")
    if high is not None:
        parts.append(f"<= {high}")
    expectation = "an integer" + (" " + " and ".join(parts) if parts else "")
    if isinstance(value, bool) or not isinstance(value, int):
        import numpy as np

        if not isinstance(value, np.integer):
            raise invalid(name, expectation, value)
    result = int(value)
    if (low is not None and result < low) or (high is not None and result > high):
        raise invalid(name, expectation, value)
    return result


def check_choice(name: str, value: T, choices: Collection[T]) -> T:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        shown = ", ".join(repr(c) for c in sorted(choices, key=str))
        raise invalid(name, f"one of {shown}", value)
    return value


def check_name(name: str, value: Any) -> str:
    """Return ``value`` if it is a non-empty string without surrounding whitespace."""
    if type(value) is str and value and not value[0].isspace() and not value[-1].isspace():
        return value
    if not isinstance(value, str) or not value or value.strip() != value:
        raise invalid(name, "a non-empty string without surrounding whitespace", value)
    return value


def check_type(name: str, value: Any, types: type | tuple[type, ...], expectation: str) -> Any:
    """Return ``value`` if it is an instance of ``types``."""
    if not isinstance(value, types):
        raise invalid(name, expectation, value)
    return value


def env_limit(name: str, default: int, what: str) -> int:
    """The positive integer of the environment variable ``name`` (``default`` when unset).

    ``what`` says what it counts, for the error a bad value gets.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise invalid(name, f"a positive integer ({what})", text)
    return value
