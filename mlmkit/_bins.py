"""Equal-width bins of a value range: one arithmetic for the SQL that counts and numpy that reads.

Every histogram statement puts a value ``x`` in bin ``floor((x - start) / width)`` clamped to
``[0, bins - 1]``, and the analysis reads the edges ``start + i * width``. `bin_spec` gives
``start`` and ``width`` for a range ``[lo, hi]`` (a window's smallest and largest value) and
both are finite numbers whatever the range: its ends are first clamped to ``±LIMIT`` (half the
largest float). Values of ``±1.7e308`` on both sides made ``hi - lo`` infinite, and the
statements wrote ``inf`` into their SQL (a DuckDB binder error that took the window down); an
error that overflowed to ``±inf`` (``1.7e308 - (-1.7e308)``) did the same. Inside the clamped
range ``x - start`` stays finite; a value beyond it counts in an end bin, as any value outside
a histogram's range does, and `bin_edges` widens the end bins to the true ``lo`` / ``hi`` (at
most ``±1.8e308``) so a quantile's bracket still holds it. The width is at least a few units
in the last place of the range's ends, so the edges always increase. Below ``±LIMIT`` and for
ranges wider than that (every range a float can sum or square anyway) the arithmetic is what
it always was.
"""

from __future__ import annotations

import math
import sys
from typing import TypeAlias

import numpy as np

__all__ = ["LIMIT", "bin_edges", "bin_spec"]

LIMIT = sys.float_info.max / 2
"""The largest magnitude a bin range spans to: ``hi - lo`` of two such ends is finite."""

_Floats: TypeAlias = "np.ndarray[tuple[int], np.dtype[np.float64]]"


def bin_spec(lo: float, hi: float, bins: int) -> tuple[float, float]:
    """``(start, width)`` of ``bins`` equal bins on ``[lo, hi]`` (width 1 when ``hi <= lo``).

    >>> bin_spec(0.0, 10.0, 5)
    (0.0, 2.0)
    >>> start, width = bin_spec(-math.inf, 1.7e308, 4)
    >>> math.isfinite(start) and math.isfinite(width) and width > 0
    True
    """
    start, end = min(max(float(lo), -LIMIT), LIMIT), max(min(float(hi), LIMIT), -LIMIT)
    # at least two units in the last place past the range's largest end, so that the edges
    # increase: a constant window of 1e20 (width 1.0 below its ulp of 16384) had 10,001 equal
    # edges; width 1.0 stays the width of a constant range of smaller values
    floor = 4.0 * math.ulp(max(abs(start), abs(end)))  # (twice the ulp of the next binade)
    width = (end - start) / bins if end > start else max(1.0, floor)
    return start, max(width, floor)


def bin_edges(lo: float, hi: float, bins: int) -> _Floats:
    """The ``bins + 1`` edges `bin_spec` counts on, the end bins reaching ``lo`` and ``hi``.

    >>> bin_edges(0.0, 1.0, 4).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    start, width = bin_spec(lo, hi, bins)
    edges = start + width * np.arange(bins + 1, dtype=np.float64)
    top = sys.float_info.max  # (an infinite residual counts in an end bin reaching ±max)
    edges[0] = min(edges[0], max(lo, -top))
    edges[-1] = max(edges[-1], min(hi, top))
    return edges
