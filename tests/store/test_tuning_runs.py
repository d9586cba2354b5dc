"""tuning_runs storage and exact grid-cell counts in DuckDB."""

from __future__ import annotations

import numpy as np
import polars as pl

import mlmkit
from mlmkit.store.tuning_runs import (
    grid_cell_counts,
    insert_runs,
    labelled_scores,
    last_run,
    select_runs,
)


def test_grid_cells_are_exact_at_float_edges(ws_file: mlmkit.Workspace) -> None:
    grid = [0.29, 0.3, 0.55, 0.7]  # 0.29 * 100 == 28.999999999999996: binning would miss it
    rng = np.random.default_rng(0)
    s = np.concatenate([grid, rng.random(500)])
    y = rng.random(s.size) < 0.5
    ws_file.log.track_batch(pl.DataFrame({"model_name": "m", "version": "1.0.0",
                                          "prediction": s >= 0.5, "score": s, "actual": y}))
    cells = grid_cell_counts(ws_file.db, "m", grid)
    expected = np.searchsorted(grid, s, side="right")
    for row in cells.iter_rows(named=True):
        inside = expected == row["cell"]
        assert (row["pos"], row["neg"]) == (int(np.sum(y & inside)), int(np.sum(~y & inside)))
        assert row["min_score"] == s[inside].min()
    assert labelled_scores(ws_file.db, "m").height == s.size


def test_runs_round_trip(ws_mem: mlmkit.Workspace) -> None:
    assert last_run(ws_mem.db, "m", "1.0.0", "adaptive") is None
    rows = [{"run_id": "r", "trial": i, "kind": "adaptive", "model_name": "m",
             "version": "1.0.0", "metric": "imbalance", "value": float("nan") if i else 0.5,
             "threshold": 0.5 + i / 10, "params": {"i": i}, "details": {"last_move": "raise"}}
            for i in range(3)]
    assert insert_runs(ws_mem.db, rows) == 3
    frame = select_runs(ws_mem.db, model_name="m", kind="adaptive")
    assert frame["trial"].to_list() == [0, 1, 2]
    assert frame["value"].to_list() == [0.5, None, None]
    last = last_run(ws_mem.db, "m", "1.0.0", "adaptive")
    assert last is not None and last["threshold"] == 0.7
    assert last["details"] == {"last_move": "raise"}
