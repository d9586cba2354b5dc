"""Core CLI commands (``demo``, ``registry list|history|show|deploy|rollback``) and shared checks.

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

from mlmkit._cli_options import add_db, add_json, open_workspace, workspace_path
from mlmkit._cli_output import emit, frame_rows, render_table
from mlmkit.exceptions import MlmkitError, StateError, ValidationError

__all__ = ["add_db_argument", "check_output", "register", "workspace_path"]


def add_db_argument(parser: argparse.ArgumentParser, *, create: bool = False,
                    help: str | None = None) -> None:
    """Add ``--db`` (default ``$MLMKIT_DB``) and, with ``create=True``, ``--create``.

    Kept for command modules written before ``mlmkit._cli_options``; see
    ``mlmkit._cli_options.add_db``.
    """
    add_db(parser, create=create, help=help)


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
    demo.add_argument("--keep", action="store_true",
                      help="add the demo to an existing file instead of rebuilding it")
    demo.add_argument("--force", action="store_true",
                      help="replace an existing --db file even if the demo did not build it")
    demo.set_defaults(func=run_demo)

    registry = sub.add_parser("registry", help="inspect the model registry")
    reg_sub = registry.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")
    listing = reg_sub.add_parser("list", help="list registered model versions")
    add_db_argument(listing)
    add_json(listing, what="the versions")
    listing.set_defaults(func=run_registry_list)
    history = reg_sub.add_parser("history", help="deployment history (deploys, rollbacks)")
    add_db_argument(history)
    history.add_argument("--model", default=None, help="only this model (default: every model)")
    add_json(history, what="the events")
    history.set_defaults(func=run_registry_history)
    show = reg_sub.add_parser("show", help="one model version in full (configuration, metrics)")
    add_db_argument(show)
    show.add_argument("model", help="model name (see `mlmkit registry list`)")
    show.add_argument("version", nargs="?", default=None,
                      help="version (default: the production version, else the latest)")
    add_json(show, what="the version")
    show.set_defaults(func=run_registry_show)
    for action, what in (("deploy", "make VERSION serve ENVIRONMENT (recorded in the history)"),
                         ("rollback", "return ENVIRONMENT to the version deployed before")):
        change = reg_sub.add_parser(action, help=what)
        add_db_argument(change)
        change.add_argument("model", help="model name (see `mlmkit registry list`)")
        if action == "deploy":
            change.add_argument("version", help="registered version to deploy")
        change.add_argument("--environment", default="production",
                            help="environment to change (default: production)")
        change.add_argument("--reason", default=None, help="reason kept in the history")
        change.set_defaults(func=run_registry_change, action=action)


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
    from mlmkit.demo import build_demo, summary_lines

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
        for line in summary_lines(ws):  # the verdicts the report and the exporter show
            print(line)
    if args.out:
        from mlmkit.viz.report import render_report  # papermill: the `report` extra

        render_report(path, check_output(args.out, path))
        print(f"report written to {args.out}")
    return 0


def run_registry_list(args: argparse.Namespace) -> int:
    """Print every registered version (a table, or ``--json``)."""
    with open_workspace(args) as ws:
        rows = [{"model": meta.model_name, "version": str(meta.version),
                 "type": meta.model_type.value, "environment": meta.environment,
                 "created_at": meta.created_at, "deployed_at": meta.deployed_at}
                for name in ws.registry.get_all_model_names()
                for meta in ws.registry.get_all(name)]
    emit(args, rows, empty="(no registered models)")
    return 0


def run_registry_history(args: argparse.Namespace) -> int:
    """Print the deployment history (a table, or ``--json``)."""
    with open_workspace(args) as ws:
        if args.model is not None and not ws.registry.get_all(args.model):
            known = ", ".join(ws.registry.get_all_model_names()) or "none"
            raise ValidationError(f"--model {args.model!r} is not registered "
                                  f"(registered: {known})")
        rows = frame_rows(ws.registry.history(args.model).drop("event_id"))
    emit(args, rows, empty="(no deployment events)")
    return 0


def run_registry_change(args: argparse.Namespace) -> int:
    """Deploy a version or roll an environment back; print what serves now."""
    with open_workspace(args) as ws:
        if args.action == "deploy":
            version = ws.registry.deploy(args.model, args.version, args.environment,
                                         reason=args.reason, actor="cli").version
        else:
            version = ws.registry.rollback(args.model, args.environment,
                                           reason=args.reason, actor="cli")
    print(f"{args.model} {version} now serves {args.environment}")
    return 0


def run_registry_show(args: argparse.Namespace) -> int:
    """Print one version: its fields, configuration and performance metrics."""
    with open_workspace(args) as ws:
        if not ws.registry.get_all(args.model):
            known = ", ".join(ws.registry.get_all_model_names()) or "none"
            raise ValidationError(f"model {args.model!r} is not registered "
                                  f"(registered: {known})")
        version = args.version or ws.registry.deployed_version(args.model)
        meta = (ws.registry.require(args.model, version) if version is not None
                else ws.registry.get_all(args.model)[-1])
        environments = ws.registry.environments(meta.model_name, meta.version)
    if args.json:
        emit(args, [], document={**meta.to_dict(), "environments": environments})
        return 0
    fields = [("model", meta.model_name), ("version", str(meta.version)),
              ("type", meta.model_type.value), ("created_at", meta.created_at),
              ("deployed_at", meta.deployed_at), ("environments", ", ".join(environments))]
    sections = [("", fields), ("configuration", list(meta.configuration.items())),
                ("performance_metrics", list(meta.performance_metrics.items())),
                ("metadata", list(meta.metadata.items()))]
    blocks = []
    for title, pairs in sections:
        if title and not pairs:
            continue
        rows = [{title or "field": key, "value": value} for key, value in pairs]
        blocks.append(render_table(rows))
    print("\n\n".join(blocks))
    return 0
