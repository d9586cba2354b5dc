"""Streaming concept-drift detectors on a model's error stream, one algorithm per module.

Input convention, for every detector: ``x = 1`` is an error (a misclassification), ``x = 0`` a
correct prediction. DDM and EDDM accept only 0 / 1; ADWIN, Page-Hinkley and CUSUM also accept
any finite real value (a loss), "up" meaning worse. ``update(x)`` returns the detector;
``drift_detected``, ``warning_detected`` and ``n_seen`` are read-only; ``reset()`` restores the
initial state (details in `mlmkit.analysis.detectors._base`).

| name | algorithm | directions | warning |
| --- | --- | --- | --- |
| ``ddm`` | `DDM` (Gama et al. 2004) | up | yes |
| ``eddm`` | `EDDM` (Baena-García et al. 2006) | up | yes |
| ``adwin`` | `ADWIN` (Bifet & Gavaldà 2007) | up, down | no |
| ``page_hinkley`` | `PageHinkley` (Page 1954) | mode | no |
| ``cusum`` | `CUSUM` (two-sided tabular) | up, down | no |

[`run_detector`][mlmkit.analysis.detectors.run_detector] runs one over a whole stream and lists
the indices where it fired.
"""

from __future__ import annotations

from mlmkit.analysis.detectors._base import DriftDetector
from mlmkit.analysis.detectors._run import (
    DETECTORS,
    DetectionResult,
    make_detector,
    run_detector,
)
from mlmkit.analysis.detectors.adwin import ADWIN
from mlmkit.analysis.detectors.cusum import CUSUM
from mlmkit.analysis.detectors.ddm import DDM
from mlmkit.analysis.detectors.eddm import EDDM
from mlmkit.analysis.detectors.page_hinkley import PageHinkley

__all__ = [
    "ADWIN",
    "CUSUM",
    "DDM",
    "DETECTORS",
    "EDDM",
    "DetectionResult",
    "DriftDetector",
    "PageHinkley",
    "make_detector",
    "run_detector",
]
