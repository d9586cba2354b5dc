"""The options every ``mlmkit`` command shares, defined once, and the parser class they live in.

Command modules add options with these helpers so that ``--db``, ``--window``, ``--json``,
``--port`` and ``--host`` read the same, with help text and a shown default, everywhere:

- ``--db PATH`` defaults to the ``MLMKIT_DB`` environment variable; a command that needs a
  workspace and gets neither fails with one line naming both (``workspace_path``).
- ``CliParser`` prints every usage error as one line (``mlmkit: error: ...``) and shows
  each option's default in ``--help``.

This module imports only the standard library: building the parser (``mlmkit --help``)
must not import duckdb, polars or numpy.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mlmkit.exceptions import NotFoundError, ValidationError

if TYPE_CHECKING:
    from mlmkit.workspace import Workspace

__all__ = ["DB_ENV", "CliParser", "HelpFormatter", "add_db", "add_host", "add_json", "add_now",
           "add_port", "add_window", "debug_requested", "given_now", "open_workspace",
           "workspace_path"]

DB_ENV = "MLMKIT_DB"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: X)`` after an option's help unless it has no default or names one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default in (None, False, [], argparse.SUPPRESS) or "default" in text
                or not action.option_strings):
            return text
        return super()._get_help_string(action) or text


class CliParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and whose help shows defaults.

    Sub-parsers created from it (``add_subparsers().add_parser``) are of this class too.

    Examples
    --------
    >>> parser = CliParser(prog="mlmkit")
    >>> _ = parser.add_argument("--rows", type=int, default=10, help="rows")
    >>> "(default: 10)" in parser.format_help()
    True
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print ``mlmkit: error: <message> (see `<prog> --help`)`` and exit with status 2."""
        self.exit(2, f"mlmkit: error: {message} (see `{self.prog} --help`)\n")


def add_db(parser: argparse.ArgumentParser, *, create: bool = False, lock_timeout: bool = True,
           help: str | None = None) -> None:
    """Add ``--db`` (default ``$MLMKIT_DB``), optionally ``--create`` and ``--lock-timeout``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    create : bool
        Also add ``--create`` (make an empty workspace when the file does not exist).
    lock_timeout : bool
        Also add ``--lock-timeout SECONDS`` (read by ``open_workspace``).
    help : str, optional
        What the file is for; the default-from-environment note is appended.
    """
    current = os.environ.get(DB_ENV) or None
    note = f"now {current!r}" if current else "unset"
    parser.add_argument("--db", metavar="PATH", default=current,
                        help=f"{help or _db_help(create)} "
                             f"(default: ${DB_ENV}, {note})")
    if create:
        parser.add_argument("--create", action="store_true",
                            help="create an empty workspace when --db does not exist")
    if lock_timeout:
        parser.add_argument("--lock-timeout", metavar="SECONDS", type=float, default=30.0,
                            help="how long to wait for another process holding the workspace")


def _db_help(create: bool) -> str:
    return "workspace file" if create else "workspace file, which must exist"


def add_window(parser: argparse.ArgumentParser, default: str, *,
               help: str = "monitoring window") -> None:
    """Add ``--window DURATION`` (``30m``, ``24h``, ``7d``)."""
    parser.add_argument("--window", metavar="DURATION", default=default,
                        help=f"{help}, e.g. 30m, 24h or 7d")


def add_now(parser: argparse.ArgumentParser, what: str) -> None:
    """``--now TIME``: the instant ``what`` counts as (read by `given_now`)."""
    parser.add_argument("--now", default=None, metavar="TIME",
                        help=f"ISO 8601 time {what} (naive: UTC; default: the current time)")


def given_now(args: argparse.Namespace) -> datetime | None:
    """The ``--now`` of `add_now` as a datetime (``None``: not given)."""
    try:
        return None if args.now is None else datetime.fromisoformat(args.now)
    except ValueError as err:
        raise ValidationError(f"--now must be an ISO 8601 time such as 2024-05-01T12:00; got "
                              f"{args.now!r}", field="--now", value=args.now) from err


def add_json(parser: argparse.ArgumentParser, *, what: str = "the result") -> None:
    """Add ``--json``: print ``what`` as one JSON document instead of a table."""
    parser.add_argument("--json", action="store_true",
                        help=f"print {what} as one JSON document instead of a table")


def add_port(parser: argparse.ArgumentParser, default: int) -> None:
    """Add ``--port`` (0 picks any free port)."""
    parser.add_argument("--port", type=int, default=default,
                        help="TCP port to listen on (0: any free port)")


def add_host(parser: argparse.ArgumentParser, default: str = "127.0.0.1") -> None:
    """Add ``--host`` (the interface to listen on)."""
    parser.add_argument("--host", default=default,
                        help="interface to listen on (0.0.0.0: every interface)")


def workspace_path(args: argparse.Namespace) -> str:
    """The ``--db`` path of a command, refused when it does not exist and ``--create`` is unset.

    Raises
    ------
    ValidationError
        Neither ``--db`` nor ``MLMKIT_DB`` names a file, or the path is a directory.
    NotFoundError
        The file is missing; the message names the path and the way out.
    """
    if not args.db:
        raise ValidationError(f"no workspace given: pass --db PATH or set {DB_ENV}")
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


def open_workspace(args: argparse.Namespace) -> Workspace:
    """Open the command's workspace (``workspace_path``) with its ``--lock-timeout``."""
    from mlmkit.workspace import open_workspace as _open

    return _open(workspace_path(args), lock_timeout=getattr(args, "lock_timeout", 30.0))


def debug_requested(argv: list[str]) -> bool:
    """Whether ``--debug`` or ``MLMKIT_DEBUG=1`` asks for tracebacks instead of one line."""
    return "--debug" in argv or os.environ.get("MLMKIT_DEBUG", "") not in ("", "0")
