"""Per-task window metrics on a logged 1e7-row prediction log (scale 1.0), issue 15.

- multiclass (10 classes, labels logged with the predictions): ``get_current_metrics`` with
  ``scores=False`` (accuracy, per-class and averaged P/R/F1, KxK matrix, from one grouped
  scan) vs scikit-learn's ``classification_report`` + ``confusion_matrix`` on in-memory int
  arrays (target >= 10x); and a 20,000-class model on a tenth of the rows (a long tail,
  ~n/4 non-zero confusion cells) vs ``classification_report`` alone (>= 2x; scikit-learn's
  dense ``confusion_matrix`` would be 3.2 GB);
- regression: ``get_current_metrics(scores=False)`` (MAE, RMSE, MAPE, R², bias with normal
  intervals: the per-day statistics of ``regression_daily``, m011, one row per whole day) vs
  scikit-learn's ``mean_absolute_error``, ``root_mean_squared_error``,
  ``mean_absolute_percentage_error`` and ``r2_score`` on in-memory float arrays (>= 10x); and,
  as context, the default call (the same plus the residual quantiles, whose histogram scans
  the window) vs those four plus numpy's ``np.quantile`` of the residuals (like for like);
- residual quantiles (5/25/50/75/95 %) of the regression window three ways in DuckDB, each vs
  numpy's exact ``np.quantile`` on the in-memory residuals (the ``detail`` gives the largest
  error): ``quantile_cont`` (exact: sorts), ``approx_quantile`` (t-digest, no bound) and the
  engine's fixed-bin residual histogram (``bins`` 10 000 on ``[min e, max e]``, error within a
  reported bracket of one or two bins); informational rows (no target).

The baselines get the arrays for free (already in memory); mlmkit reads the DuckDB file.
Each row's ``detail`` has the 1-minute load average. Run: ``.venv/bin/python -m
benchmarks.bench_task_metrics [scale]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import mlmkit
from benchmarks._common import best_run, best_seconds, row
from mlmkit.values import TimeRange

END = datetime(2026, 1, 31, tzinfo=UTC)
SPAN_S = 20 * 86400


def _stamps(rng: np.random.Generator, m: int) -> pl.Series:
    return pl.Series("timestamp", (END.timestamp() - rng.uniform(1, SPAN_S, m)) * 1e6
                     ).cast(pl.Int64).cast(pl.Datetime("us", "UTC"))


def _build(ws: mlmkit.Workspace, n: int) -> dict[str, np.ndarray]:
    ws.registry.register(mlmkit.ModelMetadata("mc", "supervised", "1.0.0", task="multiclass"))
    ws.registry.register(mlmkit.ModelMetadata("rg", "supervised", "1.0.0", task="regression"))
    rng = np.random.default_rng(0)
    parts: dict[str, list[np.ndarray]] = {"y": [], "p": [], "ry": [], "rp": []}
    chunk = 1_000_000
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        y = rng.integers(0, 10, m)
        p = np.where(rng.random(m) < 0.7, y, rng.integers(0, 10, m))
        ws.log.track_batch(pl.DataFrame({"model_name": "mc", "version": "1.0.0",
                                         "prediction": p, "actual": y,
                                         "timestamp": _stamps(rng, m)}))
        ry = rng.normal(50.0, 20.0, m)
        rp = ry + rng.normal(0.0, 5.0, m)
        ws.log.track_batch(pl.DataFrame({"model_name": "rg", "version": "1.0.0",
                                         "prediction": rp, "actual": ry,
                                         "timestamp": _stamps(rng, m)}))
        for key, arr in (("y", y), ("p", p), ("ry", ry), ("rp", rp)):
            parts[key].append(arr)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _wide(ws: mlmkit.Workspace, n: int, window: dict[str, datetime]) -> dict[str, Any]:
    """A 20,000-class model (a long tail: most classes rare) vs classification_report.

    scikit-learn's ``confusion_matrix`` is left out of the baseline: at 20,000 classes it is a
    3.2 GB dense array. mlmkit computes from the ~n/4 non-zero cells (`ClassCells`).
    """
    from sklearn.metrics import classification_report

    k = 20_000
    ws.registry.register(mlmkit.ModelMetadata("wide", "supervised", "1.0.0", task="multiclass"))
    rng = np.random.default_rng(2)
    y = rng.zipf(1.3, n) % k
    p = np.where(rng.random(n) < 0.7, y, rng.integers(0, k, n))
    ws.log.track_batch(pl.DataFrame({"model_name": "wide", "version": "1.0.0", "prediction": p,
                                     "actual": y, "timestamp": _stamps(rng, n)}))

    def mine() -> Any:
        with warnings.catch_warnings():  # thousands of classes without predictions
            warnings.simplefilter("ignore")
            return ws.monitor.get_current_metrics("wide", "1.0.0", **window, scores=False,
                                                  min_labels=0)

    def theirs() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return classification_report(y, p, output_dict=True, zero_division=0)

    (mine_s, m), (theirs_s, report) = _interleaved(mine, theirs, repeats=3)
    assert abs(m["accuracy"] - report["accuracy"]) < 1e-9
    assert abs(m["f1_macro"] - report["macro avg"]["f1-score"]) < 1e-9
    return {**row(f"multiclass {k:,} classes metrics {n:.0e} rows", mine_s,
                  "sklearn classification_report (no dense confusion_matrix)", theirs_s,
                  ">= 2x", 2.0),
            "detail": f"load average {os.getloadavg()[0]:.1f}; {len(m.labels):,} classes seen, "
                      f"{m.metrics.cells.count.size:,} non-zero cells"}


def _interleaved(mine: Any, theirs: Any, repeats: int = 5
                 ) -> tuple[tuple[float, Any], tuple[float, Any]]:
    """Best time (and last result) of each of two calls made alternately ``repeats`` times.

    On shared cores the load moves within seconds; alternating puts both sides of a ratio
    under the same load (timing one side after the other moved the ratio by up to 3x).
    """
    a: tuple[float, Any] = (float("inf"), None)
    b: tuple[float, Any] = (float("inf"), None)
    for _ in range(repeats):
        ta, ra = best_run(mine, repeats=1)
        tb, rb = best_run(theirs, repeats=1)
        a, b = (min(a[0], ta), ra), (min(b[0], tb), rb)
    return a, b


def _quantile_methods(ws: mlmkit.Workspace, n: int, errors: np.ndarray,
                      window: dict[str, datetime]) -> list[dict[str, Any]]:
    """Rows comparing DuckDB's quantile methods on the regression residuals with numpy."""
    from mlmkit.analysis.metrics import residual_quantiles
    from mlmkit.services.monitor.tasks import bin_edges

    qs = [0.05, 0.25, 0.5, 0.75, 0.95]
    theirs, exact = best_run(lambda: np.quantile(errors, qs), repeats=2)
    where = ("model_name = 'rg' AND ts >= ? AND ts < ? AND value IS NOT NULL "
             "AND actual_value IS NOT NULL")
    span = [window["start"], window["end"]]
    engine = ws.monitor.engine

    def sql(fn: str) -> np.ndarray:
        got = ws.db.execute(f"SELECT {fn}(value - actual_value, {qs}) FROM predictions "
                            f"WHERE {where}", span)
        return np.asarray(got[0][0], dtype=np.float64)

    def histogram() -> np.ndarray:
        lo, hi = ws.db.execute("SELECT min(value - actual_value), max(value - actual_value) "
                               f"FROM predictions WHERE {where}", span)[0]
        hist = engine.residual_histogram("rg", versions=["1.0.0"], bins=10_000,
                                         ranges={"1.0.0": (lo, hi)},
                                         time_range=TimeRange(*span))
        counts = np.zeros(10_000, dtype=np.int64)
        np.add.at(counts, hist["bin"].to_numpy(), hist["n"].to_numpy())
        return residual_quantiles(bin_edges(lo, hi, 10_000), counts, qs)["value"].to_numpy()

    out = []
    for name, fn in (("quantile_cont (exact)", lambda: sql("quantile_cont")),
                     ("approx_quantile (t-digest)", lambda: sql("approx_quantile")),
                     ("10000-bin histogram (min/max + bins scans)", histogram)):
        mine, got = best_run(fn, repeats=2)
        err = float(np.abs(got - exact).max())
        out.append({**row(f"residual quantiles {name} {n:.0e} rows", mine,
                          "numpy.quantile in memory", theirs, "-", 0.0),
                    "ok": None, "detail": f"max |error| {err:.2e}; load average "
                                         f"{os.getloadavg()[0]:.1f}"})
    return out


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    """Benchmark rows for ``benchmarks/run.py``."""
    from sklearn.metrics import (
        classification_report,
        confusion_matrix,
        mean_absolute_error,
        mean_absolute_percentage_error,
        r2_score,
        root_mean_squared_error,
    )

    n = max(10_000, int(10_000_000 * scale))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = mlmkit.open(Path(tmp) / "bench.duckdb")
        data = _build(ws, n)
        window = {"start": END - timedelta(seconds=SPAN_S + 10), "end": END}
        load = os.getloadavg()[0]

        def multiclass() -> object:
            return ws.monitor.get_current_metrics("mc", "1.0.0", **window, scores=False,
                                                  min_labels=0)

        def sk_multiclass() -> object:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return (classification_report(data["y"], data["p"], output_dict=True),
                        confusion_matrix(data["y"], data["p"]))

        mine, m = best_run(multiclass)
        theirs, (report, matrix) = best_run(sk_multiclass, repeats=2)
        assert abs(m["accuracy"] - report["accuracy"]) < 1e-9  # type: ignore[index]
        assert (m.confusion_matrix == matrix).all()  # type: ignore[union-attr]
        rows.append({**row(f"multiclass 10 classes metrics {n:.0e} rows", mine,
                           "sklearn classification_report+confusion_matrix", theirs,
                           ">= 10x", 10.0), "detail": f"load average {load:.1f}"})

        rows.append(_wide(ws, max(10_000, n // 10), window))

        def regression(scores: bool) -> object:
            return ws.monitor.get_current_metrics("rg", "1.0.0", **window, scores=scores,
                                                  min_labels=0)

        def sk_regression(quantiles: bool) -> tuple[float, ...]:
            y, p = data["ry"], data["rp"]
            if quantiles:  # the default call's residual quantiles, in numpy
                np.quantile(p - y, [0.05, 0.25, 0.5, 0.75, 0.95])
            return (mean_absolute_error(y, p), root_mean_squared_error(y, p),
                    mean_absolute_percentage_error(y, p), r2_score(y, p))

        for scores in (False, True):
            (mine, r), (theirs, (mae, _, _, r2)) = _interleaved(
                lambda s=scores: regression(s), lambda s=scores: sk_regression(s))
            assert abs(r["mae"] - mae) <= 1e-9 * mae and abs(r["r2"] - r2) < 1e-9  # type: ignore[index]
            what, base, target = (
                ("with residual quantiles (context)", "sklearn MAE+RMSE+MAPE+R2 + np.quantile",
                 ("-", 0.0)) if scores else
                ("scores=False", "sklearn MAE+RMSE+MAPE+R2", (">= 10x", 10.0)))
            rows.append({**row(f"regression metrics {what} {n:.0e} rows", mine, base, theirs,
                               *target), **({"ok": None} if scores else {}),
                         "detail": f"load average {os.getloadavg()[0]:.1f}; best of 5 "
                                   "alternating calls each"})
        rows += _quantile_methods(ws, n, data["rp"] - data["ry"], window)
        rows.append({**row("(load average at start)", best_seconds(lambda: None, 1), "-",
                           None, "-", 0.0), "detail": f"{load:.1f}"})
        ws.close()
    return rows


if __name__ == "__main__":
    for r in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(r)
