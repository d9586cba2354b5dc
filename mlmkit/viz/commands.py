"""The ``mlmkit report`` command (papermill + nbconvert; needs ``mlmkit[viz,report]``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from mlmkit._cli_core import add_db_argument, check_output, workspace_path
from mlmkit._cli_options import add_now, add_window, given_now

__all__ = ["register", "run_report"]


def register(sub: Any) -> None:
    """Add ``report`` to the ``mlmkit`` parser (imports nothing optional)."""
    report = sub.add_parser("report", help="execute the monitoring notebook and write HTML")
    add_db_argument(report)
    report.add_argument("--model", default=None,
                        help="model name (default: the first production model)")
    add_window(report, "7d")
    report.add_argument("--out", default="report.html", metavar="PATH",
                        help="HTML file to write")
    report.add_argument("--keep-notebook", default=None, metavar="PATH",
                        help="also save the executed notebook here (default: not saved)")
    add_now(report, "the report is as of (its windows end there)")
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Render the report; prints where it went."""
    from mlmkit.viz.report import render_report

    began = time.perf_counter()
    db = workspace_path(args)
    keep = None if args.keep_notebook is None else check_output(
        args.keep_notebook, db, name="--keep-notebook")
    out = render_report(Path(db), check_output(args.out, db), model=args.model,
                        window=args.window, progress=not args.quiet, keep_notebook=keep,
                        as_of=given_now(args))
    print(f"report written to {out} in {time.perf_counter() - began:.1f} s")
    return 0
