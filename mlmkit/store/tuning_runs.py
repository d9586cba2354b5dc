"""SQL of the tuning engine: the ``tuning_runs`` table and exact grid-cell score counts.

Only small frames come back to Python: trials, or per-cell positive / negative counts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from mlmkit.store._sql import Where, where_clause
from mlmkit.store.database import Database
from mlmkit.store.predictions.aggregates import query
from mlmkit.values import TimeRange, utcnow

__all__ = ["RUN_COLUMNS", "grid_cell_counts", "insert_runs", "labelled_scores", "last_run",
           "select_runs"]

#: Columns a caller gives per trial row (``created_at`` and ``row_id`` are filled in).
RUN_COLUMNS = ("run_id", "trial", "kind", "model_name", "version", "metric", "value",
               "threshold", "params", "details")

#: Above this many grid points, `grid_cell_counts` is not used (per-score counts are).
MAX_SQL_GRID_POINTS = 256


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=str, allow_nan=True)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def insert_runs(db: Database, rows: Sequence[Mapping[str, Any]]) -> int:
    """Append trial rows (mappings with the keys of `RUN_COLUMNS`); returns rows written."""
    if not rows:
        return 0
    now = utcnow()
    frame = pl.DataFrame({
        "run_id": [str(r["run_id"]) for r in rows],
        "trial": [int(r["trial"]) for r in rows],
        "kind": [str(r["kind"]) for r in rows],
        "model_name": [str(r["model_name"]) for r in rows],
        "version": [str(r["version"]) for r in rows],
        "created_at": [now] * len(rows),
        "metric": [r.get("metric") for r in rows],
        "value": [_number(r.get("value")) for r in rows],
        "threshold": [_number(r.get("threshold")) for r in rows],
        "params": [_json(r.get("params")) for r in rows],
        "details": [_json(r.get("details")) for r in rows],
    }, schema={"run_id": pl.String, "trial": pl.Int32, "kind": pl.String,
               "model_name": pl.String, "version": pl.String,
               "created_at": pl.Datetime("us", "UTC"), "metric": pl.String,
               "value": pl.Float64, "threshold": pl.Float64, "params": pl.String,
               "details": pl.String})
    with db.transaction() as conn:
        conn.register("_mlmkit_runs", frame.to_arrow())
        try:
            conn.execute("INSERT INTO tuning_runs BY NAME SELECT * FROM _mlmkit_runs")
        finally:
            conn.unregister("_mlmkit_runs")
    return frame.height


def select_runs(db: Database, *, model_name: str | None = None, version: str | None = None,
                kind: str | None = None, run_id: str | None = None) -> pl.DataFrame:
    """Stored trials, oldest first (``params`` / ``details`` as JSON text)."""
    where = Where().equals([("model_name", model_name), ("version", version), ("kind", kind),
                            ("run_id", run_id)])
    sql = (f"SELECT * EXCLUDE (params, details), params::VARCHAR AS params, "
           f"details::VARCHAR AS details FROM tuning_runs WHERE {where} ORDER BY row_id")
    return query(db, sql, where.params)


def last_run(db: Database, model_name: str, version: str, kind: str) -> dict[str, Any] | None:
    """The newest row of ``kind`` for one model version, ``details`` decoded, or ``None``."""
    rows = db.execute("SELECT threshold, value, details::VARCHAR, created_at FROM tuning_runs "
                      "WHERE model_name = ? AND version = ? AND kind = ? "
                      "ORDER BY row_id DESC LIMIT 1", [model_name, version, kind])
    if not rows:
        return None
    threshold, value, details, created_at = rows[0]
    return {"threshold": threshold, "value": value,
            "details": json.loads(details) if details else {}, "created_at": created_at}


def grid_cell_counts(db: Database, model_name: str, thresholds: Sequence[float], *,
                     versions: Sequence[str] | None = None,
                     time_range: TimeRange | None = None,
                     role: str | None = "served") -> pl.DataFrame:
    """Positives and negatives per cell between sorted thresholds, in one scan.

    Cell ``k`` holds the labelled, scored rows with exactly ``k`` thresholds ``<= score``
    (so ``score >= thresholds[j]`` is ``cell > j``: exact, no binning error). Columns
    ``cell, pos, neg, min_score``, cells without rows omitted, ascending.
    """
    where, params = where_clause(model_name, versions, time_range, role=role)
    where += " AND score IS NOT NULL AND actual IS NOT NULL"
    cell = " + ".join(f"(score >= {float(t)!r}::DOUBLE)::INTEGER" for t in thresholds) or "0"
    sql = (f"SELECT {cell} AS cell, count(*) FILTER (WHERE actual) AS pos, "
           "count(*) FILTER (WHERE NOT actual) AS neg, min(score) AS min_score "
           f"FROM predictions WHERE {where} GROUP BY cell ORDER BY cell")
    return query(db, sql, params)


def labelled_scores(db: Database, model_name: str, *, versions: Sequence[str] | None = None,
                    time_range: TimeRange | None = None,
                    role: str | None = "served") -> pl.DataFrame:
    """``score`` (Float64) and ``actual`` (UInt8, 0 / 1) of the labelled, scored rows, unsorted.

    One plain scan. For exact threshold curves over continuous scores this beats
    ``GROUP BY score`` (a hash aggregate with about one group per row, then a sort): sorting
    in numpy is cheaper. ``actual`` comes as UInt8 rather than Boolean because Arrow packs
    booleans into bits, and unpacking 1e7 of them costs more than the scan itself.
    """
    where, params = where_clause(model_name, versions, time_range, role=role)
    where += " AND score IS NOT NULL AND actual IS NOT NULL"
    return query(db, "SELECT score::DOUBLE AS score, actual::UTINYINT AS actual "
                 f"FROM predictions WHERE {where}", params)
