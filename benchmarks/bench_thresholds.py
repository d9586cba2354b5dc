"""Thresholds and streaming detectors benchmark (issue 3 targets).

- ``threshold_curve`` over 1e7 rows vs scikit-learn ``precision_recall_curve`` on the same
  arrays: >= 3x faster (ratio = sklearn / mlmkit). Both produce one row per distinct score.
- Streaming detectors: updates per second through ``run_detector`` on a 0/1 error stream
  (pure Python; information only, no target).

Run: ``.venv/bin/python -m benchmarks.bench_thresholds [scale]``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from benchmarks._common import best_seconds
from mlmkit.analysis.detectors import DETECTORS, make_detector, run_detector
from mlmkit.analysis.thresholds import threshold_curve


def _curve_rows(scale: float) -> list[dict[str, Any]]:
    from sklearn.metrics import precision_recall_curve

    n = max(1000, int(1e7 * scale))
    rng = np.random.default_rng(0)
    score = rng.random(n)
    actual = (rng.random(n) < score).astype(np.int64)
    repeats = 2 if n >= 1e6 else 5
    ours = best_seconds(lambda: threshold_curve(actual, score), repeats)
    theirs = best_seconds(lambda: precision_recall_curve(actual, score), repeats)
    ratio = theirs / ours
    return [{"benchmark": f"threshold_curve n={n:.0e}", "mlmkit_s": ours,
             "baseline": "sklearn precision_recall_curve", "baseline_s": theirs, "ratio": ratio,
             "target": ">= 3x faster (ratio = sklearn / mlmkit)", "ok": ratio >= 3.0}]


def _detector_rows(scale: float) -> list[dict[str, Any]]:
    n = max(2000, int(200_000 * scale))
    stream = (np.random.default_rng(1).random(n) < 0.1).astype(np.int8)
    rows = []
    for name in sorted(DETECTORS):
        seconds = best_seconds(lambda name=name: run_detector(make_detector(name), stream), 1)
        rows.append({"benchmark": f"detector {name} n={n}", "mlmkit_s": seconds,
                     "baseline": "(information)", "baseline_s": float("nan"),
                     "ratio": float("nan"), "target": f"{n / seconds:,.0f} updates/s",
                     "ok": True})
    return rows


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    """Run the thresholds and detector benchmarks at ``scale`` (1.0 = sizes of the issue)."""
    return _curve_rows(scale) + _detector_rows(scale)


if __name__ == "__main__":
    for row in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(row)
