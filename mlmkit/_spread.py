"""When a spread computed from plain sums has lost its digits: one rule for store and analysis.

A variance from ``(n, Σx, Σx²)`` is ``Σx² - (Σx)²/n`` divided by ``n - 1``: the subtraction
keeps about ``16 - log10(Σx² / spread)`` of a float's 16 significant digits, so values whose
mean dwarfs their spread (errors of a model off by a constant 1e9 ± 1, epoch-second targets
1.7e9 ± 60) leave rounding noise, often clipped to a spread of exactly 0. `cancels` says when
fewer than half the digits remain (``Σx² > CANCELLATION * spread``): the engines then read
the sums again centred on the mean (`mlmkit.store.engines.tasks.centred`), cheap insurance.
A variance from sums that keep fewer than 3 digits (``Σx² > LOST * spread``) is not a number
(`mlmkit.analysis.metrics.variance_from_sums`): measured, errors of 1e6 ± 1 (ratio 1e12) still
gave their MAE interval to 3e-5, errors of 1e9 ± 1 (1e18) an interval 11 times too wide.
"""

from __future__ import annotations

import math

__all__ = ["CANCELLATION", "LOST", "cancels"]

CANCELLATION = 1e8
"""How many times its spread ``Σ(x - x̄)²`` a sum of squares ``Σx²`` may be (half the digits)."""

LOST = 1e13
"""Beyond this many times its spread, fewer than 3 of a float's 16 digits are left."""


def cancels(n: float, total: float, squares: float, ratio: float = CANCELLATION) -> bool:
    """Whether ``squares - total²/n`` (``n`` values) is below ``squares / ratio``.

    With the default ratio: fewer than half its digits are left; with `LOST`, fewer than 3.

    False for fewer than two values, a zero or non-finite sum (nothing to lose, or a spread
    that is unbounded anyway).
    """
    if n < 2 or not (math.isfinite(total) and math.isfinite(squares)) or not squares > 0:
        return False
    return (squares - total * total / n) * ratio < squares
