"""``mlmkit serve``: uvicorn on `mlmkit.server.app.create_app`, with its limits.

uvicorn handles SIGTERM/SIGINT: it stops accepting, lets in-flight requests finish (at most
``--timeout-graceful-shutdown`` seconds), then the application's lifespan commits every queued
batch and closes the workspace.

A connection must send a complete request head (request line and headers) within
``--timeout-request-head`` seconds of opening, or of the first byte of a later request;
uvicorn itself only times out a connection idle *after* a response
(``--timeout-keep-alive``), so silent or trickling clients would otherwise hold their
connections, and the ``--limit-concurrency`` slots, forever.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import socket

from mlmkit._lazy import require
from mlmkit._validation import check_real, invalid

__all__ = ["run_server"]

logger = logging.getLogger("mlmkit.server")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then (else every
    # keep-alive answer waits ~40 ms for the client's delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise invalid("--host/--port", "an address this host can listen on",
                      f"{host}:{port} ({err})") from err
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _head_bounded(base: type[asyncio.Protocol], seconds: float) -> type[asyncio.Protocol]:
    """Uvicorn's HTTP protocol ``base`` (httptools or h11), closing slow request heads.

    A connection whose request head has not arrived within ``seconds`` is closed.
    The bound starts when the connection opens, or at the first byte of a request after a
    response (until then ``--timeout-keep-alive`` bounds the idle connection). When it ends,
    a connection with a request under way (its head complete: the body has the
    application's ``--body-timeout``) is left alone; one still waiting for a head is closed.
    """

    class HeadBounded(base):  # type: ignore[valid-type, misc]
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._head_timer = self.loop.call_later(seconds, self._head_late)

        def data_received(self, data: bytes) -> None:
            if self._head_timer is None and self._awaiting_head():
                self._head_timer = self.loop.call_later(seconds, self._head_late)
            super().data_received(data)

        def on_response_complete(self) -> None:
            self._head_stop()
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_stop()
            super().connection_lost(exc)

        def _awaiting_head(self) -> bool:
            return self.cycle is None or bool(self.cycle.response_complete)

        def _head_stop(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_late(self) -> None:
            self._head_timer = None
            if self._awaiting_head() and not self.transport.is_closing():
                self.transport.close()

    return HeadBounded


def run_server(path: str | os.PathLike[str], args: argparse.Namespace) -> None:
    """Serve the workspace at ``path`` with the options of ``mlmkit serve`` until SIGTERM."""
    uvicorn = require("uvicorn", "server")
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    from mlmkit.server.app import Limits, create_app
    from mlmkit.server.snapshot import Snapshot
    from mlmkit.server.writer import GroupCommitWriter

    host = str(args.host)
    if args.no_auth and not _loopback(host):
        raise invalid("--no-auth", "used only with a loopback --host (127.0.0.1, ::1)", host)
    limits = Limits(max_body_bytes=int(check_real("--max-body-mb", args.max_body_mb,
                                                  low=0.0, low_open=True) * 1024 * 1024),
                    body_timeout=check_real("--body-timeout", args.body_timeout, low=0.0,
                                            low_open=True))
    writer = GroupCommitWriter(path, lock_timeout=limits.lock_timeout)
    verifier = None
    if not args.no_auth:  # tokens are read on a cursor of the writer's connection
        from mlmkit.server.auth import TokenVerifier

        verifier = TokenVerifier(path, via=lambda read: writer.read(
            lambda ws: read(ws.db), timeout=limits.lock_timeout + 30))
    snapshot = Snapshot(path, interval=args.snapshot_interval, window=args.window)
    app = create_app(path, verifier=verifier, snapshot=snapshot, limits=limits,
                     metrics_public=not args.metrics_private, max_staleness=args.max_staleness,
                     writer=writer)
    sock = _bind(host, int(args.port), int(args.backlog))
    bound = sock.getsockname()
    head = check_real("--timeout-request-head", args.timeout_request_head, low=0.0,
                      low_open=True)
    config = uvicorn.Config(  # (ws="none": no WebSocket upgrade hands the connection on)
        app, http=_head_bounded(AutoHTTPProtocol, head), ws="none",
        limit_concurrency=int(args.limit_concurrency), backlog=int(args.backlog),
        timeout_keep_alive=float(args.timeout_keep_alive),
        timeout_graceful_shutdown=float(args.timeout_graceful_shutdown),
        log_config=None, access_log=False, lifespan="on", proxy_headers=False,
        server_header=False)
    logger.info("serving %s on http://%s:%s", path, bound[0], bound[1])
    print(f"mlmkit: serving on http://{bound[0]}:{bound[1]}", flush=True)
    for sig in (signal.SIGTERM, signal.SIGINT):  # uvicorn re-raises the signal it handled
        signal.signal(sig, _stopped)  # after the graceful shutdown: exit 0, not -15
    uvicorn.Server(config).run(sockets=[sock])
    logger.info("server stopped")


def _stopped(signum: int, frame: object) -> None:
    logger.debug("signal %s handled by the graceful shutdown", signum)
