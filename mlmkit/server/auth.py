"""Bearer-token authentication and per-endpoint scopes for the HTTP server (issue 14).

- `Scope`: ``ingest`` (write predictions and actuals), ``read`` (read endpoints and a
  protected ``/metrics``), ``admin`` (everything: it implies the other two).
- `TokenVerifier`: maps a presented token to the `Principal` it belongs to. It
  keeps the active tokens' SHA-256 hashes (see `mlmkit.store.tokens`) in memory for
  ``ttl`` seconds, then re-reads them with a short read (open, read, close: the file is not
  held between reads), so a revoked token stops working within ``ttl`` seconds. Every hash is
  compared with `hmac.compare_digest`, without stopping at the first match.
- `AuthMiddleware`: a pure ASGI middleware that answers ``401`` (no token, a malformed
  ``Authorization`` header, an unknown or revoked token; with ``WWW-Authenticate: Bearer``) or
  ``403`` (a valid token without the scope the endpoint needs) as JSON, before the application
  sees the request. ``/health/live`` is always open; ``/metrics`` is open with
  ``metrics_public=True`` and needs ``read`` otherwise.

A token value is never logged, echoed in a response, kept in an exception or shown by a repr:
it is hashed as soon as it is read from the header.

Examples
--------
>>> Scope.ADMIN.allows("ingest"), Scope.READ.allows(Scope.INGEST)
(True, False)
>>> AuthMiddleware(None, None, DEFAULT_RULES, metrics_public=False).required("/v1/predictions",
...                                                                         "POST")
<Scope.INGEST: 'ingest'>
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from mlmkit import clock
from mlmkit._validation import invalid
from mlmkit.exceptions import MlmkitError, SchemaError
from mlmkit.store import migrations
from mlmkit.store import tokens as token_store
from mlmkit.store.database import Database

__all__ = ["DEFAULT_RULES", "AuthMiddleware", "Principal", "Rules", "Scope", "TokenVerifier"]

logger = logging.getLogger(__name__)

_TOKENS_VERSION = 8  # the migration that created api_tokens
_MAX_TOKEN = 512     # longer values are refused unhashed
_BEARER = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*) *", re.IGNORECASE)
_OPEN_PATHS = frozenset({"/health/live"})


class Scope(StrEnum):
    """What a token may do; `ADMIN` implies the others."""

    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"

    def allows(self, needed: Scope | str) -> bool:
        """Whether a token of this scope may call an endpoint that needs ``needed``."""
        return self is Scope.ADMIN or self == needed


@dataclass(frozen=True)
class Principal:
    """Who a request authenticated as: the token's id, name and scope (never its value)."""

    token_id: int
    name: str | None
    scope: Scope


Rules = Mapping[tuple[str, str], Scope | str | None]
"""(path prefix, method or ``"*"``) -> the scope needed, or ``None`` for an open endpoint."""

DEFAULT_RULES: Rules = {
    ("/v1/predictions", "POST"): Scope.INGEST,
    ("/v1/actuals", "POST"): Scope.INGEST,
    ("/v1", "GET"): Scope.READ,
    ("/v1", "*"): Scope.ADMIN,
    ("/health", "GET"): None,
}


class TokenVerifier:
    """The active tokens of a workspace, re-read at most every ``ttl`` seconds.

    Parameters
    ----------
    source : str, os.PathLike or Database
        The workspace file (opened for each re-read and closed again: it is never held in
        between), or an open [`Database`][mlmkit.store.Database] to read through (a server
        that already has one shares its lease instead of competing with it).
    via : callable, optional
        ``via(read)`` runs ``read(db)`` where the caller's open database lives and returns its
        result, e.g. on a server's single writer thread:
        ``via=lambda read: writer.call(lambda ws: read(ws.db)).result()``. Then ``source`` is
        only named in messages and the file is never opened by the verifier itself.
    ttl : float
        Seconds a read of the tokens is trusted: the bound on how long a revoked token keeps
        working (and how long a new one waits to be accepted).
    lock_timeout : float
        Seconds a re-read waits for the file before [`LockedError`][mlmkit.exceptions.LockedError].
    touch_interval : float
        ``last_used_at`` of a token is written at most this often (on a re-read).
    monotonic : callable
        The clock measuring ``ttl`` (injectable for tests).
    """

    def __init__(self, source: str | os.PathLike[str] | Database, *, ttl: float = 5.0,
                 lock_timeout: float = 5.0, touch_interval: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 via: Callable[[Callable[[Database], None]], object] | None = None) -> None:
        if not isinstance(ttl, int | float) or isinstance(ttl, bool) or not 0 <= ttl <= 300:
            raise invalid("ttl", "a number of seconds in [0, 300]", ttl)
        self._db = source if isinstance(source, Database) else None
        self._path = None if isinstance(source, Database) else os.fspath(source)
        self.ttl = float(ttl)
        self.lock_timeout = lock_timeout
        self.touch_interval = touch_interval
        self._monotonic = monotonic
        self._via = via
        self._tokens: tuple[token_store.ActiveToken, ...] = ()
        self._read_at: float | None = None
        self._lock = threading.Lock()
        self._used: dict[int, datetime] = {}  # token id -> last use not yet written
        self._touched: dict[int, float] = {}

    def __repr__(self) -> str:
        source = self._path if self._db is None else self._db
        return f"TokenVerifier({source!r}, ttl={self.ttl}, active={len(self._tokens)})"

    @property
    def stale(self) -> bool:
        """Whether the next verification re-reads the tokens first."""
        read_at = self._read_at
        return read_at is None or self._monotonic() - read_at >= self.ttl

    def verify(self, token: str) -> Scope | None:
        """The scope of ``token``, or ``None`` when it is unknown or revoked.

        Raises
        ------
        StoreError
            The tokens could not be read (the file is missing, locked beyond ``lock_timeout``,
            or not migrated to the token schema).
        """
        principal = self.identify(token)
        return None if principal is None else principal.scope

    def identify(self, token: str) -> Principal | None:
        """The `Principal` ``token`` authenticates, or ``None`` (see `verify`)."""
        if self.stale:
            self.refresh()
        return self._match(token)

    def _match(self, token: str) -> Principal | None:
        """Compare ``token`` with the tokens read last (no re-read)."""
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
            return None
        digest = token_store.hash_token(token)
        found = None
        for entry in self._tokens:  # no early exit: the time spent does not depend on a match
            if hmac.compare_digest(digest, entry.token_hash):
                found = entry
        if found is None:
            return None
        self._used[found.token_id] = clock.now()
        return Principal(found.token_id, found.name, Scope(found.scope))

    def refresh(self) -> None:
        """Re-read the active tokens now (unless another thread just did); write due touches."""
        with self._lock:
            if not self.stale:
                return
            if self._via is not None:
                self._via(self._read)
            elif self._db is not None:
                self._read(self._db)
            else:
                db = Database(self._path, lock_timeout=self.lock_timeout, migrate=False,
                              create=False)
                try:
                    self._read(db)
                finally:
                    db.close()

    def _read(self, db: Database) -> None:
        with db.connection() as conn:
            version = migrations.schema_version(conn)
        if version < _TOKENS_VERSION:
            raise SchemaError(f"{self._path or db!r} has schema version {version}, without API "
                              "tokens: open it once with this mlmkit (e.g. `mlmkit tokens list "
                              "--db ...`) to migrate it")
        now = self._monotonic()
        used = dict(self._used)  # a copy: request threads add to it meanwhile
        due = {t: at for t, at in used.items()
               if t not in self._touched or now - self._touched[t] >= self.touch_interval}
        if due:
            try:
                token_store.touch_tokens(db, due)
            except MlmkitError as err:  # usage bookkeeping never blocks authentication
                logger.warning("could not record token use (%s): %s", type(err).__name__, err)
            else:
                self._touched.update(dict.fromkeys(due, now))
                for t, at in due.items():
                    if self._used.get(t) == at:  # not used again since
                        self._used.pop(t, None)
        self._tokens = tuple(token_store.active_tokens(db))
        self._read_at = now


Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class AuthMiddleware:
    """Pure ASGI middleware: check ``Authorization: Bearer <token>`` against ``rules``.

    Parameters
    ----------
    app : ASGI application
        The application to protect.
    verifier : TokenVerifier
        Where tokens are checked.
    rules : mapping
        ``(path prefix, method) -> scope`` (``method`` may be ``"*"``; ``scope`` ``None`` for
        an open endpoint). The longest matching prefix wins, then an exact method over ``"*"``;
        a prefix matches whole path segments (``/v1`` matches ``/v1/x``, not ``/v1x``).
        ``HEAD`` uses the ``GET`` rules. ``/health/live`` and ``/metrics`` are decided before
        the rules.
    metrics_public : bool
        Serve ``/metrics`` without a token; otherwise it needs ``read``.
    default : Scope or None
        The scope needed by a path no rule matches (``admin``: closed unless stated).

    On success the request's ASGI scope carries the `Principal` under ``"auth"``
    (Starlette's ``request.auth``).
    """

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, rules: Rules, *,
                 metrics_public: bool, default: Scope | str | None = Scope.ADMIN) -> None:
        if not isinstance(metrics_public, bool):
            raise invalid("metrics_public", "True or False", metrics_public)
        self.app = app
        self.verifier = verifier
        self.metrics_public = metrics_public
        self.default = _scope_or_none("default", default)
        self._rules: list[tuple[str, str, Scope | None]] = []
        for key, needed in rules.items():
            if (not isinstance(key, tuple) or len(key) != 2 or not isinstance(key[0], str)
                    or not key[0].startswith("/") or not isinstance(key[1], str)):
                raise invalid("rules", "keys (path prefix starting with '/', method)", key)
            self._rules.append((key[0].rstrip("/"), key[1].upper(),
                                _scope_or_none(f"rules[{key!r}]", needed)))
        # longest prefix first, then an exact method before "*"
        self._rules.sort(key=lambda r: (-len(r[0]), r[1] == "*"))

    def __repr__(self) -> str:
        return (f"AuthMiddleware({self.verifier!r}, rules={len(self._rules)}, "
                f"metrics_public={self.metrics_public})")

    def required(self, path: str, method: str) -> Scope | None:
        """The scope a request for ``method path`` needs (``None``: open)."""
        if path in _OPEN_PATHS:
            return None
        if _under(path, "/metrics"):
            return None if self.metrics_public else Scope.READ
        method = method.upper()
        methods = (method, "GET", "*") if method == "HEAD" else (method, "*")
        for prefix, rule_method, needed in self._rules:
            if rule_method in methods and _under(path, prefix):
                return needed
        return self.default

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive,
                       send: Send) -> None:
        """Answer 401/403/503 or pass the request on with its `Principal`."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", "/"), scope.get("method", "GET")
        needed = self.required(path, method)
        if needed is None:
            await self.app(scope, receive, send)
            return
        token, problem = _bearer(scope.get("headers", ()))
        if token is None:
            await self._deny(scope, send, 401, "invalid_request", problem)
            return
        try:
            if self.verifier.stale:  # a file read: keep it off the event loop
                await asyncio.to_thread(self.verifier.refresh)
            principal = self.verifier._match(token)  # never a read on the event loop
        except MlmkitError as err:
            logger.error("cannot read API tokens (%s): %s", type(err).__name__, err)
            await self._deny(scope, send, 503, "unavailable",
                             "the API tokens cannot be read right now; retry shortly")
            return
        if principal is None:
            await self._deny(scope, send, 401, "invalid_token",
                             "the token is unknown or revoked")
            return
        if not principal.scope.allows(needed):
            await self._deny(scope, send, 403, "insufficient_scope",
                             f"{method} {path} needs scope {needed.value!r}; token "
                             f"{principal.token_id} has {principal.scope.value!r}")
            return
        await self.app(dict(scope, auth=principal), receive, send)

    async def _deny(self, scope: MutableMapping[str, Any], send: Send, status: int, error: str,
                    detail: str) -> None:
        client = scope.get("client") or ("-", 0)
        logger.info("denied %s %s from %s: %d %s", scope.get("method", "GET"),
                    scope.get("path", "/"), client[0], status, error)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        from mlmkit.server.bodies import problem

        body = json.dumps(problem(error, detail)).encode()  # the shape of every API error
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()),
                   (b"cache-control", b"no-store")]
        if status == 401:
            headers.append((b"www-authenticate", f'Bearer realm="mlmkit", error="{error}"'
                            .encode()))
        elif status == 403:
            headers.append((b"www-authenticate",
                            b'Bearer realm="mlmkit", error="insufficient_scope"'))
        else:
            headers.append((b"retry-after", b"1"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _scope_or_none(name: str, value: Any) -> Scope | None:
    if value is None:
        return None
    try:
        return Scope(value)
    except ValueError as err:
        raise invalid(name, "'ingest', 'read', 'admin' or None", value) from err


def _under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it (``prefix`` without a trailing slash)."""
    return path == prefix or path.startswith(prefix + "/") or (not prefix and path == "/")


def _bearer(headers: Any) -> tuple[str | None, str]:
    """The token of the one ``Authorization: Bearer`` header, or ``None`` and why not."""
    values = [v for k, v in headers if k.lower() == b"authorization"]
    if not values:
        return None, "an Authorization: Bearer <token> header is required"
    if len(values) > 1:
        return None, "send exactly one Authorization header"
    match = _BEARER.fullmatch(values[0].decode("latin-1"))
    if match is None:
        return None, "the Authorization header must read 'Bearer <token>'"
    return match.group(1), ""
