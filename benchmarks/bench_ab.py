"""A/B testing benchmark (issue 5 targets).

- ``assign`` of 1e7 integer unit ids through ``ws.ab.assign``: >= 10 M decisions/s (baseline
  column = the time budget of 10 M/s; ratio = budget / measured, >= 1 is ok). String ids are
  reported too (they hash every byte).
- ``select_version`` with a unit id: median < 20 µs (ratio = 20 µs / median).
- ``run_test`` over 1e7 logged predictions vs the bare SQL aggregation it needs
  (``confusion_counts`` of both versions): <= 2x (ratio = bare / run_test, >= 0.5 is ok).

Run: ``.venv/bin/python -m benchmarks.bench_ab [scale]``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import mlmkit
from benchmarks._common import best_seconds, row
from mlmkit.store.predictions.aggregates import confusion_counts

CFG = mlmkit.ABTestConfig.create("n1-detector", "1.0.0", "1.1.0", 0.5)


def _log(ws: mlmkit.Workspace, n: int) -> None:
    rng = np.random.default_rng(0)
    chunk = 2_000_000
    t0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1e6)
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        truth = rng.random(m) < 0.4
        is_b = rng.random(m) < 0.5
        ok = rng.random(m) < np.where(is_b, 0.95, 0.85)
        pred = np.where(ok, truth, ~truth)
        ts = t0 + np.sort(rng.integers(0, 7 * 86400 * 10**6, m))
        ws.log.track_batch(pl.DataFrame({
            "model_name": "n1-detector",
            "version": np.where(is_b, "1.1.0", "1.0.0"),
            "prediction": pred, "actual": truth,
            "score": np.clip(np.where(pred, 0.7, 0.3) + rng.normal(0, 0.1, m), 0, 1),
            "timestamp": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
        }))


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    """Run the A/B benchmarks; ``scale=1.0`` uses 1e7 ids and 1e7 logged rows."""
    n = max(10_000, int(10_000_000 * scale))
    repeats = 1 if scale >= 1.0 else 3
    rows = []
    with tempfile.TemporaryDirectory() as tmp, mlmkit.open(Path(tmp) / "ab.duckdb") as ws:
        ids = np.arange(n, dtype=np.int64)
        t = best_seconds(lambda: ws.ab.assign(CFG, ids), 3)  # first call pays page faults
        rows.append(row(f"assign {n:.0e} int ids ({n / t / 1e6:.1f} M/s)", t,
                        "budget at 10 M decisions/s", n / 10e6, ">= 10 M/s (ratio >= 1)", 1.0))
        sids = "user-" + pl.int_range(0, n, eager=True).cast(pl.String)
        t = best_seconds(lambda: ws.ab.assign(CFG, sids), 2)
        rows.append(row(f"assign {n:.0e} str ids ({n / t / 1e6:.1f} M/s)", t,
                        "budget at 10 M decisions/s", n / 10e6,
                        "reported (str ids hash every byte)", 0.0))
        samples = []
        for i in range(20_000):
            unit = f"user-{i}"
            start = time.perf_counter()
            ws.ab.select_version(CFG, unit)
            samples.append(time.perf_counter() - start)
        med = statistics.median(samples)
        rows.append(row(f"select_version median ({med * 1e6:.2f} µs)", med, "20 µs budget",
                        20e-6, "median < 20 µs (ratio >= 1)", 1.0))
        _log(ws, n)
        bare = best_seconds(lambda: confusion_counts(ws.db, "n1-detector",
                                                     versions=["1.0.0", "1.1.0"]), repeats + 1)
        full = best_seconds(lambda: ws.ab.run_test(CFG), repeats + 1)
        rows.append(row(f"run_test over {n:.0e} logged rows", full,
                        "bare confusion_counts SQL", bare, "<= 2x the SQL (ratio >= 0.5)", 0.5))
    return rows


if __name__ == "__main__":
    for row in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(row)
