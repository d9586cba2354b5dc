"""One HTTP POST under a total deadline, and the redaction of secrets in URLs and error text.

`post` opens its own connection (no pooling, no proxy, no redirect handling) and bounds
the whole exchange (connect, send, status line, headers, body) by one monotonic deadline: every
socket operation gets the time that is left as its timeout, and a read that starts after the
deadline fails at once. A receiver that trickles one byte at a time is therefore cut off at the
deadline, not after ``timeout`` seconds *per byte*. Name resolution (``getaddrinfo``) is the one
step the deadline cannot interrupt.
"""

from __future__ import annotations

import base64
import http.client
import io
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

_MASK = "***"
_SECRET_NAMES = re.compile(r"(?i)(auth|token|secret|passw|pwd|api[-_]?key|signature|sig\b|"
                           r"session|cookie|credential|access[-_]?key|private)")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_SECRET_PAIR = re.compile(
    r"(?i)\b((?:authorization|proxy-authorization|x-api-key|api[-_]?key|token|access_token|"
    r"password|passwd|secret|client_secret)\b\s*[:=]\s*)(?:(?:bearer|basic|token)\s+)?"
    r"[^\s&;,'\"]+")
_MAX_BODY = 64 * 1024


def redact_url(url: str) -> str:
    """``url`` with its user info and the values of secret-looking query parameters masked.

    Examples
    --------
    >>> redact_url("https://bob:hunter2@hooks.example.com/x?token=abc&team=ml")
    'https://***@hooks.example.com/x?token=***&team=ml'
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{_MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(
        f"{name}={_MASK}" if sep and _SECRET_NAMES.search(name) else f"{name}{sep}{value}"
        for name, sep, value in (pair.partition("=") for pair in parts.query.split("&") if pair))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask URL user info, ``Authorization: …`` / ``token=…`` pairs and the given ``secrets``.

    Examples
    --------
    >>> redact_text("POST http://u:p@h/x failed; Authorization: Bearer abc")
    'POST http://***@h/x failed; Authorization: ***'
    """
    for secret in sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, _MASK)
    text = _USERINFO.sub(rf"\1{_MASK}@", text)
    return _SECRET_PAIR.sub(rf"\1{_MASK}", text)


def secret_header(name: str) -> bool:
    """Whether a header's value is a credential (``Authorization``, ``X-Api-Key``, tokens …)."""
    return bool(_SECRET_NAMES.search(name))


@dataclass(frozen=True)
class Target:
    """Where a webhook POSTs: scheme, host, port, request path and credentials from the URL."""

    scheme: str
    host: str
    port: int
    path: str
    basic_auth: str | None

    @classmethod
    def parse(cls, url: str) -> Target:
        """Split an ``http``/``https`` URL (raises ``ValueError`` for anything else)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL with a host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += f"?{parts.query}"
        auth = None
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return cls(parts.scheme, parts.hostname, port, path, auth)

    @property
    def origin(self) -> str:
        """``scheme://host:port`` (no credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


class _DeadlineReader(io.RawIOBase):
    """Raw reads from a socket, each with the time left until ``deadline`` as its timeout."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._sock.settimeout(_left(self._deadline))
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """Wraps a connected socket so that ``http.client`` reads and writes obey one deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str = "rb", *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def sendall(self, data: ReadableBuffer) -> None:
        self._sock.settimeout(_left(self._deadline))
        self._sock.sendall(data)

    def close(self) -> None:
        """Leave the socket open: the response may still read from it (``post`` closes it)."""

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the delivery deadline passed")
    return left


@dataclass(frozen=True)
class Response:
    """What `post` saw: the status code and the ``Location`` header (if any)."""

    status: int
    location: str | None


def post(target: Target, body: bytes, headers: Mapping[str, str], *, timeout: float,
         context: ssl.SSLContext | None = None) -> Response:
    """POST ``body`` to ``target`` and read the whole response within ``timeout`` seconds.

    Raises the underlying ``OSError`` / ``TimeoutError`` / ``http.client.HTTPException``; the
    caller wraps them. The response body is read (at most 64 KiB; the rest is discarded) and
    must arrive complete before the deadline: a response cut short is not an acknowledgement.
    """
    deadline = time.monotonic() + timeout
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = http.client.HTTPSConnection(target.host, target.port, timeout=timeout,
                                           context=context or ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    raw: socket.socket | None = None
    try:
        conn.connect()
        raw = conn.sock
        conn.sock = _DeadlineSocket(raw, deadline)
        conn.request("POST", target.path, body=body, headers=dict(headers))
        response = conn.getresponse()
        if response.length is not None and response.length <= _MAX_BODY:
            response.read()  # a body shorter than its Content-Length raises IncompleteRead
        else:
            response.read(_MAX_BODY)
        return Response(response.status, response.getheader("Location"))
    finally:
        conn.close()
        if raw is not None:
            raw.close()
