"""``/health/live`` is answered by the first middleware: no auth, routing or file access."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mlmkit.server.probes import LiveFirst


def _call(method: str, path: str) -> tuple[list[dict[str, Any]], list[str]]:
    sent: list[dict[str, Any]] = []
    passed: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope["path"])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "method": method, "headers": []}
    asyncio.run(LiveFirst(inner)(scope, receive, send))
    return sent, passed


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_probe_is_a_constant_answer(method: str) -> None:
    sent, passed = _call(method, "/health/live")
    assert passed == []
    assert sent[0]["status"] == 200
    assert (b"content-length", b"16") in sent[0]["headers"]
    assert sent[1]["body"] == (b'{"status": "ok"}' if method == "GET" else b"")


@pytest.mark.parametrize(("method", "path"), [("POST", "/health/live"), ("GET", "/health"),
                                              ("GET", "/health/live/x")])
def test_other_requests_pass_on(method: str, path: str) -> None:
    sent, passed = _call(method, path)
    assert sent == [] and passed == [path]
