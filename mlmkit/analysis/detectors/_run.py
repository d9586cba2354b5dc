"""Run a detector over a whole stream; the detector registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlmkit._html import dict_table
from mlmkit._validation import check_choice, invalid
from mlmkit.analysis.detectors._base import DriftDetector
from mlmkit.analysis.detectors.adwin import ADWIN
from mlmkit.analysis.detectors.cusum import CUSUM
from mlmkit.analysis.detectors.ddm import DDM
from mlmkit.analysis.detectors.eddm import EDDM
from mlmkit.analysis.detectors.page_hinkley import PageHinkley

#: Detector classes by registry name (used by `make_detector` and alert configs).
DETECTORS: dict[str, type[DriftDetector]] = {
    "adwin": ADWIN,
    "cusum": CUSUM,
    "ddm": DDM,
    "eddm": EDDM,
    "page_hinkley": PageHinkley,
}


def make_detector(name: str, **params: Any) -> DriftDetector:
    """Build a detector from its registry name and keyword parameters.

    Parameters
    ----------
    name : str
        One of `DETECTORS` (``"adwin"``, ``"cusum"``, ``"ddm"``, ``"eddm"``,
        ``"page_hinkley"``).
    **params
        Constructor parameters of that detector; ``detector.params`` round-trips.

    Returns
    -------
    DriftDetector

    Raises
    ------
    ValidationError
        Unknown name, unknown parameter or bad parameter value.

    Examples
    --------
    >>> make_detector("page_hinkley", mode="up", threshold=50.0)
    PageHinkley(min_instances=30, delta=0.005, threshold=50.0, alpha=1.0, mode='up')
    >>> make_detector("ddm", **make_detector("ddm").params).params["drift_threshold"]
    4.0
    """
    cls = DETECTORS[check_choice("name", name, DETECTORS)]
    try:
        return cls(**params)
    except TypeError as err:
        raise invalid("params", f"keyword parameters of {cls.__name__}", sorted(params)) from err


@dataclass(frozen=True)
class DetectionResult:
    """Where a detector fired over a stream (indices are 0-based positions in that stream).

    Attributes
    ----------
    detector : str
        ``repr`` of the detector (name and parameters).
    n : int
        Length of the stream.
    drift_indices : tuple of int
        Positions whose update set ``drift_detected``.
    warning_indices : tuple of int
        Positions where a warning zone started (``warning_detected`` turned on).
    """

    detector: str
    n: int
    drift_indices: tuple[int, ...]
    warning_indices: tuple[int, ...]

    @property
    def drift_detected(self) -> bool:
        """Whether any drift fired."""
        return bool(self.drift_indices)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict (indices as lists)."""
        return {"detector": self.detector, "n": self.n,
                "drift_indices": list(self.drift_indices),
                "warning_indices": list(self.warning_indices)}

    def to_frame(self) -> pl.DataFrame:
        """One row per event: ``index`` (int64) and ``event`` ("drift" / "warning"), by index."""
        events = [(i, "warning") for i in self.warning_indices]
        events += [(i, "drift") for i in self.drift_indices]
        events.sort()
        return pl.DataFrame({"index": [e[0] for e in events], "event": [e[1] for e in events]},
                            schema={"index": pl.Int64, "event": pl.String})

    def _repr_html_(self) -> str:
        return dict_table(self.to_dict(), title="DetectionResult")


def run_detector(detector: DriftDetector, stream: Any) -> DetectionResult:
    """Feed ``stream`` to ``detector`` in order and collect where it fired.

    The detector keeps its state before and after (so a monitor can feed consecutive chunks
    of the time-ordered error stream); call ``detector.reset()`` first for a fresh run.

    Parameters
    ----------
    detector : DriftDetector
        Any detector of this package.
    stream : array-like
        1-D values (1 = error, 0 = correct; reals for ADWIN, Page-Hinkley, CUSUM): a list,
        numpy array or polars Series.

    Returns
    -------
    DetectionResult

    Examples
    --------
    >>> import numpy as np
    >>> from mlmkit.analysis.detectors import DDM
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.random(5000) < 0.1, rng.random(2000) < 0.4])
    >>> result = run_detector(DDM(), stream)
    >>> result.drift_indices, result.warning_indices
    ((5220,), (5132,))
    >>> result.to_frame().rows()
    [(5132, 'warning'), (5220, 'drift')]
    """
    if not isinstance(detector, DriftDetector):
        raise invalid("detector", "a DriftDetector instance", detector)
    values = _as_stream(stream)
    drifts, warnings = detector._feed(values)
    return DetectionResult(detector=repr(detector), n=len(values), drift_indices=tuple(drifts),
                           warning_indices=tuple(warnings))


def _as_stream(stream: Any) -> np.ndarray:
    if isinstance(stream, pl.Series):
        stream = stream.to_numpy()
    try:
        array = np.asarray(stream)
    except (TypeError, ValueError) as err:
        raise invalid("stream", "a 1-D array-like of numbers", stream) from err
    if array.ndim != 1 or array.dtype.kind not in "biuf":
        raise invalid("stream", "a 1-D array-like of numbers", stream)
    return array.astype(np.float64)
