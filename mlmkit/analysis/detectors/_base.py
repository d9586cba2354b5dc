"""The contract every streaming drift detector follows.

Input convention (the same for every detector)
----------------------------------------------
Detectors watch the time-ordered **error stream** of a model: ``x = 1`` means an error (a
misclassification), ``x = 0`` a correct prediction; ``True`` / ``False`` work too. DDM and EDDM
accept only these two values. ADWIN, Page-Hinkley and CUSUM also accept any finite real value
(a per-row loss, an absolute error, a score), so "up" always means "more errors / larger values".

Life cycle
----------
``update(x)`` consumes one observation and returns the detector, so calls chain.
``drift_detected`` is True right after the update that detected a change; the next ``update``
then starts afresh (statistics re-learnt from the new concept, as in River), so one change
gives one alarm.
``warning_detected`` is True while the detector is in its warning zone (DDM, EDDM; the others
never warn). ``n_seen`` counts updates since construction or the last ``reset()``, which
restores the freshly constructed state.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Self

import numpy as np

from mlmkit._validation import invalid

_NUMBER_TYPES = (int, float, np.integer, np.floating, np.bool_)


class DriftDetector(abc.ABC):
    """Abstract base class of the streaming drift detectors.

    Subclasses implement ``_reset_statistics`` (forget the current concept) and ``_update``
    (consume one validated value and set ``_drift`` / ``_warning``). See the module docstring for
    the input convention and the life cycle.
    """

    #: True when only 0 (correct) and 1 (error) are accepted.
    binary_input: ClassVar[bool] = True

    def __init__(self) -> None:
        self._n_seen = 0
        self._drift = False
        self._warning = False
        self._reset_statistics()

    @property
    def drift_detected(self) -> bool:
        """Whether the last update detected a change."""
        return self._drift

    @property
    def warning_detected(self) -> bool:
        """Whether the detector is in its warning zone after the last update."""
        return self._warning

    @property
    def n_seen(self) -> int:
        """Number of updates since construction or the last `reset`."""
        return self._n_seen

    @property
    def params(self) -> dict[str, Any]:
        """Constructor parameters (enough to rebuild the detector with ``make_detector``)."""
        return dict(self._params())

    def update(self, x: Any) -> Self:
        """Consume one observation (1 = error, 0 = correct; reals where documented).

        Parameters
        ----------
        x : bool, int or float
            The next value of the stream.

        Returns
        -------
        Self
            The detector itself, so calls chain: ``detector.update(1).drift_detected``.

        Raises
        ------
        ValidationError
            When ``x`` is not 0 / 1 (binary detectors) or not a finite real number.
        """
        self._step(self._check(x))
        return self

    def _step(self, value: float) -> None:
        """Consume one checked value (a drift first starts the next concept)."""
        if self._drift:
            self._drift = self._warning = False
            self._reset_statistics()
        self._n_seen += 1
        self._update(value)

    def reset(self) -> None:
        """Restore the freshly constructed state (statistics, flags and ``n_seen``)."""
        self._n_seen = 0
        self._drift = False
        self._warning = False
        self._reset_statistics()

    def _feed(self, values: np.ndarray) -> tuple[list[int], list[int]]:
        """Drift and warning starts by position: `update` with each value of ``values`` in order.

        ``values``: float64, 1-D (`mlmkit.analysis.detectors.run_detector`). The stream is
        checked whole first (a bad value anywhere changes nothing, and its position is named),
        then fed through `_step` as `update` feeds each value, without its per-value check.
        """
        bad = ~np.isin(values, (0.0, 1.0)) if self.binary_input else ~np.isfinite(values)
        if bad.any():
            at = int(np.argmax(bad))
            raise invalid(f"stream[{at}]", self._expectation(), values[at].item())
        drifts: list[int] = []
        warnings: list[int] = []
        was = self._warning
        step = self._step
        for i, x in enumerate(values.tolist()):
            step(x)
            if self._drift:
                drifts.append(i)
            if self._warning and not was:
                warnings.append(i)
            was = self._warning
        return drifts, warnings

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def _check(self, x: Any) -> float:
        if not isinstance(x, _NUMBER_TYPES):
            raise invalid("x", self._expectation(), x)
        value = float(x)
        if self.binary_input:
            if value != 0.0 and value != 1.0:
                raise invalid("x", self._expectation(), x)
        elif value - value != 0.0:  # NaN or infinite
            raise invalid("x", self._expectation(), x)
        return value

    def _expectation(self) -> str:
        if self.binary_input:
            return "0 (correct) or 1 (error)"
        return "a finite real number (1 = error, 0 = correct for error streams)"

    @abc.abstractmethod
    def _params(self) -> dict[str, Any]:
        """Constructor parameters by name."""

    @abc.abstractmethod
    def _reset_statistics(self) -> None:
        """Forget the current concept (called at construction, after a drift, by reset)."""

    @abc.abstractmethod
    def _update(self, x: float) -> None:
        """Consume one validated value and set ``_drift`` / ``_warning``."""


class SidedDetector(DriftDetector):
    """A `DriftDetector` that also tells on which side its last drift was (private base).

    Subclasses set ``self._drift, self._direction = True, "up"`` (or ``"down"``) in ``_update``.
    """

    def __init__(self) -> None:
        self._direction: str | None = None
        super().__init__()

    @property
    def drift_direction(self) -> str | None:
        """Side of the last drift: "up" (increase), "down" (decrease) or None."""
        return self._direction

    def reset(self) -> None:
        """Restore the freshly constructed state (statistics, flags and ``n_seen``)."""
        super().reset()
        self._direction = None
