"""Multiclass metrics, AUCs and bootstraps at many classes: O(cells + K), never K² or K x bins.

Before, every multiclass metric went through the dense K x K matrix: 20,000 classes is a
4e8-cell matrix (3.2 GB as int64, twice that as the float copy of the metric kernel), and a
window of a 10,000-class model took 6.5 s and 1.8 GB. Oracles: scikit-learn on the rows, and
the dense kernel `class_metric_draws` on the same resampled cells.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from mlmkit.analysis.estimation import estimate_multiclass_from_sums
from mlmkit.analysis.estimation import multiclass as cbpe_sums
from mlmkit.analysis.estimation.multiclass import MAX_CLASSES
from mlmkit.analysis.metrics import (
    UndefinedMetricWarning,
    multiclass_metrics,
    ovr_auc_from_bins,
    ovr_auc_from_histograms,
)
from mlmkit.analysis.metrics.multiclass import confusion
from mlmkit.analysis.metrics.multiclass.cells import DENSE_CELLS, as_cells
from mlmkit.analysis.stats.tasks import bootstrap_class_metric
from mlmkit.exceptions import MlmkitError

K = 20_000


def _rows(seed: int, n: int = 100_000, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.zipf(1.3, n) % k  # a long tail: most classes rare, some never seen
    p = np.where(rng.random(n) < 0.7, y, rng.integers(0, k, n))
    return y, p


def _counts(y: np.ndarray, p: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({"actual": y, "predicted": p}).group_by("actual", "predicted").len(
        "count")


def _quiet_metrics(frame: pl.DataFrame, labels: list[int]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return multiclass_metrics(frame, labels=labels)


def test_metrics_of_20000_classes_equal_sklearn_in_bounded_memory() -> None:
    y, p = _rows(1)
    labels = list(range(K))
    frame = _counts(y, p)
    tracemalloc.start()
    try:
        m = _quiet_metrics(frame, labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, peak  # the dense matrix alone: 3.2 GB
    assert m.n == y.size and m.accuracy == pytest.approx(accuracy_score(y, p), abs=1e-12)
    assert m.correct == int((y == p).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for avg in ("macro", "weighted", "micro"):
            pr, rc, f1, _ = precision_recall_fscore_support(y, p, labels=labels, average=avg,
                                                            zero_division=0)
            assert (m[f"precision_{avg}"], m[f"recall_{avg}"], m[f"f1_{avg}"]) == pytest.approx(
                (pr, rc, f1), abs=1e-9)
        pr, rc, f1, support = precision_recall_fscore_support(y, p, labels=labels,
                                                              zero_division=0)
    np.testing.assert_allclose(m.per_class["f1"].to_numpy(), f1, atol=1e-12)
    np.testing.assert_array_equal(m.per_class["support"].to_numpy(), support)
    assert m.per_class.height == K
    cells = m.cells.frame()
    assert cells.height == frame.height and cells["count"].sum() == y.size


def test_a_zero_division_warning_names_ten_classes_and_counts_the_rest() -> None:
    y, p = _rows(2, n=5_000)
    with pytest.warns(UndefinedMetricWarning, match=r"and [\d,]+ more classes") as caught:
        multiclass_metrics(_counts(y, p), labels=list(range(K)))
    assert max(len(str(w.message)) for w in caught) < 2_000


def test_the_dense_matrix_is_refused_beyond_its_limit_naming_it() -> None:
    y, p = _rows(3, n=10_000)
    m = _quiet_metrics(_counts(y, p), list(range(K)))
    assert K * K > DENSE_CELLS
    with pytest.raises(MlmkitError, match=r"matrix.*cells"):
        _ = m.matrix
    with pytest.raises(MlmkitError, match="confusion_frame"):
        m.confusion_frame()
    small = _quiet_metrics(_counts(y % 50, p % 50), list(range(50)))
    dense = small.matrix
    assert dense.shape == (50, 50) and dense.sum() == 10_000
    assert small.confusion_frame().height == 2_500


def test_resampled_cells_give_the_dense_kernel_on_the_same_draws() -> None:
    rng = np.random.default_rng(4)
    m = rng.integers(0, 4, (7, 7)) * (rng.random((7, 7)) < 0.5)
    m[np.arange(7), np.arange(7)] += rng.integers(5, 20, 7)
    m[5, :] = m[:, 5] = 0  # a class without rows: counted in the macro denominator
    cells = as_cells(m, None)
    draws = rng.multinomial(cells.n, cells.count / cells.n, size=50)
    dense = np.zeros((50, 7, 7), np.int64)
    dense[:, cells.actual, cells.predicted] = draws
    want = confusion.class_metric_draws(dense)
    tp, support, called = cells.resampled_totals(draws)
    got = confusion._averaged(tp, support, called, cells.k)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, err_msg=name)


def test_a_bootstrap_of_20000_classes_runs_in_bounded_memory() -> None:
    labels = list(range(K))
    (ya, pa), (yb, pb) = _rows(5, n=50_000), _rows(6, n=50_000)
    a, b = _counts(ya, pa), _counts(yb, pb)
    tracemalloc.start()
    try:
        res = bootstrap_class_metric(a, b, labels=labels, n_resamples=200, seed=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20, peak  # one draw over K² cells: 200 x 4e8 int64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = (precision_recall_fscore_support(yb, pb, labels=labels, average="macro",
                                                zero_division=0)[2]
                - precision_recall_fscore_support(ya, pa, labels=labels, average="macro",
                                                  zero_division=0)[2])
    assert res.effect == pytest.approx(want, abs=1e-12)
    assert res.ci is not None and res.ci[0] <= res.effect <= res.ci[1]


def _long_bins(rng: np.random.Generator, k: int, bins: int, rows: int) -> pl.DataFrame:
    return pl.DataFrame({"class": rng.integers(0, k, rows), "bin": rng.integers(0, bins, rows),
                         "positives": rng.integers(0, 4, rows),
                         "negatives": rng.integers(0, 6, rows)})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ovr_auc_from_bins_equals_the_dense_histograms(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k, bins = 9, 40
    rows = _long_bins(rng, k, bins, 300)  # (class, bin) pairs repeat: they add up
    rows = rows.filter(pl.col("class") != 4)  # a class without rows: undefined, warned
    pos, neg = np.zeros((k, bins), np.int64), np.zeros((k, bins), np.int64)
    np.add.at(pos, (rows["class"].to_numpy(), rows["bin"].to_numpy()),
              rows["positives"].to_numpy())
    np.add.at(neg, (rows["class"].to_numpy(), rows["bin"].to_numpy()),
              rows["negatives"].to_numpy())
    labels = [f"k{i}" for i in range(k)]
    named = rows.with_columns(pl.format("k{}", "class").alias("class"))
    with pytest.warns(UndefinedMetricWarning, match="k4"):
        got = ovr_auc_from_bins(named, labels=labels)
    with pytest.warns(UndefinedMetricWarning):
        want = ovr_auc_from_histograms(pos, neg, labels=labels)
    np.testing.assert_array_equal(got.per_class["roc_auc"].to_numpy(),
                                  want.per_class["roc_auc"].to_numpy())
    np.testing.assert_allclose(got.per_class["error_bound"].to_numpy(),
                               want.per_class["error_bound"].to_numpy(), rtol=1e-12)
    assert (got.macro, got.weighted, got.micro) == (want.macro, want.weighted, want.micro)


def test_ovr_auc_of_5000_classes_and_10000_bins_in_bounded_memory() -> None:
    rng = np.random.default_rng(7)
    rows = _long_bins(rng, 5_000, 10_000, 200_000)
    labels = list(range(5_000))
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            auc = ovr_auc_from_bins(rows, labels=labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, peak  # dense: 2 x 5,000 x 10,000 int64 = 800 MB, plus copies
    assert auc.per_class.height == 5_000 and 0.4 < auc.macro < 0.6


def test_cbpe_refuses_more_classes_than_its_dense_matrices_hold() -> None:
    k = MAX_CLASSES + 1
    sums = pl.DataFrame({"predicted": list(range(k)), "actual": list(range(k)),
                         "p_sum": 1.0, "p_sq_sum": 1.0})
    with pytest.raises(MlmkitError, match=r"labels.*2,000 classes"):
        estimate_multiclass_from_sums(sums)


@pytest.mark.parametrize("cells", [1, 3 * 36, 10**9])  # a draw a chunk, 3, all at once
def test_cbpe_simulations_in_chunks_are_the_draws_of_one_call(monkeypatch, cells) -> None:
    rng = np.random.default_rng(3)
    e = rng.uniform(1, 20, (6, 6))
    s = e * rng.uniform(0.3, 0.9, (6, 6))
    monkeypatch.setattr(cbpe_sums, "_DRAW_CELLS", 10**9)
    whole = estimate_multiclass_from_sums(e, s, n_simulations=50, seed=2)
    monkeypatch.setattr(cbpe_sums, "_DRAW_CELLS", cells)
    chunked = estimate_multiclass_from_sums(e, s, n_simulations=50, seed=2)
    assert chunked.standard_errors == whole.standard_errors
    assert chunked.per_class.equals(whole.per_class)
