"""One step of an adaptive threshold controller, on a threshold curve (pure)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from mlmkit._validation import check_choice, check_real
from mlmkit.analysis.metrics.intervals import html_table
from mlmkit.analysis.tuning.counts import counts_at_threshold, curve_arrays

__all__ = ["AdaptiveStep", "adaptive_threshold_step"]

_DIRECTIONS = ("raise", "lower", "hold")


@dataclass(frozen=True)
class AdaptiveStep:
    """One decision of the adaptive threshold controller.

    Attributes
    ----------
    direction : str
        ``"raise"``, ``"lower"`` or ``"hold"``.
    current_threshold, recommended_threshold : float
        Equal when holding.
    fp, fn, labelled : int
        False positives / negatives at ``current_threshold`` and rows they rest on.
    fp_rate, fn_rate : float
        ``fp / labelled`` and ``fn / labelled``.
    imbalance : float
        ``(fp - fn) / (fp + fn)`` in [-1, 1] (0 without errors).
    balance_threshold : float
        The threshold where false positives and false negatives are closest (the target).
    band : float
        The dead band applied (wider when the move would reverse the last one).
    reason : str
        Why the controller moved or held.
    """

    direction: str
    current_threshold: float
    recommended_threshold: float
    fp: int
    fn: int
    labelled: int
    fp_rate: float
    fn_rate: float
    imbalance: float
    balance_threshold: float
    band: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return asdict(self)

    def _repr_html_(self) -> str:
        return html_table(self.to_dict(), title="AdaptiveStep")


def adaptive_threshold_step(curve: pl.DataFrame, *, current: float, max_step: float = 0.05,
                            dead_band: float = 0.2, last_direction: str = "hold",
                            reversal_factor: float = 2.0,
                            bounds: tuple[float, float] = (0.0, 1.0)) -> AdaptiveStep:
    """Raise the threshold when false positives dominate, lower it when false negatives do.

    The controller moves towards the *balance threshold* (where FP and FN counts are closest)
    by at most ``max_step``, so it never overshoots the balance point. It holds while the
    imbalance ``(fp - fn) / (fp + fn)`` stays within ``dead_band``; reversing the previous
    move (``last_direction``) needs ``reversal_factor`` times the band (hysteresis), so noise
    around the balance point does not make it flip-flop between runs.

    Examples
    --------
    >>> from mlmkit.analysis.thresholds.curve import threshold_curve
    >>> y = [0, 0, 0, 0, 1, 1]
    >>> s = [0.1, 0.6, 0.7, 0.8, 0.75, 0.9]
    >>> step = adaptive_threshold_step(threshold_curve(y, s), current=0.5)
    >>> step.direction, step.recommended_threshold, step.fp, step.fn
    ('raise', 0.55, 3, 0)
    """
    thresholds, counts = curve_arrays(curve)
    current = check_real("current", current)
    max_step = check_real("max_step", max_step, low=0.0, low_open=True)
    dead_band = check_real("dead_band", dead_band, low=0.0, high=1.0, high_open=True)
    reversal_factor = check_real("reversal_factor", reversal_factor, low=1.0)
    check_choice("last_direction", last_direction, _DIRECTIONS)
    at = counts_at_threshold(curve, current)
    fp, fn = at["fp"], at["fn"]
    labelled = sum(at.values())
    errors = fp + fn
    imbalance = (fp - fn) / errors if errors else 0.0
    gap = np.abs(counts["fp"] - counts["fn"])
    near = np.flatnonzero(gap == gap.min())
    balance = float(thresholds[near[np.argmin(np.abs(thresholds[near] - current))]])
    proposed = "raise" if imbalance > 0 else "lower" if imbalance < 0 else "hold"
    reverses = {proposed, last_direction} == {"raise", "lower"}
    band = dead_band * (reversal_factor if reverses else 1.0)
    move = float(np.clip(balance - current, -max_step, max_step))
    recommended = float(np.clip(round(current + move, 12), *bounds))
    rates = f"FP rate {fp / max(labelled, 1):.3%}, FN rate {fn / max(labelled, 1):.3%}"
    if errors == 0:
        direction, reason = "hold", f"no errors at threshold {current:g}"
    elif abs(imbalance) <= band:
        direction = "hold"
        reason = (f"{rates}: imbalance {imbalance:+.3f} within the dead band ±{band:.3f}"
                  + (" (widened: the move would reverse the last one)" if reverses else ""))
    elif (move > 0) != (proposed == "raise") or recommended == current:
        direction = "hold"
        reason = f"{rates}: already at the balance threshold {balance:g}"
    else:
        direction = proposed
        dominant = "false positives" if proposed == "raise" else "false negatives"
        reason = (f"{rates}: {dominant} dominate (imbalance {imbalance:+.3f}); {direction} "
                  f"{current:g} -> {recommended:g} towards the balance threshold {balance:g}")
    if direction == "hold":
        recommended = current
    return AdaptiveStep(direction=direction, current_threshold=current,
                        recommended_threshold=recommended, fp=fp, fn=fn, labelled=labelled,
                        fp_rate=fp / labelled if labelled else math.nan,
                        fn_rate=fn / labelled if labelled else math.nan, imbalance=imbalance,
                        balance_threshold=balance, band=band, reason=reason)
