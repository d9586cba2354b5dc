"""CLI commands of the ops layer: ``jobs run|schedule|list|history|status`` and ``metrics``.

The top-level parser (``mlmkit.cli``) calls [`register`][mlmkit.ops.register] with its
sub-parsers; each command sets ``func`` to a handler ``(args) -> int`` (the process exit code).
``python -m mlmkit.ops`` runs these commands without the rest of the CLI.

Every command takes ``--log STRATEGY`` (``console``, ``json``, ``file[:PATH]``,
``syslog[:ADDR]``, ``quiet``; default ``MLMKIT_LOG`` or ``console``).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from typing import Any

from mlmkit._cli_core import add_db_argument, check_output, workspace_path
from mlmkit._cli_options import (
    CliParser,
    add_json,
    add_now,
    add_window,
    given_now,
    open_workspace,
)
from mlmkit._cli_output import emit, frame_rows

__all__ = ["common_options", "configure_cli_logging", "exposition_samples", "main", "register"]


def common_options() -> argparse.ArgumentParser:
    """The logging options every long-running command shares (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log", metavar="STRATEGY", default=None,
                        help="logging: console, json, file[:PATH], syslog[:ADDR], quiet "
                             "(default: $MLMKIT_LOG or console)")
    common.add_argument("--log-level", default=None,
                        help="DEBUG, INFO, WARNING or ERROR (default: INFO)")
    return common


def _option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option must be KEY=VALUE; got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(value, list):
        value = tuple(value)
    return key.strip().replace("-", "_"), value


def register(subparsers: Any) -> None:
    """Add ``jobs`` and ``metrics`` to an argparse sub-parsers object.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="mlmkit")
    >>> register(parser.add_subparsers(dest="command", required=True))
    >>> args = parser.parse_args(["jobs", "run", "retention", "--db", "ws.duckdb"])
    >>> args.name, args.db, args.func.__name__
    ('retention', 'ws.duckdb', '_cmd_run')
    """
    common = common_options()
    jobs = subparsers.add_parser("jobs", help="run or schedule the monitoring jobs")
    sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run one job now (for cron, k8s)")
    run.add_argument("name", help="job name (see `mlmkit jobs list`)")
    add_db_argument(run, create=True)
    run.add_argument("--option", "-o", action="append", type=_option, default=[],
                     metavar="KEY=VALUE", help="job option (JSON value), repeatable")
    add_now(run, "the run counts as")
    add_json(run, what="the run")
    run.set_defaults(func=_cmd_run)

    schedule = sub.add_parser("schedule", parents=[common], help="run the job scheduler")
    add_db_argument(schedule, create=True)
    schedule.add_argument("--config", default=None,
                          help="TOML file with cadences (default: the built-in schedule)")
    schedule.set_defaults(func=_cmd_schedule)

    lister = sub.add_parser("list", parents=[common], help="list jobs and cadences")
    lister.add_argument("--config", default=None,
                        help="TOML file with cadences (default: the built-in schedule)")
    add_json(lister, what="the schedule")
    lister.set_defaults(func=_cmd_list)

    history = sub.add_parser("history", parents=[common], help="recent job runs")
    add_db_argument(history)
    history.add_argument("--job", default=None, help="only this job (default: every job)")
    history.add_argument("--limit", type=int, default=20, help="newest runs to show")
    add_json(history, what="the runs")
    history.set_defaults(func=_cmd_history)

    status = sub.add_parser("status", parents=[common],
                            help="one line per job: last status, error, last success")
    add_db_argument(status)
    add_json(status, what="the jobs")
    status.set_defaults(func=_cmd_status)

    metrics = subparsers.add_parser("metrics", parents=[common],
                                    help="print the Prometheus exposition or write a textfile")
    add_db_argument(metrics)
    metrics.add_argument("--textfile", default=None,
                         help="write here atomically (node-exporter textfile collector)")
    add_window(metrics, "1h", help="window of the model gauges")
    add_json(metrics, what="the samples (name, labels, value)")
    metrics.set_defaults(func=_cmd_metrics)


def configure_cli_logging(args: argparse.Namespace) -> None:
    """Set up mlmkit's logging from the shared ``--log`` options."""
    from mlmkit.ops.logging import configure

    configure(getattr(args, "log", None), level=getattr(args, "log_level", None))


def _cmd_run(args: argparse.Namespace) -> int:
    from mlmkit.services.jobs.runner import run_job

    configure_cli_logging(args)
    now = given_now(args)
    with open_workspace(args) as ws:
        run = run_job(ws, args.name, now=now, **dict(args.option))
    if args.json:
        emit(args, [], document=run.to_dict())
    else:
        print(f"{run.job}: {run.status} (run {run.run_id}, processed {run.processed}, "
              f"changed {run.changed}, failed {run.failed}, {run.duration_s:.3f} s)"
              + (f"\n  error: {run.error}" if run.error else ""))
    return 0 if run.ok else 1


def _cmd_schedule(args: argparse.Namespace) -> int:
    from mlmkit.ops.scheduler import run_scheduler

    configure_cli_logging(args)
    run_scheduler(workspace_path(args), args.config)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from mlmkit.ops.scheduler import load_schedule
    from mlmkit.services.jobs.runner import JOBS

    plan, tz = load_schedule(args.config)
    rows = [{"job": item.job, "schedule": item.cron or f"every {item.interval_s:g} s",
             "cron": item.cron, "interval_s": item.interval_s,
             "description": JOBS[item.job].description} for item in plan]
    emit(args, rows, ["job", "schedule", "description"], footer=f"(time zone {tz})",
         document={"time_zone": str(tz), "jobs": rows})
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from mlmkit.services.jobs.runner import job_history

    with open_workspace(args) as ws:
        frame = job_history(ws, args.job, limit=args.limit)
    rows = frame_rows(frame)
    emit(args, rows, [c for c in frame.columns if c not in ("details", "host", "pid")],
         empty="(no job runs recorded)")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from mlmkit.services.jobs.runner import job_summary

    with open_workspace(args) as ws:
        rows = frame_rows(job_summary(ws))
    emit(args, rows, empty="(no job has run yet)")
    return 0


_SAMPLE = re.compile(r'^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+'
                     r'(?P<value>\S+)(?:\s+\S+)?$')
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def exposition_samples(text: str) -> list[dict[str, Any]]:
    r"""The samples of a Prometheus text exposition as ``{name, labels, value}`` dicts.

    Examples
    --------
    >>> text = '# HELP up x' + chr(10) + 'up{job="a b",q="\\"x\\""} 1' + chr(10) + 'n 2.5e+00'
    >>> exposition_samples(text)[0]
    {'name': 'up', 'labels': {'job': 'a b', 'q': '"x"'}, 'value': 1.0}
    >>> exposition_samples(text)[1]
    {'name': 'n', 'labels': {}, 'value': 2.5}
    """
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip()) if line.strip() and not line.startswith("#") else None
        if match is None:
            continue
        labels = {key: value.encode().decode("unicode_escape")
                  for key, value in _LABEL.findall(match["labels"] or "")}
        raw = float(match["value"])
        samples.append({"name": match["name"], "labels": labels,
                        "value": raw if math.isfinite(raw) else match["value"]})
    return samples


def _cmd_metrics(args: argparse.Namespace) -> int:
    from mlmkit.ops.prometheus import generate_metrics, write_textfile

    configure_cli_logging(args)
    path = workspace_path(args)
    if args.textfile:
        write_textfile(path, check_output(args.textfile, path, name="--textfile"),
                       window=args.window)
    elif args.json:
        emit(args, [], document=exposition_samples(
            generate_metrics(path, window=args.window).decode()))
    else:
        sys.stdout.write(generate_metrics(path, window=args.window).decode())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ops commands alone (``python -m mlmkit.ops ...``); returns the exit code."""
    from mlmkit.exceptions import MlmkitError

    parser = CliParser(prog="mlmkit")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (MlmkitError, OSError) as err:
        print(f"mlmkit: error: {err}", file=sys.stderr)
        return 2
