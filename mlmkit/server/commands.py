"""The ``mlmkit tokens`` commands: create, list and revoke the HTTP server's API tokens.

``create`` prints the token once, alone on stdout (``TOKEN=$(mlmkit tokens create ...)``), and
what it is on stderr; the workspace keeps only its SHA-256 hash. ``list`` never shows hashes.
A running server honours a revocation within its verifier's cache bound (5 s by default).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from mlmkit._cli_core import add_db_argument, workspace_path

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``tokens create|list|revoke`` to an argparse sub-parsers object.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="mlmkit")
    >>> register(parser.add_subparsers(dest="command", required=True))
    >>> args = parser.parse_args(["tokens", "create", "--db", "ws.duckdb", "--scope", "read"])
    >>> args.scope, args.name, args.func.__name__
    ('read', None, '_cmd_create')
    """
    tokens = subparsers.add_parser("tokens", help="manage the HTTP server's API tokens")
    sub = tokens.add_subparsers(dest="tokens_command", required=True)

    create = sub.add_parser("create", help="create a token and print it (shown only once)")
    add_db_argument(create)
    create.add_argument("--scope", required=True, choices=("ingest", "read", "admin"),
                        help="ingest: write predictions/actuals; read: read endpoints and "
                             "/metrics; admin: everything")
    create.add_argument("--name", default=None, help="a label, e.g. the client's name")
    create.set_defaults(func=_cmd_create)

    lister = sub.add_parser("list", help="list tokens (id, name, scope, dates; never secrets)")
    add_db_argument(lister)
    lister.set_defaults(func=_cmd_list)

    revoke = sub.add_parser("revoke", help="revoke a token by id")
    add_db_argument(revoke)
    revoke.add_argument("token_id", type=int, metavar="ID", help="token id (see `tokens list`)")
    revoke.set_defaults(func=_cmd_revoke)


def _cmd_create(args: argparse.Namespace) -> int:
    import mlmkit
    from mlmkit import clock
    from mlmkit.store import tokens

    with mlmkit.open(workspace_path(args)) as ws:
        record, token = tokens.create_token(ws.db, scope=args.scope, name=args.name,
                                            now=clock.now())
    print(f"created token {record.token_id} (scope {record.scope}"
          f"{', name ' + repr(record.name) if record.name else ''}); it is shown only once, "
          "store it now (the workspace keeps only its SHA-256 hash):", file=sys.stderr)
    print(token)
    return 0


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _cmd_list(args: argparse.Namespace) -> int:
    import mlmkit
    from mlmkit.store import tokens

    with mlmkit.open(workspace_path(args)) as ws:
        records = tokens.list_tokens(ws.db)
    print(f"{'id':>4}  {'name':<20} {'scope':<7} {'created (UTC)':<20} {'revoked (UTC)':<20} "
          "last used (UTC)")
    for r in records:
        print(f"{r.token_id:>4}  {r.name or '-':<20} {r.scope:<7} {_when(r.created_at):<20} "
              f"{_when(r.revoked_at):<20} {_when(r.last_used_at)}")
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    import mlmkit
    from mlmkit import clock
    from mlmkit.store import tokens

    with mlmkit.open(workspace_path(args)) as ws:
        record = tokens.revoke_token(ws.db, args.token_id, now=clock.now())
    print(f"token {record.token_id} revoked at {_when(record.revoked_at)} UTC "
          "(a running server stops accepting it within seconds)")
    return 0
