"""``mlmkit export`` and ``mlmkit import``: the prediction log as a Parquet dataset and back.

``export`` writes (or brings up to date) the dataset of
[`export_dataset`][mlmkit.store.engines.export_dataset]: one file per model and UTC
day under ``model_name=<m>/date=<yyyy-mm-dd>/``, a manifest with each model's type, features
and per-day fingerprints, and only the days that changed since the last export rewritten.

``import`` reads a dataset into a workspace with
`import_dataset`: models missing from the registry
are registered (name, type, each version seen), rows go through the log's batch path
(``ws.log.track_batch``: the same validation as any batch), one transaction per model-day, so
a day is imported whole or not at all; a model-day the workspace already holds is skipped,
which makes a re-run safe. Labels and their ``labelled_at`` times are kept. Not carried: the
registry's other metadata (configuration, metrics, environment, stages), alerts, jobs,
experiments, rollouts, tokens and the daily summaries of days retention removed.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlmkit._cli_options import add_db, add_json, open_workspace
from mlmkit._cli_output import emit

if TYPE_CHECKING:
    import polars as pl

    from mlmkit.workspace import Workspace

__all__ = ["import_dataset", "register"]

_CODECS = ("zstd", "snappy", "gzip", "uncompressed")
_BASE = ("model_name", "version", "prediction", "score", "confidence", "prediction_id",
         "unit_id", "role", "actual")
_KEYS = ("model_name", "version", "prediction_id", "unit_id", "role")
#: The dataset columns each non-binary task logs through ``track_batch`` (binary: ``_BASE``).
_TASK_KEEP = {"multiclass": (*_KEYS, "confidence", "probabilities"), "regression": _KEYS,
              "score-only": (*_KEYS, "prediction", "score", "actual")}
#: The dataset columns holding a task's prediction and ground truth.
_TASK_COLUMNS = {"multiclass": ("label", "actual_label"),
                 "regression": ("value", "actual_value")}


def register(subparsers: Any) -> None:
    """Add ``export`` and ``import`` to an argparse sub-parsers object.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="mlmkit")
    >>> register(parser.add_subparsers(dest="command", required=True))
    >>> args = parser.parse_args(["export", "--db", "ws.duckdb", "--out", "ds", "-m", "a"])
    >>> args.out, args.model, args.func.__name__
    ('ds', ['a'], '_cmd_export')
    """
    export = subparsers.add_parser(
        "export", help="write the prediction log as a Parquet dataset (incremental)",
        description="Write the prediction log as a hive-partitioned Parquet dataset, one file "
                    "per model and UTC day; a second run rewrites only new and changed days.")
    add_db(export)
    export.add_argument("--out", metavar="DIR", required=True,
                        help="dataset directory (created; an existing one is brought up to date)")
    export.add_argument("--model", "-m", action="append", default=None, metavar="NAME",
                        help="export this model (repeatable; default: every model)")
    export.add_argument("--full", action="store_true",
                        help="rewrite every day, not only the new and changed ones")
    export.add_argument("--compression", choices=_CODECS, default="zstd",
                        help="Parquet codec")
    add_json(export, what="the summary")
    export.set_defaults(func=_cmd_export)

    load = subparsers.add_parser(
        "import", help="read a Parquet dataset written by `mlmkit export` into a workspace",
        description="Read a dataset written by `mlmkit export` into a workspace: one "
                    "transaction per model-day; days the workspace already holds are skipped.")
    load.add_argument("dataset", metavar="DIR", help="dataset directory")
    add_db(load, create=True)
    load.add_argument("--model", "-m", action="append", default=None, metavar="NAME",
                      help="import this model (repeatable; default: every model)")
    add_json(load, what="the summary")
    load.set_defaults(func=_cmd_import)


def _cmd_export(args: argparse.Namespace) -> int:
    from mlmkit.store.engines.dataset import export_dataset

    with open_workspace(args) as ws:
        done = export_dataset(ws.db, args.out, model_name=args.model, full=args.full,
                              compression=args.compression)
    summary = {"days_written": done["days"], "days_skipped": done["skipped"],
               "rows": done["rows"], "files": done["files"], "bytes": done["bytes"],
               "out": str(args.out)}
    emit(args, [summary], document=summary)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    with open_workspace(args) as ws:
        done = import_dataset(ws, args.dataset, model_name=args.model)
    summary = {"days_imported": done["days"], "days_skipped": done["skipped"],
               "rows": done["rows"], "labels": done["labels"],
               "versions_registered": done["registered"], "db": str(args.db)}
    emit(args, [summary], document=summary)
    return 0


def import_dataset(ws: Workspace, path: str | os.PathLike[str], *,
                   model_name: str | Sequence[str] | None = None) -> dict[str, int]:
    """Read a dataset written by ``mlmkit export`` into ``ws``; returns what was done.

    Missing model versions are registered with the manifest's model type and task; each
    task's rows go through ``ws.log.track_batch`` as that task logs them (a multiclass
    model's ``label``/``actual_label`` and a regression model's ``value``/``actual_value`` as
    ``prediction``/``actual``, probabilities kept) and their label times are restored.

    Parameters
    ----------
    ws
        The target workspace.
    path
        The dataset directory (it must hold the manifest).
    model_name
        One model or several (default: every model of the dataset).

    Returns
    -------
    dict
        ``days`` imported, ``skipped`` (model-days the workspace already held), ``rows``,
        ``labels`` (rows whose ``labelled_at`` was restored) and ``registered`` versions.

    Raises
    ------
    NotFoundError
        A requested model is not in the dataset.
    ValidationError
        ``path`` is not a dataset, or a day's rows fail the log's validation (that day and
        the following ones are not imported; the days before it are).
    """
    import polars as pl

    from mlmkit.catalogue import Task
    from mlmkit.exceptions import NotFoundError
    from mlmkit.store.engines.dataset import load_manifest, logged_days, restore_label_times
    from mlmkit.values import ModelMetadata

    root = Path(path)
    models: dict[str, Any] = load_manifest(root)["models"]
    names = list(models) if model_name is None else (
        [model_name] if isinstance(model_name, str) else list(model_name))
    if missing := [m for m in names if m not in models]:
        raise NotFoundError(f"model_name {missing[0]!r} is not in the dataset {str(root)!r} "
                            f"(models: {sorted(models)})")
    done = dict.fromkeys(("days", "skipped", "rows", "labels", "registered"), 0)
    for name in names:
        entry = models[name]
        task = Task(entry.get("task") or "binary")
        present = logged_days(ws.db, name)
        for day, info in sorted(entry["days"].items()):
            if day in present:
                done["skipped"] += 1
                continue
            table = pl.concat([pl.read_parquet(root / f, hive_partitioning=False)
                               for f in info["files"]], how="diagonal_relaxed")
            if entry.get("model_type"):
                for version in table.get_column("version").unique().sort().to_list():
                    if not ws.registry.exists(name, version):
                        ws.registry.register(ModelMetadata(name, entry["model_type"], version,
                                                           task=task))
                        done["registered"] += 1
            label = _TASK_COLUMNS.get(task.value, ("prediction", "actual"))[1]
            keys = table.filter(pl.col(label).is_not_null()).select(
                "version", "role", "prediction_id", "ts", "labelled_at").to_arrow()
            with ws.db.transaction():
                done["rows"] += ws.log.track_batch(_batch(table, entry["features"], task.value))
                done["labels"] += restore_label_times(ws.db, name, day, keys)
            done["days"] += 1
    return done


def _batch(table: pl.DataFrame, features: dict[str, dict[str, str]],
           task: str = "binary") -> pl.DataFrame:
    """A day's file as a ``track_batch`` frame of ``task``.

    Features go in a struct under their names; a multiclass or regression model's
    ``label``/``value`` and ``actual_label``/``actual_value`` columns become ``prediction``
    and ``actual``, and only the columns its task logs are kept (``track_batch`` refuses
    another task's columns).
    """
    import polars as pl

    keep, (predicted, label) = _TASK_KEEP.get(task, _BASE), _TASK_COLUMNS.get(
        task, ("prediction", "actual"))
    columns = [pl.col(c) for c in keep if c in table.columns]
    if predicted != "prediction":
        columns += [pl.col(predicted).alias("prediction"), pl.col(label).alias("actual")]
    if task == "score-only" and "prediction" in table.columns \
            and table.get_column("prediction").null_count() == table.height:
        columns = [c for c in columns if c.meta.output_name() != "prediction"]
    columns.append(pl.col("ts").alias("timestamp"))
    present = {name: spec["dataset_column"] for name, spec in features.items()
               if spec["dataset_column"] in table.columns}
    if present:
        columns.append(pl.struct([pl.col(col).alias(name) for name, col in present.items()])
                       .alias("features"))
    return table.select(columns)
