"""Core CLI commands: ``demo`` and ``registry list``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add ``demo`` and ``registry`` to the ``mlmkit`` parser."""
    demo = sub.add_parser("demo", help="build a demo workspace and print a summary")
    demo.add_argument("--db", default="data/demo.duckdb", help="workspace file to (re)create")
    demo.add_argument("--out", default=None, help="write the monitoring report (HTML) here")
    demo.add_argument("--rows", type=int, default=60_000, help="predictions per model")
    demo.add_argument("--keep", action="store_true", help="keep an existing file")
    demo.set_defaults(func=run_demo)

    registry = sub.add_parser("registry", help="inspect the model registry")
    reg_sub = registry.add_subparsers(dest="registry_command", required=True)
    listing = reg_sub.add_parser("list", help="list registered model versions")
    listing.add_argument("--db", required=True)
    listing.set_defaults(func=run_registry_list)
    history = reg_sub.add_parser("history", help="deployment history")
    history.add_argument("--db", required=True)
    history.add_argument("--model", default=None)
    history.set_defaults(func=run_registry_history)


def _remove(path: Path) -> None:
    for suffix in ("", ".wal", ".lock", ".queue"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_demo(args: argparse.Namespace) -> int:
    """Build the demo workspace, print what it holds, optionally write the report."""
    import mlmkit
    from mlmkit.demo import build_demo

    path = Path(args.db)
    if not args.keep:
        _remove(path)
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

        render_report(path, Path(args.out))
        print(f"report written to {args.out}")
    return 0


def run_registry_list(args: argparse.Namespace) -> int:
    """Print every registered version."""
    import mlmkit

    with mlmkit.open(args.db) as ws:
        for name in ws.registry.get_all_model_names():
            for meta in ws.registry.get_all(name):
                env = meta.environment or "-"
                print(f"{name:<20} {meta.version!s:<10} {meta.model_type.value:<16} {env}")
    return 0


def run_registry_history(args: argparse.Namespace) -> int:
    """Print the deployment history."""
    import polars as pl

    import mlmkit

    with mlmkit.open(args.db) as ws:
        frame = ws.registry.history(args.model)
    with pl.Config(tbl_rows=100, tbl_cols=12):
        print(frame.drop("event_id"))
    return 0
