"""The multiclass bootstraps draw their K² cells in chunks: the same draws, bounded memory.

One draw of 2,000 resamples of a K x K matrix held 2,000 * K² int64 cells (and a float copy):
16 GB at 1,000 classes, so a degradation check or A/B test of a model with many classes
could take the machine down. Now at most `_CELLS_AT_ONCE` cells at a time.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from mlmkit.analysis.metrics.multiclass import confusion
from mlmkit.analysis.metrics.multiclass.confusion import multiclass_bootstrap_interval
from mlmkit.analysis.stats.tasks import bootstrap_class_metric


def _matrix(k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.integers(0, 3, (k, k))
    m[np.arange(k), np.arange(k)] += rng.integers(20, 40, k)
    return m


@pytest.mark.parametrize("cells", [1, 7 * 16, 10**9])  # one resample a chunk, 7, all at once
def test_chunks_give_the_draws_of_one_multinomial_call(monkeypatch, cells: int) -> None:
    a, b = _matrix(4, 1), _matrix(4, 2)
    monkeypatch.setattr(confusion, "_CELLS_AT_ONCE", 10**9)
    whole = (multiclass_bootstrap_interval(a, n_resamples=300, seed=3),
             bootstrap_class_metric(a, b, n_resamples=300, seed=4))
    monkeypatch.setattr(confusion, "_CELLS_AT_ONCE", cells)
    chunked = (multiclass_bootstrap_interval(a, n_resamples=300, seed=3),
               bootstrap_class_metric(a, b, n_resamples=300, seed=4))
    assert chunked[0] == whole[0]
    assert (chunked[1].p_value, chunked[1].ci, chunked[1].effect) == (
        whole[1].p_value, whole[1].ci, whole[1].effect)


def test_many_classes_bootstrap_in_bounded_memory() -> None:
    a, b = _matrix(200, 5), _matrix(200, 6)  # one draw: 2 x 500 x 40,000 cells, 640 MB
    tracemalloc.start()  # (numpy reports its arrays to tracemalloc)
    try:
        result = bootstrap_class_metric(a, b, n_resamples=500, seed=1)
        interval = multiclass_bootstrap_interval(a, n_resamples=500, seed=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 300 * 2**20, peak
    assert 0.0 <= result.p_value <= 1.0 and interval.low <= interval.estimate <= interval.high
