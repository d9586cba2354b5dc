"""The prediction dataset on disk: hive-partitioned Parquet, one file per model and UTC day.

Layout (readable by DuckDB, Spark, Trino, Polars without mlmkit)::

    <root>/_mlmkit_dataset.json                      the manifest (below)
    <root>/model_name=<model>/date=<yyyy-mm-dd>/part-0.parquet

Each file holds every row of one model and day, sorted by ``ts``, zstd-compressed, in row
groups of 122,880 rows, so engines get files of ~1e5-1e7 rows instead of thousands of small
ones. Columns: the ``predictions`` columns (``ts`` and ``labelled_at`` UTC timestamps), each
feature under its own name (a name clashing with a base column keeps its storage name) and
the partition columns ``model_name`` and ``date``.

The manifest records, per model, its type, its features (name, storage column, kind) and per
day a fingerprint (rows, labelled rows, last label time). `export_dataset` rewrites
exactly the days whose fingerprint changed (new days, and older days that got late rows or
labels), so a nightly export appends new days and refreshes late labels without rewriting
the rest.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlmkit._validation import check_choice, invalid
from mlmkit.exceptions import NotFoundError
from mlmkit.store.database import Database

__all__ = ["BASE_COLUMNS", "MANIFEST", "ROW_GROUP_SIZE", "export_dataset", "load_manifest",
           "logged_days", "partition_files", "restore_label_times"]

MANIFEST = "_mlmkit_dataset.json"
ROW_GROUP_SIZE = 122_880
FORMAT_VERSION = 1
BASE_COLUMNS = ("prediction_id", "model_name", "version", "ts", "prediction", "score",
                "confidence", "unit_id", "role", "actual", "labelled_at", "label",
                "actual_label", "value", "actual_value", "probabilities", "date")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_manifest(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a dataset directory (``NotFoundError``-like ``ValidationError`` if none)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise invalid("path", f"a dataset directory holding {MANIFEST} (written by "
                      "`mlmkit export`)", str(root))
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT_VERSION:
        raise invalid("path", f"a dataset of format {FORMAT_VERSION}", manifest.get("format"))
    return manifest


def partition_files(root: str | os.PathLike[str], manifest: dict[str, Any], model_name: str,
                    first: date | None = None, last: date | None = None) -> list[Path]:
    """The files of one model whose day lies in ``[first, last]`` (``None``: unbounded)."""
    days = manifest["models"].get(model_name, {}).get("days", {})
    out = []
    for day, entry in sorted(days.items()):
        d = date.fromisoformat(day)
        if (first is None or d >= first) and (last is None or d <= last):
            out += [Path(root) / f for f in entry["files"]]
    return out


def _models(conn: Any, wanted: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """Per model: type, features (name -> column, kind, dataset column)."""
    names = [r[0] for r in conn.execute(
        "SELECT DISTINCT model_name FROM predictions ORDER BY 1").fetchall()]
    if wanted is not None:
        if missing := [m for m in wanted if m not in names]:
            raise NotFoundError(f"model_name {missing[0]!r} has no logged predictions to "
                                f"export (models with rows: {names})")
        names = [m for m in names if m in wanted]
    kinds = {n: (t, task) for n, t, task in conn.execute(
        "SELECT model_name, any_value(model_type), any_value(task) FROM models GROUP BY ALL")
        .fetchall()}
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        feats = conn.execute("SELECT feature, column_name, kind FROM feature_columns "
                             "WHERE model_name = ? ORDER BY feature", [name]).fetchall()
        model_type, task = kinds.get(name, (None, "binary"))
        out[name] = {"model_type": model_type, "task": task, "features": {
            f: {"column": c, "kind": k, "dataset_column": c if f in BASE_COLUMNS else f}
            for f, c, k in feats}}
    return out


def export_dataset(db: Database, root: str | os.PathLike[str], *,
                   model_name: str | Sequence[str] | None = None, full: bool = False,
                   compression: str = "zstd") -> dict[str, int]:
    """Write (or bring up to date) the dataset at ``root``; returns what was done.

    ``full`` rewrites every day; otherwise only days whose fingerprint (rows, labelled rows,
    last label time) changed since the previous export are written. Each day is written to a
    temporary file and renamed over the old one, and the manifest is replaced last, so a
    crash leaves the previous export readable.

    Parameters
    ----------
    db
        The workspace database (``ws.db``).
    root
        The dataset directory (created; an existing one must hold a manifest).
    model_name
        One model or several (default: every model with logged rows); a model without rows
        raises ``NotFoundError``.
    full
        Rewrite every day, changed or not.
    compression
        Parquet codec: ``zstd``, ``snappy``, ``gzip`` or ``uncompressed``.

    Returns
    -------
    dict
        ``days`` and ``files`` written, ``skipped`` (unchanged days left as they were),
        ``rows`` and ``bytes`` written.
    """
    check_choice("compression", compression, ("zstd", "snappy", "gzip", "uncompressed"))
    wanted = [model_name] if isinstance(model_name, str) else (
        None if model_name is None else list(model_name))
    target = Path(root)
    manifest: dict[str, Any] = {"format": FORMAT_VERSION, "partitioning": ["model_name", "date"],
                                "models": {}}
    if (target / MANIFEST).exists():
        manifest = load_manifest(target)
    elif target.exists() and any(target.iterdir()):
        raise invalid("path", "an empty directory or an existing dataset", str(target))
    target.mkdir(parents=True, exist_ok=True)
    rows = files = days = skipped = written = 0
    with db.connection() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        models = _models(conn, wanted)
        for name, spec in models.items():
            entry = manifest["models"].setdefault(name, {"days": {}})
            entry.update({k: v for k, v in spec.items()})
            prints = conn.execute(
                "SELECT CAST(ts AS DATE)::VARCHAR, count(*), "
                "count(actual) + count(actual_label) + count(actual_value), "
                "max(labelled_at)::VARCHAR FROM predictions WHERE model_name = ? GROUP BY ALL "
                "ORDER BY 1", [name]).fetchall()
            cols = [_ident(c) for c in BASE_COLUMNS[:-1]] + [
                f'{_ident(f["column"])} AS {_ident(f["dataset_column"])}'
                for f in spec["features"].values() if f["dataset_column"] != f["column"]] + [
                _ident(f["column"]) for f in spec["features"].values()
                if f["dataset_column"] == f["column"]]
            for day, n, labelled, last_label in prints:
                fingerprint = [int(n), int(labelled), last_label]
                old = entry["days"].get(day)
                if not full and old is not None and old["fingerprint"] == fingerprint:
                    skipped += 1
                    continue
                rel = f"model_name={name}/date={day}/part-0.parquet"
                path = target / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".parquet.tmp")
                conn.execute(
                    f"COPY (SELECT {', '.join(cols)} FROM predictions WHERE model_name = ? "
                    f"AND ts >= CAST(? AS DATE) AND ts < CAST(? AS DATE) + 1 ORDER BY ts) "
                    f"TO {_literal(str(tmp))} (FORMAT parquet, COMPRESSION {compression}, "
                    f"ROW_GROUP_SIZE {ROW_GROUP_SIZE})", [name, day, day])
                os.replace(tmp, path)
                written += path.stat().st_size
                entry["days"][day] = {"files": [rel], "rows": int(n),
                                      "fingerprint": fingerprint}
                rows, files, days = rows + int(n), files + 1, days + 1
    tmp_manifest = target / (MANIFEST + ".tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp_manifest, target / MANIFEST)
    return {"rows": rows, "files": files, "days": days, "skipped": skipped, "bytes": written}


def logged_days(db: Database, model_name: str) -> dict[str, int]:
    """``{yyyy-mm-dd: rows}`` of one model in the workspace (UTC days)."""
    with db.connection() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        found = conn.execute("SELECT CAST(ts AS DATE)::VARCHAR, count(*) FROM predictions "
                             "WHERE model_name = ? GROUP BY ALL", [model_name]).fetchall()
    return {day: int(n) for day, n in found}


def restore_label_times(db: Database, model_name: str, day: str, keys: pa.Table) -> int:
    """Set ``labelled_at`` of one model-day's labelled rows from ``keys``; returns rows set.

    ``keys`` holds ``version, role, prediction_id, ts, labelled_at`` of the labelled rows of a
    dataset day; a row matches on all of them but ``labelled_at`` (NULL ids equal). Run it
    inside the transaction that inserted the rows (`Database.transaction` joins it), so the
    day is imported with its label times or not at all. Rows without ids sharing one
    timestamp may exchange label times among themselves.
    """
    if keys.num_rows == 0:
        return 0
    with db.transaction() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.register("_mlmkit_label_times", keys)
        try:
            found = conn.execute(
                "UPDATE predictions p SET labelled_at = k.labelled_at FROM _mlmkit_label_times k "
                "WHERE p.model_name = ? AND p.ts >= CAST(? AS DATE) AND p.ts < CAST(? AS DATE) "
                "+ 1 AND (p.actual IS NOT NULL OR p.actual_label IS NOT NULL "
                "OR p.actual_value IS NOT NULL) AND p.version = k.version AND p.role = k.role "
                "AND p.ts = k.ts AND p.prediction_id IS NOT DISTINCT FROM k.prediction_id",
                [model_name, day, day]).fetchall()
        finally:
            conn.unregister("_mlmkit_label_times")
    return int(found[0][0]) if found else 0


def remove_dataset(root: str | os.PathLike[str]) -> None:
    """Delete a dataset directory written by `export_dataset` (refuses anything else)."""
    load_manifest(root)
    shutil.rmtree(root)
