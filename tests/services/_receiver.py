"""A real HTTP receiver on 127.0.0.1 for alert-delivery tests, scripted per request.

``Receiver.script`` is a list of behaviours consumed one per request (then ``default``):

- ``200``, ``500`` … : answer that status;
- ``("redirect", code, location)``: answer ``code`` with a ``Location`` header;
- ``"trickle"``: send the status line one byte every 0.5 s (for 30 s);
- ``"trickle_body"``: complete headers (``Content-Length: 60``), then one body byte / 0.5 s;
- ``"truncated"``: headers promise 100 body bytes, 10 are sent, then the connection closes;
- ``"slow_headers"``: wait 4 s before answering;
- ``"reset"``: read the request, then close with a TCP reset.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, default: Any = 200) -> None:
        self.default = default
        self.script: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    receiver.requests.append({
                        "method": self.command, "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "json": json.loads(body) if body else None})
                    return receiver.script.pop(0) if receiver.script else receiver.default

            def do_POST(self) -> None:
                self._act(self._record())

            do_GET = do_POST  # a followed redirect arrives as GET

            def _act(self, behaviour: Any) -> None:
                try:
                    _behave(self, behaviour)
                except OSError:
                    pass  # the client gave up (the point of several behaviours)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.origin}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def alert_ids(self) -> list[int]:
        return [r["json"]["alert_id"] for r in self.requests if r["json"]]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _status(h: BaseHTTPRequestHandler, code: int, headers: dict[str, str], body: bytes) -> None:
    h.send_response(code)
    for name, value in headers.items():
        h.send_header(name, value)
    h.end_headers()
    h.wfile.write(body)
    h.wfile.flush()


def _trickle(h: BaseHTTPRequestHandler, data: bytes) -> None:
    for byte in data:
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.5)


def _behave(h: BaseHTTPRequestHandler, behaviour: Any) -> None:
    if isinstance(behaviour, int):
        _status(h, behaviour, {"Content-Length": "2"}, b"ok")
    elif isinstance(behaviour, tuple) and behaviour[0] == "redirect":
        _status(h, behaviour[1], {"Location": behaviour[2], "Content-Length": "0"}, b"")
    elif behaviour == "trickle":
        _trickle(h, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 2)
    elif behaviour == "trickle_body":
        _status(h, 200, {"Content-Length": "60"}, b"")
        _trickle(h, b"x" * 60)
    elif behaviour == "truncated":
        _status(h, 200, {"Content-Length": "100"}, b"0123456789")
        h.close_connection = True
    elif behaviour == "slow_headers":
        time.sleep(4)
        _status(h, 200, {"Content-Length": "0"}, b"")
    elif behaviour == "reset":
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
    else:
        raise AssertionError(f"unknown behaviour {behaviour!r}")
