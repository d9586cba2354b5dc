"""A 20-segment breakdown vs the unsegmented call on a 1e6-row log (scale 1.0), issue 15.

``ws.monitor.segment_metrics(..., segment="region")`` (20 regions, one of them partly
missing: 21 rows) vs ``get_current_metrics`` on the same window, both with their defaults
(score metrics with the exact ROC AUC, intervals), then both with ``scores=False`` and
``ci=False`` (count metrics only). Target: the breakdown costs at most 2x the unsegmented
call (``ratio = unsegmented / segmented >= 0.5``). The regression and score-only models are
timed on two windows: the log's day plus 10 s (a whole UTC day: the unsegmented regression
call reads that day's sums from ``regression_daily``, one row, the breakdown that day's
segment sums stored by its first read, m012, and both scan for their residual histograms;
the first read itself, which scans for the grouped sums and stores them, is a context row)
and a rolling 24 h ending at 06:00 (both ends part days, as the default ``window="24h"``
always has: both calls scan). Also the 20-segment trend (24 buckets)
vs the unsegmented trend, and ``segment=`` on degradation (a baseline window: one grouped scan
per window), ``compare_versions`` and ``detect_concept_drift`` (one grouped error stream), and
``data_drift`` (the window's first half as the reference, its second half as the current side;
features ``x1``, ``x2`` and the score, ``region`` being the segment), timed interleaved (segmented
and unsegmented calls alternate, best of 5 each) so that both see the same machine load.
Each row's ``detail`` has the 1-minute load average.
Run: ``.venv/bin/python -m benchmarks.bench_segments [scale]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import mlmkit
from benchmarks._common import best_run, row

END = datetime(2026, 1, 31, tzinfo=UTC)
SPAN_S = 86400


def _build(ws: mlmkit.Workspace, n: int) -> None:
    ws.registry.register(mlmkit.ModelMetadata("m", "supervised", "1.0.0"))
    rng = np.random.default_rng(0)
    chunk = 1_000_000
    regions = np.array([f"r{i:02d}" for i in range(20)])
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        score = rng.random(m)
        region = pl.Series(regions[rng.integers(0, 20, m)]).set(
            pl.Series(rng.random(m) < 0.01), None)
        ws.log.track_batch(pl.DataFrame({
            "model_name": "m", "version": "1.0.0", "prediction": score > 0.5, "score": score,
            "actual": rng.random(m) < score, "region": region, "x1": rng.normal(0, 1, m),
            "x2": rng.exponential(1, m),
            "timestamp": pl.Series((END.timestamp() - rng.uniform(1, SPAN_S, m)) * 1e6)
            .cast(pl.Int64).cast(pl.Datetime("us", "UTC"))}))


def _build_tasks(ws: mlmkit.Workspace, n: int) -> None:
    """A regression model ``rg`` and a score-only model ``an`` over the same 20 regions."""
    ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", "1.0.0", task="regression"))
    ws.registry.register(mlmkit.ModelMetadata("an", "unsupervised", "1.0.0",
                                              task="score-only"))
    rng = np.random.default_rng(1)
    regions = np.array([f"r{i:02d}" for i in range(20)])
    for lo in range(0, n, 1_000_000):
        m = min(1_000_000, n - lo)
        y, s = rng.normal(10, 2, m), rng.random(m)
        common = {"version": "1.0.0", "region": pl.Series(regions[rng.integers(0, 20, m)])
                  .set(pl.Series(rng.random(m) < 0.01), None),
                  "timestamp": pl.Series((END.timestamp() - rng.uniform(1, SPAN_S, m)) * 1e6)
                  .cast(pl.Int64).cast(pl.Datetime("us", "UTC"))}
        ws.log.track_batch(pl.DataFrame({"model_name": "rg", "prediction": y + rng.normal(
            0, 1, m), "actual": pl.Series(y).set(pl.Series(rng.random(m) < 0.1), None),
            **common}))
        ws.log.track_batch(pl.DataFrame({"model_name": "an", "score": s,
                                         "prediction": s > 0.9, **common}))


def _first_read(ws: mlmkit.Workspace, model: str, window: dict[str, datetime]) -> Any:
    """The breakdown as the first read of the window's days (their stored sums deleted first,
    timed with it: ~1 ms)."""
    ws.db.execute("DELETE FROM regression_segment_days")
    return ws.monitor.get_current_metrics(model, "1.0.0", **window, segment="region")


def interleaved(plain: Any, split: Any, repeats: int = 5) -> tuple[float, float, Any, Any]:
    """Best wall times of ``plain()`` and ``split()`` called alternately, and their results."""
    times: dict[int, list[float]] = {0: [], 1: []}
    out: list[Any] = [None, None]
    for _ in range(repeats):
        for i, fn in enumerate((plain, split)):
            start = time.perf_counter()
            out[i] = fn()
            times[i].append(time.perf_counter() - start)
    return min(times[0]), min(times[1]), out[0], out[1]


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    """Benchmark rows for ``benchmarks/run.py``."""
    n = max(10_000, int(1_000_000 * scale))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = mlmkit.open(Path(tmp) / "bench.duckdb")
        _build(ws, n)
        window = {"start": END - timedelta(seconds=SPAN_S + 10), "end": END}
        for label, opts in (("defaults", {}), ("scores=False ci=False",
                                               {"scores": False, "ci": False})):
            plain, whole = best_run(lambda o=opts: ws.monitor.get_current_metrics(  # type: ignore[misc]
                "m", "1.0.0", **window, **o))
            split, frame = best_run(lambda o=opts: ws.monitor.segment_metrics(  # type: ignore[misc]
                "m", "1.0.0", **window, segment="region", **o))
            assert frame.height == 21 and frame["sample_count"].sum() == whole.sample_count == n
            rows.append({**row(f"20-segment get_current_metrics ({label}) {n:.0e} rows", split,
                               "unsegmented get_current_metrics", plain, "<= 2x (ratio >= 0.5)",
                               0.5), "detail": f"load average {os.getloadavg()[0]:.1f}"})

        _build_tasks(ws, n)
        rolling = {"start": END - timedelta(hours=18), "end": END + timedelta(hours=6)}
        for model, task in (("rg", "regression"), ("an", "score-only")):
            for span, where in ((window, ""), (rolling, ", rolling 24 h")):
                plain, split, whole, frame = interleaved(
                    lambda m=model, w=span: ws.monitor.get_current_metrics(m, "1.0.0", **w),
                    lambda m=model, w=span: ws.monitor.get_current_metrics(
                        m, "1.0.0", **w, segment="region"))
                assert frame.height == 21 and frame["sample_count"].sum() == whole.sample_count
                rows.append({**row(f"20-segment get_current_metrics ({task}{where}) {n:.0e} "
                                   "rows", split, f"unsegmented get_current_metrics ({task})",
                                   plain, "<= 2x (ratio >= 0.5)", 0.5),
                             "detail": f"load average {os.getloadavg()[0]:.1f}, interleaved "
                                       f"best of 5; columns {frame.width}"})
                if task == "regression" and not where:  # the day's first read stores it
                    plain, split, _, _ = interleaved(
                        lambda m=model, w=span: ws.monitor.get_current_metrics(m, "1.0.0", **w),
                        lambda m=model, w=span: _first_read(ws, m, w))
                    rows.append({**row(f"20-segment get_current_metrics ({task}, first read of "
                                       f"the day) {n:.0e} rows", split, "unsegmented "
                                       f"get_current_metrics ({task})", plain,
                                       "- (context of the row above)", 0.5), "ok": None,
                                 "detail": "computes and stores the day's segment sums (m012)"})

        def trend(segment: str | None) -> pl.DataFrame:
            return ws.monitor.get_performance_trend("m", "1.0.0", None, "1h", **window,
                                                    segment=segment)

        plain, flat = best_run(lambda: trend(None))
        split, by = best_run(lambda: trend("region"))
        assert by["n"].sum() == flat["n"].sum() == n
        rows.append({**row(f"20-segment trend, 25 buckets {n:.0e} rows", split,
                           "unsegmented trend", plain, "<= 2x (ratio >= 0.5)", 0.5),
                     "detail": f"load average {os.getloadavg()[0]:.1f}"})
        half = END - timedelta(seconds=SPAN_S // 2)
        calls: dict[str, Any] = {
            "degradation (baseline window)": lambda segment: (
                ws.monitor.get_performance_degradation_info(
                    "m", "1.0.0", start=half, end=END, baseline=(window["start"], half),
                    alert=False, segment=segment)),
            "compare_versions": lambda segment: ws.monitor.compare_versions(
                "m", ["1.0.0"], **window, segment=segment),
            "detect_concept_drift": lambda segment: ws.monitor.detect_concept_drift(
                "m", "1.0.0", **window, segment=segment)}
        for label, call in calls.items():
            plain, _ = best_run(lambda c=call: c(None))
            split, frame = best_run(lambda c=call: c("region"))
            assert frame.height == 21
            rows.append({**row(f"20-segment {label} {n:.0e} rows", split,
                               f"unsegmented {label}", plain, "<= 2x (ratio >= 0.5)", 0.5),
                         "detail": f"load average {os.getloadavg()[0]:.1f}"})

        def drift(segment: str | None) -> pl.DataFrame:
            return ws.monitor.data_drift("m", "1.0.0", reference=(window["start"], half),
                                         current=(half, END), segment=segment)

        plain, split, flat, by = interleaved(lambda: drift(None), lambda: drift("region"))
        x1 = by.filter(pl.col("feature") == "x1")
        assert flat.height == 4 and by.height == 21 * 3 and x1["n_current"].sum() == \
            flat.filter(pl.col("feature") == "x1")["n_current"].item()
        rows.append({**row(f"20-segment data_drift (3 numeric features) {n:.0e} rows", split,
                           "unsegmented data_drift (4 features)", plain,
                           "<= 2x (ratio >= 0.5)", 0.5),
                     "detail": f"load average {os.getloadavg()[0]:.1f}, interleaved best of 5"})
        ws.close()
    return rows


if __name__ == "__main__":
    for r in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(r)
