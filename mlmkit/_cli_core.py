"""Core CLI commands (``demo``, ``registry list|history``) and the checks every command shares.

Only ``demo`` and a command given ``--create`` may create a workspace file: every other
command refuses a ``--db`` path that does not exist (``workspace_path``), so a mistyped
path fails loudly instead of answering from an empty workspace. No command writes an output
over one of its inputs (``check_output``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from mlmkit.exceptions import MlmkitError, NotFoundError, StateError, ValidationError

__all__ = ["add_db_argument", "check_output", "register", "workspace_path"]


def add_db_argument(parser: argparse.ArgumentParser, *, create: bool = False,
                    help: str = "workspace file (must exist)") -> None:
    """Add ``--db`` (required) and, with ``create=True``, ``--create`` to ``parser``."""
    parser.add_argument("--db", required=True, help=help)
    if create:
        parser.add_argument("--create", action="store_true",
                            help="create an empty workspace when --db does not exist")


def workspace_path(args: argparse.Namespace) -> str:
    """The ``--db`` path of a command, refused when it does not exist and ``--create`` is unset.

    Raises
    ------
    NotFoundError
        The file is missing; the message names the path and the way out.
    """
    path = Path(args.db)
    if path.is_dir():
        raise ValidationError(f"--db must be a workspace file; got the directory {str(path)!r}")
    if not path.exists() and not getattr(args, "create", False):
        hint = " or pass --create to start an empty one" if hasattr(args, "create") else ""
        raise NotFoundError(f"workspace file {str(path)!r} does not exist (check --db{hint}; "
                            "`mlmkit demo` builds a demo workspace)")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(out: str | os.PathLike[str], *inputs: str | os.PathLike[str],
                 name: str = "--out") -> Path:
    """Return ``out`` as a path, refusing one that resolves to any of ``inputs``.

    Examples
    --------
    >>> check_output("r.html", "ws.duckdb")
    PosixPath('r.html')
    >>> try:
    ...     check_output("./ws.duckdb", "ws.duckdb")
    ... except ValidationError as err:
    ...     print(err)
    --out must be a file other than the input 'ws.duckdb'; got './ws.duckdb'
    """
    target = Path(out)
    for source in inputs:
        related = [Path(f"{source}{suffix}") for suffix in ("", ".wal")]
        if any(_same_file(target, p) for p in related):
            raise ValidationError(f"{name} must be a file other than the input "
                                  f"{os.fspath(source)!r}; got {os.fspath(out)!r}")
    return target


def register(sub: Any) -> None:
    """Add ``demo`` and ``registry`` to the ``mlmkit`` parser."""
    demo = sub.add_parser("demo", help="build a demo workspace and print a summary")
    demo.add_argument("--db", default="data/demo.duckdb",
                      help="workspace file to (re)create; an existing file that the demo did "
                           "not build is replaced only with --force")
    demo.add_argument("--out", default=None, help="write the monitoring report (HTML) here")
    demo.add_argument("--rows", type=int, default=60_000, help="predictions per model")
    demo.add_argument("--keep", action="store_true", help="keep an existing file")
    demo.add_argument("--force", action="store_true",
                      help="replace an existing --db file even if the demo did not build it")
    demo.set_defaults(func=run_demo)

    registry = sub.add_parser("registry", help="inspect the model registry")
    reg_sub = registry.add_subparsers(dest="registry_command", required=True)
    listing = reg_sub.add_parser("list", help="list registered model versions")
    add_db_argument(listing)
    listing.set_defaults(func=run_registry_list)
    history = reg_sub.add_parser("history", help="deployment history")
    add_db_argument(history)
    history.add_argument("--model", default=None)
    history.set_defaults(func=run_registry_history)


def _remove(path: Path) -> None:
    for suffix in ("", ".wal", ".lock", ".queue"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _built_by_demo(path: Path) -> bool:
    """True when ``path`` is a current mlmkit workspace that ``mlmkit demo`` built."""
    import mlmkit
    from mlmkit.demo import is_demo_workspace
    from mlmkit.ops._access import short_db

    try:  # read without creating or migrating: a foreign or older file is not the demo's
        with short_db(path):
            pass
    except (MlmkitError, OSError):
        return False
    with mlmkit.open(path) as ws:
        return is_demo_workspace(ws)


def run_demo(args: argparse.Namespace) -> int:
    """Build the demo workspace, print what it holds, optionally write the report."""
    import mlmkit
    from mlmkit.demo import build_demo

    path = Path(args.db)
    if args.out:
        check_output(args.out, path)
    if path.is_dir():
        raise ValidationError(f"--db must be a workspace file; got the directory {str(path)!r}")
    if path.exists() and not args.keep and not args.force and not _built_by_demo(path):
        raise StateError(f"--db {str(path)!r} exists and was not built by `mlmkit demo`; "
                         "refusing to replace it (pass --force to replace it, --keep to add "
                         "the demo to it, or choose another --db)")
    if not args.keep:
        _remove(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with mlmkit.open(path) as ws:
        summary = build_demo(ws, per_model=args.rows)
        print(f"demo workspace {path}: {summary} in {time.perf_counter() - began:.1f} s")
        for meta in ws.registry.get_production_models():
            metrics = ws.monitor.get_current_metrics(meta.model_name, meta.version,
                                                     window="7d")
            drift = ws.monitor.data_drift(meta.model_name, meta.version, reference="14d",
                                          current="3d")
            drifted = drift.filter(drift["drift"])["feature"].to_list()
            degradation = ws.monitor.get_performance_degradation_info(
                meta.model_name, meta.version, window="3d", baseline="14d")
            print(f"  {meta.model_name:<15} {meta.version!s:<7} production  "
                  f"accuracy(7d)={metrics['accuracy']:.3f} "
                  f"labelled={metrics['labelled_count']:,}/{metrics['sample_count']:,}  "
                  f"last 3 days: {degradation.severity}  "
                  f"drifted={', '.join(drifted) or '-'}")
    if args.out:
        from mlmkit.viz.report import render_report  # papermill: the `report` extra

        render_report(path, check_output(args.out, path))
        print(f"report written to {args.out}")
    return 0


def run_registry_list(args: argparse.Namespace) -> int:
    """Print every registered version."""
    import mlmkit

    with mlmkit.open(workspace_path(args)) as ws:
        for name in ws.registry.get_all_model_names():
            for meta in ws.registry.get_all(name):
                env = meta.environment or "-"
                print(f"{name:<20} {meta.version!s:<10} {meta.model_type.value:<16} {env}")
    return 0


def run_registry_history(args: argparse.Namespace) -> int:
    """Print the deployment history."""
    import polars as pl

    import mlmkit

    with mlmkit.open(workspace_path(args)) as ws:
        frame = ws.registry.history(args.model)
    with pl.Config(tbl_rows=100, tbl_cols=12):
        print(frame.drop("event_id"))
    return 0
