"""The server's commands: ``mlmkit serve`` and ``mlmkit tokens create|list|revoke``.

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
from mlmkit._cli_options import add_db, add_host, add_json, add_port, add_window, open_workspace
from mlmkit._cli_output import emit
from mlmkit.ops.commands import common_options, configure_cli_logging

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``serve`` and ``tokens create|list|revoke`` to an argparse sub-parsers object.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="mlmkit")
    >>> register(parser.add_subparsers(dest="command", required=True))
    >>> args = parser.parse_args(["tokens", "create", "--db", "ws.duckdb", "--scope", "read"])
    >>> args.scope, args.name, args.func.__name__
    ('read', None, '_cmd_create')
    """
    common = common_options()
    serve = subparsers.add_parser("serve", parents=[common],
                                  help="serve the ingestion API, /metrics and /health over HTTP")
    add_db(serve, create=True, lock_timeout=False)
    add_port(serve, 9108)
    add_host(serve)
    add_window(serve, "1h", help="window of the model gauges")
    serve.add_argument("--max-staleness", default=None,
                       help="newest prediction older than this marks /health degraded")
    serve.add_argument("--no-auth", action="store_true",
                       help="serve without API tokens (refused unless --host is loopback)")
    serve.add_argument("--metrics-private", action="store_true",
                       help="/metrics needs a read token")
    serve.add_argument("--max-body-mb", type=float, default=64.0,
                       help="largest request body (413 beyond)")
    serve.add_argument("--body-timeout", type=float, default=60.0,
                       help="seconds a request body may take to arrive (408 beyond)")
    serve.add_argument("--limit-concurrency", type=int, default=1000,
                       help="connections at once (503 beyond)")
    serve.add_argument("--backlog", type=int, default=2048, help="listen backlog")
    serve.add_argument("--timeout-keep-alive", type=float, default=5.0,
                       help="seconds an idle keep-alive connection stays open")
    serve.add_argument("--timeout-request-head", type=float, default=10.0,
                       help="seconds a connection has to send a complete request head "
                            "(request line and headers); closed beyond")
    serve.add_argument("--timeout-graceful-shutdown", type=float, default=30.0,
                       help="seconds in-flight requests get after SIGTERM")
    serve.add_argument("--snapshot-interval", type=float, default=5.0,
                       help="seconds between refreshes of the /metrics snapshot")
    serve.set_defaults(func=_cmd_serve)

    tokens = subparsers.add_parser("tokens", help="manage the HTTP server's API tokens")
    sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="COMMAND")

    create = sub.add_parser("create", help="create a token and print it (shown only once)")
    add_db_argument(create)
    create.add_argument("--scope", required=True, choices=("ingest", "read", "admin"),
                        help="ingest: write predictions/actuals; read: read endpoints and "
                             "/metrics; admin: everything")
    create.add_argument("--name", default=None, help="a label, e.g. the client's name")
    create.set_defaults(func=_cmd_create)

    lister = sub.add_parser("list", help="list tokens (id, name, scope, dates; never secrets)")
    add_db_argument(lister)
    add_json(lister, what="the tokens")
    lister.set_defaults(func=_cmd_list)

    revoke = sub.add_parser("revoke", help="revoke a token by id")
    add_db_argument(revoke)
    revoke.add_argument("token_id", type=int, metavar="ID", help="token id (see `tokens list`)")
    revoke.set_defaults(func=_cmd_revoke)


def _cmd_create(args: argparse.Namespace) -> int:
    from mlmkit import clock
    from mlmkit.store import tokens

    with open_workspace(args) as ws:
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
    from mlmkit.store import tokens

    with open_workspace(args) as ws:
        records = tokens.list_tokens(ws.db)
    emit(args, [{"id": r.token_id, "name": r.name, "scope": r.scope,
                 "created (UTC)": r.created_at, "revoked (UTC)": r.revoked_at,
                 "last used (UTC)": r.last_used_at} for r in records],
         empty="(no tokens)",
         document=[{"token_id": r.token_id, "name": r.name, "scope": r.scope,
                    "created_at": r.created_at, "revoked_at": r.revoked_at,
                    "last_used_at": r.last_used_at} for r in records])
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    from mlmkit import clock
    from mlmkit.store import tokens

    with open_workspace(args) as ws:
        record = tokens.revoke_token(ws.db, args.token_id, now=clock.now())
    print(f"token {record.token_id} revoked at {_when(record.revoked_at)} UTC "
          "(a running server stops accepting it within seconds)")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from mlmkit.exceptions import MlmkitError
    from mlmkit.workspace import open_workspace

    configure_cli_logging(args)
    path = workspace_path(args)
    try:
        open_workspace(path, lock_timeout=5.0).close()  # create (--create) / migrate once
    except MlmkitError as err:  # serve anyway: /health/ready answers 503 with the reason
        logging.getLogger("mlmkit.ops.server").warning("workspace not usable: %s", err)
    from mlmkit.server.run import run_server

    run_server(path, args)
    return 0
