"""An HTTP server for ``/metrics`` and the health endpoints (``mlmkit serve``).

Built on `http.server.ThreadingHTTPServer`; each request opens the workspace briefly,
so the server can run beside notebooks and jobs using the same file.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mlmkit.exceptions import DependencyError
from mlmkit.ops.health import HealthResult, health_report, liveness, readiness
from mlmkit.values import WindowLike

__all__ = ["make_server", "serve"]

logger = logging.getLogger("mlmkit.ops.server")

_INDEX = (b"mlmkit exporter\n/metrics  Prometheus exposition\n/health/live  liveness\n"
          b"/health/ready  readiness\n/health  detailed JSON report\n")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        route = url.path.rstrip("/") or "/"
        if route == "/metrics":
            self._metrics()
        elif route == "/health/live":
            self._json(liveness())
        elif route == "/health/ready":
            self._json(readiness(self.server.db_path))
        elif route == "/health":
            stale = parse_qs(url.query).get("max_staleness", [self.server.max_staleness])[0]
            self._json(health_report(self.server.db_path, max_staleness=stale))
        elif route == "/":
            self._send(200, "text/plain; charset=utf-8", _INDEX)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _metrics(self) -> None:
        from mlmkit.ops.prometheus import generate_metrics

        try:
            body = generate_metrics(self.server.db_path, window=self.server.window)
        except DependencyError as err:
            self._send(500, "text/plain; charset=utf-8", str(err).encode())
            return
        self._send(200, "text/plain; version=0.0.4; charset=utf-8", body)

    def _json(self, result: HealthResult) -> None:
        body = json.dumps(result.body, default=str, indent=1).encode()
        self._send(result.status_code, "application/json", body)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], db_path: str, window: WindowLike,
                 max_staleness: WindowLike | None) -> None:
        super().__init__(address, _Handler)
        self.db_path = db_path
        self.window = window
        self.max_staleness = max_staleness


def make_server(path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 9108,
                window: WindowLike = "1h", max_staleness: WindowLike | None = None
                ) -> ThreadingHTTPServer:
    """Bind a server for the workspace at ``path`` (``port=0`` picks a free port).

    Examples
    --------
    >>> srv = make_server("/tmp/none.duckdb", port=0)
    >>> srv.server_address[1] > 0
    True
    >>> srv.server_close()
    """
    return _Server((host, int(port)), os.fspath(path), window, max_staleness)


def serve(path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 9108,
          window: WindowLike = "1h", max_staleness: WindowLike | None = None,
          ready: threading.Event | None = None) -> None:
    """Serve until SIGTERM / SIGINT (the main thread) or until ``server.shutdown()``."""
    server = make_server(path, host=host, port=port, window=window,
                         max_staleness=max_staleness)
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    logger.info("serving %s on http://%s:%s (/metrics, /health)", path, bound_host, bound_port)
    print(f"mlmkit: serving on http://{bound_host}:{bound_port}", flush=True)

    def stop(signum: int, frame: Any) -> None:
        logger.info("signal %s: shutting down", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    if ready is not None:
        ready.set()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        logger.info("server stopped")
