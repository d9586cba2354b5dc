"""``GET /health/live`` answered before routing, authentication and any other work.

A liveness probe says only that the process answers; under a burst of connections (200
probes at once) every microsecond of middleware and routing per request shows in the tail.
`LiveFirst` is the first middleware of the application and
sends a constant answer for ``GET``/``HEAD /health/live``; every other request passes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["LIVE_PATH", "LiveFirst"]

LIVE_PATH = "/health/live"
_BODY = b'{"status": "ok"}'
_START = {"type": "http.response.start", "status": 200,
          "headers": [(b"content-type", b"application/json"),
                      (b"content-length", str(len(_BODY)).encode()),
                      (b"cache-control", b"no-store")]}
_END = {"type": "http.response.body", "body": _BODY}
_HEAD_END = {"type": "http.response.body", "body": b""}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LiveFirst:
    """ASGI middleware: a constant ``200 {"status": "ok"}`` for the liveness probe."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the probe, or pass the request on."""
        if scope["type"] == "http" and scope["path"] == LIVE_PATH \
                and scope["method"] in ("GET", "HEAD"):
            await send(_START)
            await send(_END if scope["method"] == "GET" else _HEAD_END)
            return
        await self.app(scope, receive, send)
