"""Bulk ingestion over HTTP: Arrow IPC bodies against 1,000-row JSON batches (issue 14).

Target: "Arrow IPC >= 3x the JSON rate". Arrow IPC is the bulk format (docs/SERVER.md): a
service that has a frame sends it in large bodies, which JSON cannot reasonably carry. Both
sides post the same 100,000 rows (x scale; Arrow five copies of them under other ids, so
the bulk side is 10 bodies, not 2) over 4 keep-alive connections to one real ``mlmkit
serve``: JSON as 1,000-row arrays (the issue's JSON batch), Arrow as 50,000-row IPC streams.
Two more rows put the figure in context, measured in the same run: Arrow in 1,000-row
bodies (same batches as JSON: then both are bounded by the per-group insert, see
docs/SERVER.md), and ``track_batch`` in process on the 50,000-row batches (the bound of any
HTTP path: the validator plus the INSERT with no HTTP at all).

Run: ``.venv/bin/python -m benchmarks.bench_server_bulk [scale]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

import mlmkit
from benchmarks.bench_server import (
    ARROW,
    JSON,
    _arrow_body,
    _batches,
    _json_body,
    _post_all,
    _Server,
)

BULK = 50_000


def _rate_row(name: str, rows: int, seconds: float, base: float, base_name: str,
              target: float | None) -> dict[str, Any]:
    ratio = base / seconds
    return {"benchmark": f"{name} ({rows / seconds:,.0f} rows/s) [load average "
                         f"{os.getloadavg()[0]:.1f}]",
            "mlmkit_s": seconds, "baseline": f"{base_name} ({rows / base:,.0f} rows/s)",
            "baseline_s": base, "ratio": ratio,
            "target": "-" if target is None else f">= {target}",
            "ok": None if target is None else ratio >= target}


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    n_batches = max(4, int(100 * scale))
    rows = n_batches * 1_000
    bulk = min(BULK, rows)
    copies = 5  # Arrow bodies: 5 x the rows (10 bulk bodies at scale 1), reported per row
    frames = _batches(n_batches, 1_000, "json")
    whole = pl.concat(frames)
    with tempfile.TemporaryDirectory() as tmp:
        with mlmkit.open(Path(tmp) / "inproc.duckdb") as ws:  # the bound: no HTTP at all
            ws.log.track_batch(whole.head(10).with_columns(prediction_id=pl.lit("w-") +
                                                           pl.col("prediction_id")))
            began = time.perf_counter()
            for lo in range(0, rows, bulk):
                ws.log.track_batch(whole.slice(lo, bulk))
            inproc = time.perf_counter() - began
        server = _Server(Path(tmp) / "served.duckdb")
        try:
            warm = whole.head(10).with_columns(prediction_id=pl.lit("w-") + pl.col("prediction_id"))
            _post_all(server, [_json_body(warm)], JSON, 1)  # the feature columns exist

            def arrow(model: str, size: int) -> float:  # rows/s of ``copies`` x the rows
                bodies = [_arrow_body(whole.slice(lo, size).with_columns(
                    model_name=pl.lit(model), prediction_id=pl.lit(f"{k}-") +
                    pl.col("prediction_id"))) for k in range(copies)
                    for lo in range(0, rows, size)]
                return _post_all(server, bodies, ARROW, 4) / copies

            t_json = _post_all(server, [_json_body(f) for f in frames], JSON, 4)
            t_bulk = arrow("arrow-bulk", bulk)
            t_same = arrow("arrow-1000", 1_000)
        finally:
            server.stop()
    return [
        _rate_row(f"HTTP Arrow IPC {bulk:,}-row bodies vs JSON 1,000-row batches, 4 conns",
                  rows, t_bulk, t_json, "JSON 1,000-row batches", 3.0),
        _rate_row("HTTP Arrow IPC 1,000-row bodies vs JSON 1,000-row batches (same batches)",
                  rows, t_same, t_json, "JSON 1,000-row batches", None),
        _rate_row(f"HTTP Arrow IPC {bulk:,}-row bodies vs track_batch in process, same batches",
                  rows, t_bulk, inproc, f"track_batch {bulk:,}-row batches", None),
    ]


if __name__ == "__main__":
    for result in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(result)
