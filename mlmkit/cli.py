"""The mlmkit command line: demo, registry, jobs, metrics, report, serve, tokens, simulate.

Command groups live next to the code they drive; each exposes ``register(subparsers)`` and
imports its heavy dependencies inside the handlers, so ``mlmkit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from mlmkit._cli_options import CliParser, debug_requested

__all__ = ["build_parser", "main"]

# Modules that add subcommands; each defines register(subparsers). Listed explicitly.
_COMMAND_MODULES = ("mlmkit._cli_core", "mlmkit.ops.commands", "mlmkit.viz.commands",
                    "mlmkit.simulation.commands", "mlmkit.server.commands",
                    "mlmkit.ops.dataset_commands")

_DESCRIPTION = """Manage ML models in production: a model registry, a prediction log with
delayed labels, monitoring, alerts, scheduled jobs and an HTTP server."""
_EPILOG = """environment:
  MLMKIT_DB      default workspace file for --db
  MLMKIT_LOG     logging of long-running commands (console, json, file[:PATH], quiet)
  MLMKIT_DEBUG   set to 1 to show a traceback instead of a one-line error

`mlmkit demo` builds a demo workspace; `mlmkit COMMAND --help` describes a command."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlmkit")
    except PackageNotFoundError:  # a source tree that was never installed
        import mlmkit

        return mlmkit.__version__


class _VersionAction(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0,
                         help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"mlmkit {_version()}")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available command group (imports no duckdb/polars)."""
    parser = CliParser(prog="mlmkit", description=_DESCRIPTION, epilog=_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also: MLMKIT_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Every [`MlmkitError`][mlmkit.exceptions.MlmkitError] and operating-system error (a missing or
    unreadable file, a full disk) is one line on stderr and exit status 2; ``--debug`` or
    ``MLMKIT_DEBUG=1`` re-raises it with its traceback.
    """
    from mlmkit.exceptions import MlmkitError

    given = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(given)
    args = build_parser().parse_args([a for a in given if a != "--debug"])
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `mlmkit ... | head`: the reader left; end quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the pipe
    except (MlmkitError, OSError) as err:
        if debug:
            raise
        print(f"mlmkit: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print("mlmkit: interrupted", file=sys.stderr)
        return 130


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.strerror}: {os.fsdecode(err.filename)!r}"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return "; ".join(lines) or type(err).__name__


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
