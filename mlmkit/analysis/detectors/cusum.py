"""Two-sided tabular CUSUM (Page, 1954; Montgomery, Introduction to Statistical Quality Control)."""

from __future__ import annotations

import math
from typing import Any

from mlmkit._validation import check_int, check_real
from mlmkit.analysis.detectors._base import SidedDetector

__all__ = ["CUSUM"]


class CUSUM(SidedDetector):
    r"""Two-sided tabular CUSUM around a target mean, in units of the standard deviation.

    .. math::

        C^+_t = \max(0, C^+_{t-1} + x_t - \mu_0 - k\sigma), \qquad
        C^-_t = \max(0, C^-_{t-1} + \mu_0 - x_t - k\sigma),

    and a drift is signalled when :math:`C^+_t > h\sigma` (increase) or
    :math:`C^-_t > h\sigma` (decrease). :math:`\mu_0` and :math:`\sigma` are given, or
    estimated from the first ``warm_start`` observations of each concept (for a 0/1 stream
    :math:`\sigma = \sqrt{\tilde p (1 - \tilde p)}` with :math:`\tilde p = (e + 0.5) / (n + 1)`,
    so an error-free warm-up does not give :math:`\sigma = 0`). Input: 1 = error, 0 = correct,
    or any finite real value. CUSUM never warns.

    Parameters
    ----------
    target : float, optional
        In-control mean :math:`\mu_0` (e.g. the reference error rate); estimated if None.
    sigma : float, optional
        In-control standard deviation; estimated if None.
    k : float, default 0.5
        Allowance in standard deviations; 0.5 is optimal for a shift of one sigma.
    h : float, default 25.0
        Decision interval in standard deviations. The textbook 4-5 suits normal data checked
        for a few hundred points; a skewed 0/1 error stream watched for 50,000 points needs a
        larger interval (in-control run length grows roughly like ``exp(0.6 h)`` at error rate
        0.1).
    warm_start : int, default 500
        Observations used to estimate ``target`` / ``sigma`` when they are not given.

    Notes
    -----
    Delay: error rate 0.1 → 0.4 after 5,000 observations (a one-sigma shift) is signalled
    within about 60 observations (tested: < 300). No alarm on 50,000 stationary observations
    at error rate 0.1 (tested on several seeds). ``drift_direction`` tells which side fired.

    References
    ----------
    Page, E. S. (1954). Continuous inspection schemes. Biometrika 41(1/2), 100-115.
    Montgomery, D. C. (2009). Introduction to Statistical Quality Control, 6th ed., ch. 9.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.random(5000) < 0.1, rng.random(2000) < 0.4])
    >>> cusum = CUSUM()
    >>> [i for i, x in enumerate(stream) if cusum.update(x).drift_detected], cusum.drift_direction
    ([5090], 'up')
    """

    binary_input = False

    def __init__(self, *, target: float | None = None, sigma: float | None = None,
                 k: float = 0.5, h: float = 25.0, warm_start: int = 500) -> None:
        self.target = None if target is None else check_real("target", target)
        self.sigma = None if sigma is None else check_real("sigma", sigma, low=0.0,
                                                           low_open=True)
        self.k = check_real("k", k, low=0.0)
        self.h = check_real("h", h, low=0.0, low_open=True)
        self.warm_start = check_int("warm_start", warm_start, low=2)
        super().__init__()

    def _params(self) -> dict[str, Any]:
        return {"target": self.target, "sigma": self.sigma, "k": self.k, "h": self.h,
                "warm_start": self.warm_start}

    def _reset_statistics(self) -> None:
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._binary = True
        self._high = 0.0
        self._low = 0.0
        self._mu0 = math.nan
        self._sd = math.nan
        if self.target is not None and self.sigma is not None:
            self._mu0, self._sd = self.target, self.sigma

    def _update(self, x: float) -> None:
        if self._mu0 != self._mu0 or self._sd != self._sd:  # still estimating
            self._learn(x)
            return
        slack = self.k * self._sd
        self._high = max(0.0, self._high + x - self._mu0 - slack)
        self._low = max(0.0, self._low + self._mu0 - x - slack)
        limit = self.h * self._sd
        if self._high > limit:
            self._drift, self._direction = True, "up"
        elif self._low > limit:
            self._drift, self._direction = True, "down"

    def _learn(self, x: float) -> None:
        self._n += 1
        delta = x - self._mean
        self._mean += delta / self._n
        self._m2 += delta * (x - self._mean)
        self._binary = self._binary and x in (0.0, 1.0)
        if self._n < self.warm_start:
            return
        self._mu0 = self._mean if self.target is None else self.target
        if self.sigma is not None:
            self._sd = self.sigma
        elif self._binary:
            p = (self._mean * self._n + 0.5) / (self._n + 1)
            self._sd = math.sqrt(p * (1.0 - p))
        else:
            self._sd = math.sqrt(self._m2 / (self._n - 1)) or 1e-12
