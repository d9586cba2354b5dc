"""Metrics benchmark: 1e7 rows at scale 1.0 (issue 3 targets).

- count-based metrics (``binary_classification_metrics`` without scores) vs scikit-learn's
  ``accuracy_score + precision_score + recall_score + f1_score + confusion_matrix``: >= 20x;
- exact ROC AUC (``metrics.roc_auc``, one sort) vs ``roc_auc_score``: >= 2x;
- histogram ROC AUC from 10,000 uniform-bin counts (what a store aggregate would hand over)
  vs ``roc_auc_score`` on the rows: reported, with its error bound (target: bound <= 1e-4
  and realised error <= bound).

Each timing is the best of ``repeats`` runs (1 at scale 1.0). Ratios are baseline / mlmkit
(higher is better). Run: ``.venv/bin/python -m benchmarks.bench_metrics [scale]``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from sklearn import metrics as skm

from benchmarks._common import best_run
from mlmkit.analysis import metrics as mm


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = rng.beta(2.0, 5.0, n)
    actual = (rng.random(n) < score).astype(np.int64)
    predicted = (score >= 0.3).astype(np.int64)
    return actual, predicted, score


def _sklearn_counts(actual: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    return {
        "accuracy": skm.accuracy_score(actual, predicted),
        "precision": skm.precision_score(actual, predicted),
        "recall": skm.recall_score(actual, predicted),
        "f1_score": skm.f1_score(actual, predicted),
        "confusion_matrix": skm.confusion_matrix(actual, predicted),
    }


def _histogram_auc(actual: np.ndarray, score: np.ndarray, bins: int) -> tuple[float, float]:
    index = np.minimum((score * bins).astype(np.int64), bins - 1)
    positive = actual.astype(bool)
    pos = np.bincount(index[positive], minlength=bins)
    neg = np.bincount(index[~positive], minlength=bins)
    return mm.auc_from_histograms(pos, neg), mm.auc_histogram_error_bound(pos, neg)


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    """Run the metric benchmarks on ``int(1e7 * scale)`` rows and return the result rows."""
    n = max(1_000, int(10_000_000 * scale))
    repeats = 1 if scale >= 0.5 else 3
    actual, predicted, score = _data(n)
    rows: list[dict[str, Any]] = []

    ours_s, ours = best_run(lambda: mm.binary_classification_metrics(actual, predicted), repeats)
    base_s, base = best_run(lambda: _sklearn_counts(actual, predicted), repeats)
    assert abs(ours["f1_score"] - base["f1_score"]) < 1e-9
    rows.append({"benchmark": f"count metrics, {n:,} rows", "mlmkit_s": ours_s,
                 "baseline": "sklearn accuracy+precision+recall+f1+confusion_matrix",
                 "baseline_s": base_s, "ratio": base_s / ours_s,
                 "target": "ratio >= 20 (baseline_s / mlmkit_s)",
                 "ok": base_s / ours_s >= 20})

    ours_s, auc = best_run(lambda: mm.roc_auc(actual, score), repeats)
    base_s, exact = best_run(lambda: skm.roc_auc_score(actual, score), repeats)
    assert abs(auc - exact) < 1e-9
    rows.append({"benchmark": f"exact ROC AUC, {n:,} rows", "mlmkit_s": ours_s,
                 "baseline": "sklearn roc_auc_score", "baseline_s": base_s,
                 "ratio": base_s / ours_s, "target": "ratio >= 2 (baseline_s / mlmkit_s)",
                 "ok": base_s / ours_s >= 2})

    bins = 10_000
    ours_s, (approx, bound) = best_run(lambda: _histogram_auc(actual, score, bins), repeats)
    error = abs(approx - exact)
    rows.append({"benchmark": f"histogram ROC AUC ({bins:,} bins, incl. binning), {n:,} rows "
                              f"[error {error:.1e}, bound {bound:.1e}]",
                 "mlmkit_s": ours_s, "baseline": "sklearn roc_auc_score",
                 "baseline_s": base_s, "ratio": base_s / ours_s,
                 "target": "error <= bound <= 1e-4", "ok": error <= bound <= 1e-4})
    return rows


if __name__ == "__main__":
    for row in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(f"{row['benchmark']:<80} mlmkit {row['mlmkit_s']:8.3f}s  "
              f"{row['baseline']} {row['baseline_s']:8.3f}s  ratio {row['ratio']:7.1f}  "
              f"{row['target']}  ok={row['ok']}")
