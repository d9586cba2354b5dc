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
from datetime import date
from pathlib import Path
from typing import Any

from mlmkit._validation import check_choice, invalid
from mlmkit.store.database import Database

__all__ = ["BASE_COLUMNS", "MANIFEST", "ROW_GROUP_SIZE", "export_dataset", "load_manifest",
           "partition_files"]

MANIFEST = "_mlmkit_dataset.json"
ROW_GROUP_SIZE = 122_880
FORMAT_VERSION = 1
BASE_COLUMNS = ("prediction_id", "model_name", "version", "ts", "prediction", "score",
                "confidence", "unit_id", "role", "actual", "labelled_at", "date")


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


def _models(conn: Any, model_name: str | None) -> dict[str, dict[str, Any]]:
    """Per model: type, features (name -> column, kind, dataset column)."""
    where = "" if model_name is None else " WHERE model_name = ?"
    params = [] if model_name is None else [model_name]
    names = [r[0] for r in conn.execute(
        f"SELECT DISTINCT model_name FROM predictions{where} ORDER BY 1", params).fetchall()]
    types = dict(conn.execute("SELECT model_name, any_value(model_type) FROM models "
                              "GROUP BY ALL").fetchall())
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        feats = conn.execute("SELECT feature, column_name, kind FROM feature_columns "
                             "WHERE model_name = ? ORDER BY feature", [name]).fetchall()
        out[name] = {"model_type": types.get(name), "features": {
            f: {"column": c, "kind": k, "dataset_column": c if f in BASE_COLUMNS else f}
            for f, c, k in feats}}
    return out


def export_dataset(db: Database, root: str | os.PathLike[str], *,
                   model_name: str | None = None, full: bool = False,
                   compression: str = "zstd") -> dict[str, int]:
    """Write (or bring up to date) the dataset at ``root``; returns ``{"rows", "files", "days"}``.

    ``full`` rewrites every day; otherwise only days whose fingerprint (rows, labelled rows,
    last label time) changed since the previous export are written. Each day is written to a
    temporary file and renamed over the old one, and the manifest is replaced last, so a
    crash leaves the previous export readable.
    """
    check_choice("compression", compression, ("zstd", "snappy", "gzip", "uncompressed"))
    target = Path(root)
    manifest: dict[str, Any] = {"format": FORMAT_VERSION, "partitioning": ["model_name", "date"],
                                "models": {}}
    if (target / MANIFEST).exists():
        manifest = load_manifest(target)
    elif target.exists() and any(target.iterdir()):
        raise invalid("path", "an empty directory or an existing dataset", str(target))
    target.mkdir(parents=True, exist_ok=True)
    rows = files = days = 0
    with db.connection() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        models = _models(conn, model_name)
        for name, spec in models.items():
            entry = manifest["models"].setdefault(name, {"days": {}})
            entry.update({k: v for k, v in spec.items()})
            prints = conn.execute(
                "SELECT CAST(ts AS DATE)::VARCHAR, count(*), count(actual), "
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
                entry["days"][day] = {"files": [rel], "rows": int(n),
                                      "fingerprint": fingerprint}
                rows, files, days = rows + int(n), files + 1, days + 1
    tmp_manifest = target / (MANIFEST + ".tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp_manifest, target / MANIFEST)
    return {"rows": rows, "files": files, "days": days}


def remove_dataset(root: str | os.PathLike[str]) -> None:
    """Delete a dataset directory written by `export_dataset` (refuses anything else)."""
    load_manifest(root)
    shutil.rmtree(root)
