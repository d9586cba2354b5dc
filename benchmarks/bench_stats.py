"""Significance-test benchmark (issue 3, item 2; no target in the issue, reference numbers).

- ``bootstrap_difference`` of two samples of 2,000 values, 9,999 resamples, vs
  ``scipy.stats.bootstrap`` (percentile, vectorised) on the same data: ratio = scipy / mlmkit,
  >= 1 is ok.
- ``multiple_testing`` (Benjamini-Hochberg) of 1e6 p-values vs ``statsmodels multipletests``:
  ratio = statsmodels / mlmkit, >= 1 is ok.
- A/A simulation of the always-valid test: ``sequential_path`` of 2,000 looks x 200
  experiments vs the same number of ``sequential_two_proportion_test`` calls in a Python loop
  (what a naive notebook would do; timed on at most 20 experiments and scaled up):
  ratio = loop / path, >= 10 is ok.

Run: ``.venv/bin/python -m benchmarks.bench_stats [scale]``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from benchmarks._common import best_seconds, row
from mlmkit.analysis.stats import (
    bootstrap_difference,
    multiple_testing,
    sequential_path,
    sequential_two_proportion_test,
)


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    import scipy.stats as st
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    rows = []

    n = max(50, int(2000 * scale))
    resamples = max(100, int(9999 * min(1.0, scale * 10)))
    a, b = rng.normal(0, 1, n), rng.normal(0.1, 1, n)

    def scipy_boot() -> None:
        st.bootstrap((b, a), lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis),
                     n_resamples=resamples, method="percentile", rng=np.random.default_rng(0))

    ours = best_seconds(lambda: bootstrap_difference(a, b, n_resamples=resamples, seed=0), 2)
    rows.append(row(f"bootstrap_difference {n}+{n}, {resamples} resamples", ours,
                    "scipy.stats.bootstrap", best_seconds(scipy_boot, 2),
                    "ratio = scipy / mlmkit >= 1", 1.0))

    m = max(1000, int(1_000_000 * scale))
    p = rng.uniform(size=m) ** 3
    multiple_testing(p[:10], method="fdr_bh")
    multipletests(p[:10], method="fdr_bh")
    rows.append(row(f"multiple_testing fdr_bh {m:.0e} p-values",
                    best_seconds(lambda: multiple_testing(p, method="fdr_bh"), 3),
                    "statsmodels multipletests",
                    best_seconds(lambda: multipletests(p, method="fdr_bh"), 3),
                    "ratio = statsmodels / mlmkit >= 1", 1.0))

    looks, sims = max(20, int(2000 * scale)), max(5, int(200 * scale))
    s_a = rng.binomial(50, 0.85, size=(sims, looks)).cumsum(axis=1)
    s_b = rng.binomial(50, 0.85, size=(sims, looks)).cumsum(axis=1)
    tot = 50 * np.arange(1, looks + 1)

    def path() -> None:
        for i in range(sims):
            sequential_path(s_a[i], tot, s_b[i], tot)

    timed = min(sims, 20)

    def loop() -> None:
        for i in range(timed):
            for j in range(looks):
                sequential_two_proportion_test(int(s_a[i, j]), int(tot[j]), int(s_b[i, j]),
                                               int(tot[j]))

    rows.append(row(f"sequential A/A {sims} x {looks} looks", best_seconds(path, 2),
                    "loop of one-shot calls", best_seconds(loop, 1) * sims / timed,
                    "ratio = loop / path >= 10",
                    10.0))
    return rows


if __name__ == "__main__":
    for row in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(row)
