"""A webhook receiver on 127.0.0.1 that records every alert delivery it gets."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["WebhookReceiver"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = {"unparsable": body.decode("utf-8", "replace")}
        with self.server.lock:
            self.server.deliveries.append(
                {"headers": dict(self.headers.items()), "payload": payload})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the simulation reports deliveries itself."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.deliveries: list[dict[str, Any]] = []


class WebhookReceiver:
    """``with WebhookReceiver() as r:`` — ``r.url`` takes POSTs, ``r.alerts()`` lists them."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="mlmkit-sim-webhook")

    @property
    def url(self) -> str:
        """Where to POST."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    def alerts(self) -> list[dict[str, Any]]:
        """The JSON payloads received, in arrival order."""
        with self._server.lock:
            return [d["payload"] for d in self._server.deliveries]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
