"""ADWIN, ADaptive WINdowing (Bifet and Gavaldà, 2007), with exponential-histogram buckets."""

from __future__ import annotations

import math
from typing import Any

from mlmkit._validation import check_int, check_real
from mlmkit.analysis.detectors._base import DriftDetector

__all__ = ["ADWIN"]


class ADWIN(DriftDetector):
    r"""ADaptive WINdowing: drop the old part of a window whose mean differs from the recent part.

    The window is stored as an exponential histogram (ADWIN2): row ``i`` holds at most
    ``max_buckets`` buckets of :math:`2^i` observations, each keeping its sum and its sum of
    squared deviations, so memory and the cut check are O(log n) and an update is amortised
    O(1). Every ``clock`` updates, each split of the window at a bucket boundary into an old
    part (:math:`n_0` observations, mean :math:`\mu_0`) and a recent part
    (:math:`n_1, \mu_1`) is tested with the variance-based bound

    .. math::

        |\mu_0 - \mu_1| > \sqrt{2 m \sigma^2_W \ln(2 \ln n / \delta)}
        + \tfrac{2}{3} m \ln(2 \ln n / \delta), \quad
        m = \tfrac{1}{n_0 - M + 1} + \tfrac{1}{n_1 - M + 1}

    (:math:`\sigma^2_W` the window variance, :math:`M` = ``min_window_length``); while a cut
    holds, the oldest bucket is dropped and a drift is signalled. Changes in either direction
    are detected; ADWIN never warns. Input: 1 = error, 0 = correct, or any finite real value.

    Parameters
    ----------
    delta : float, default 0.002
        Confidence of the cut test (River / MOA default); smaller means fewer false alarms and
        slower detection.
    clock : int, default 32
        Check for cuts every ``clock`` updates (River default).
    max_buckets : int, default 5
        Buckets per row before two are merged (River / MOA ``M``).
    min_window_length : int, default 5
        Minimum observations on each side of a cut.
    grace_period : int, default 10
        Observations in the window before cuts are checked.

    Notes
    -----
    Delay: error rate 0.1 → 0.4 after 5,000 observations is signalled within about 100
    observations (tested: < 500). No alarm on 50,000 stationary observations at error rate 0.1
    (tested on several seeds). ``width`` and ``estimation`` expose the current window.

    References
    ----------
    Bifet, A., Gavaldà, R. (2007). Learning from time-changing data with adaptive windowing.
    SIAM International Conference on Data Mining, 443-448.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.random(5000) < 0.1, rng.random(2000) < 0.4])
    >>> adwin = ADWIN()
    >>> [i for i, x in enumerate(stream) if adwin.update(x).drift_detected]
    [5119]
    >>> adwin.width, round(adwin.estimation, 3)
    (1880, 0.39)
    """

    binary_input = False

    def __init__(self, *, delta: float = 0.002, clock: int = 32, max_buckets: int = 5,
                 min_window_length: int = 5, grace_period: int = 10) -> None:
        self.delta = check_real("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
        self.clock = check_int("clock", clock, low=1)
        self.max_buckets = check_int("max_buckets", max_buckets, low=2)
        self.min_window_length = check_int("min_window_length", min_window_length, low=1)
        self.grace_period = check_int("grace_period", grace_period, low=1)
        super().__init__()

    @property
    def width(self) -> int:
        """Number of observations in the current window."""
        return self._width

    @property
    def estimation(self) -> float:
        """Mean of the current window (NaN when empty)."""
        return self._total / self._width if self._width else math.nan

    def _params(self) -> dict[str, Any]:
        return {"delta": self.delta, "clock": self.clock, "max_buckets": self.max_buckets,
                "min_window_length": self.min_window_length, "grace_period": self.grace_period}

    def _reset_statistics(self) -> None:
        # _totals[i] / _m2s[i]: buckets of 2**i observations, oldest first.
        self._totals: list[list[float]] = [[]]
        self._m2s: list[list[float]] = [[]]
        self._width = 0
        self._total = 0.0
        self._m2 = 0.0
        self._tick = 0

    def _update(self, x: float) -> None:
        if self._width:
            mean = self._total / self._width
            gap = x - mean  # (squared by a product: inf, not OverflowError, past 1.8e308)
            self._m2 += self._width * gap * gap / (self._width + 1)
        self._width += 1
        self._total += x
        self._totals[0].append(x)
        self._m2s[0].append(0.0)
        self._compress()
        self._tick += 1
        if self._tick % self.clock == 0 and self._width > self.grace_period:
            while self._cut_found():
                self._drop_oldest()
                self._drift = True

    def _compress(self) -> None:
        row = 0
        while len(self._totals[row]) > self.max_buckets:
            if row + 1 == len(self._totals):
                self._totals.append([])
                self._m2s.append([])
            size = float(1 << row)
            totals, m2s = self._totals[row], self._m2s[row]
            t1, t2 = totals.pop(0), totals.pop(0)
            v1, v2 = m2s.pop(0), m2s.pop(0)
            gap = t1 / size - t2 / size
            merged_m2 = v1 + v2 + size * size * gap * gap / (2.0 * size)
            self._totals[row + 1].append(t1 + t2)
            self._m2s[row + 1].append(merged_m2)
            row += 1

    def _cut_found(self) -> bool:
        width = self._width
        minimum = self.min_window_length
        if width <= 1:
            return False
        log_term = math.log(2.0 * math.log(width) / self.delta)
        variance = self._m2 / width
        n0 = 0.0
        u0 = 0.0
        for row in range(len(self._totals) - 1, -1, -1):
            size = float(1 << row)
            for total in self._totals[row]:
                n0 += size
                u0 += total
                n1 = width - n0
                if n1 < minimum:
                    return False
                if n0 < minimum:
                    continue
                m = 1.0 / (n0 - minimum + 1) + 1.0 / (n1 - minimum + 1)
                epsilon = math.sqrt(2.0 * m * variance * log_term) + 2.0 / 3.0 * log_term * m
                if abs(u0 / n0 - (self._total - u0) / n1) > epsilon:
                    return True
        return False

    def _drop_oldest(self) -> None:
        row = len(self._totals) - 1
        while not self._totals[row]:
            row -= 1
        size = float(1 << row)
        total = self._totals[row].pop(0)
        m2 = self._m2s[row].pop(0)
        self._width -= int(size)
        self._total -= total
        if self._width:
            mean_rest = self._total / self._width
            gap = total / size - mean_rest
            self._m2 -= m2 + size * self._width * gap * gap / (size + self._width)
            self._m2 = max(self._m2, 0.0)
        else:
            self._m2 = 0.0
        while len(self._totals) > 1 and not self._totals[-1]:
            self._totals.pop()
            self._m2s.pop()
