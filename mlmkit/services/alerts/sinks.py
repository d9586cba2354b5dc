"""Alert sinks: Python logging, a callback, and a JSON webhook (HTTP POST with retry).

Every sink has a stable ``key``: the delivery outbox (``alert_outbox``) records one row per
(alert, sink key), so a sink configured again in another process (or after a restart) picks
up exactly the alerts it has not received yet. Adding a sink whose key is already configured
replaces the earlier one.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from mlmkit._jsonable import JSONObject, JSONValue
from mlmkit._validation import check_int, check_real, invalid
from mlmkit.exceptions import MlmkitError
from mlmkit.services.alerts import _http
from mlmkit.services.alerts._http import redact_text, redact_url

__all__ = ["AlertSink", "CallbackSink", "LoggingSink", "SinkError", "WebhookSink", "sink_key"]

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}
_MAX_KEY = 300


class SinkError(MlmkitError, RuntimeError):
    """A sink could not deliver an alert (the alert stays stored as unsent).

    The message never holds credentials; the original error is its ``__cause__``.
    """


class AlertSink(Protocol):
    """Anything with ``name`` and ``send(alert: dict) -> None`` (raise to report failure).

    An optional ``key`` (a string) identifies the sink across processes; without one the
    ``name`` is the key.
    """

    name: str

    def send(self, alert: Mapping[str, JSONValue]) -> None:
        """Deliver one alert (a JSON-friendly dict)."""


def sink_key(sink: object) -> str:
    """The outbox identity of ``sink``: its ``key`` attribute, else its ``name``.

    Examples
    --------
    >>> sink_key(LoggingSink())
    'logging:mlmkit.alerts'
    >>> sink_key(WebhookSink("https://u:pw@hooks.example.com/x?token=t"))
    'webhook:https://hooks.example.com:443/x?token=***'
    """
    key = getattr(sink, "key", None) or getattr(sink, "name", None) or type(sink).__name__
    return _check_key(key)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > _MAX_KEY:
        raise invalid("key", f"a non-empty string of at most {_MAX_KEY} characters", key)
    return key


class LoggingSink:
    """Log each alert on ``logger`` at the level matching its severity.

    Examples
    --------
    >>> LoggingSink("mlmkit.alerts").name
    'logging'
    """

    name = "logging"

    def __init__(self, logger: str | logging.Logger = "mlmkit.alerts", *,
                 key: str | None = None) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.key = _check_key(key) if key is not None else f"logging:{self.logger.name}"

    def send(self, alert: Mapping[str, JSONValue]) -> None:
        """Log the alert's message with its id, rule and severity."""
        level = _LEVELS.get(str(alert.get("severity")), logging.WARNING)
        self.logger.log(level, "[%s] alert %s (%s): %s", alert.get("severity"),
                        alert.get("alert_id"), alert.get("rule"), alert.get("message"))

    def __repr__(self) -> str:
        return f"LoggingSink({self.logger.name!r})"


class CallbackSink:
    """Call ``callback(alert_dict)`` for each alert; an exception marks the alert unsent.

    The default ``key`` is ``callback:<module>.<qualified name>`` of the callback, so the same
    function registered again (a re-run notebook cell) replaces the earlier registration;
    pass ``key`` to register two callbacks that share a name.
    """

    name = "callback"

    def __init__(self, callback: Callable[[JSONObject], object], *,
                 key: str | None = None) -> None:
        if not callable(callback):
            raise invalid("callback", "a callable taking the alert dict", callback)
        self.callback = callback
        if key is None:
            target = getattr(callback, "__func__", callback)
            module = getattr(target, "__module__", None) or type(callback).__module__
            qual = getattr(target, "__qualname__", None) or type(callback).__qualname__
            key = f"callback:{module}.{qual}"[:_MAX_KEY]
        self.key = _check_key(key)

    def send(self, alert: Mapping[str, JSONValue]) -> None:
        """Call the callback with a copy of the alert."""
        self.callback(dict(alert))

    def __repr__(self) -> str:
        return f"CallbackSink(key={self.key!r})"


class WebhookSink:
    """POST each alert as JSON to an ``http``/``https`` URL, with a deadline and retry.

    Each attempt (connect, send, read the whole response) must finish within ``timeout``
    seconds in total. A 2xx status is success; 5xx, 429, connection errors and timeouts are
    retried ``retries`` times with exponential back-off (``backoff * 2**attempt`` seconds);
    other statuses fail at once. Redirects (3xx) are never followed: a receiver that answers
    with one has not accepted the alert, and following it could forward the alert and its
    credentials to another host. Failure raises
    [`SinkError`][mlmkit.services.alerts.SinkError], with the original error chained and every
    credential (user info in the URL, secret headers) masked.

    Each request carries ``Idempotency-Key: <alert idempotency key>`` (the key is in the
    JSON body too, with ``alert_id``), so a receiver can drop a re-delivered alert.

    User info in the URL (``https://user:pass@host/``) is sent as HTTP Basic authentication.

    Examples
    --------
    >>> WebhookSink("https://hooks.example.com/x").name
    'webhook'
    >>> WebhookSink("https://bob:hunter2@hooks.example.com/x", headers={"X-Token": "s3cr3t"})
    WebhookSink('https://***@hooks.example.com/x', timeout=5.0, retries=2)
    >>> WebhookSink("file:///etc/passwd")
    Traceback (most recent call last):
    ...
    mlmkit.exceptions.ValidationError: url must be an http:// or https:// URL; got 'file:///etc/passwd'
    """

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 2,
                 backoff: float = 0.5, headers: Mapping[str, str] | None = None,
                 key: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        try:
            target = _http.Target.parse(url) if isinstance(url, str) else None
        except ValueError:
            target = None
        if target is None:
            shown = redact_url(url) if isinstance(url, str) else url
            raise invalid("url", "an http:// or https:// URL", shown)
        if headers is not None and not isinstance(headers, Mapping):
            raise invalid("headers", "a mapping of header names to strings or None", headers)
        for name, value in dict(headers or {}).items():
            if not isinstance(name, str) or not isinstance(value, str) \
                    or any(c in name + value for c in "\r\n\0"):
                raise invalid("headers", "header names and values as one-line strings", name)
        self.url = url
        self._target = target
        self.timeout = check_real("timeout", timeout, low=0.0, low_open=True)
        self.retries = check_int("retries", retries, low=0, high=10)
        self.backoff = check_real("backoff", backoff, low=0.0)
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}
        if target.basic_auth and not any(h.lower() == "authorization" for h in self.headers):
            self.headers["Authorization"] = target.basic_auth
        self.ssl_context = ssl_context
        default = f"webhook:{redact_url(target.origin + target.path)}"
        self.key = _check_key(key if key is not None else default[:_MAX_KEY])
        self._secrets = self._collect_secrets()

    def _collect_secrets(self) -> tuple[str, ...]:
        found = [value for name, value in self.headers.items() if _http.secret_header(name)]
        for value in list(found):
            found.extend(value.split()[1:])  # "Bearer <token>" → the token alone as well
        if "@" in self.url:
            userinfo = self.url.partition("://")[2].partition("/")[0].rpartition("@")[0]
            found.extend([userinfo, *userinfo.split(":")])
        return tuple(s for s in found if s)

    @property
    def display_url(self) -> str:
        """The URL with credentials masked (for messages and logs)."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"WebhookSink({self.display_url!r}, timeout={self.timeout}, " \
               f"retries={self.retries})"

    def _attempt(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, bool] | None:
        """One POST; ``None`` on success, else ``(reason, retryable)``."""
        response = _http.post(self._target, body, headers, timeout=self.timeout,
                              context=self.ssl_context)
        if 200 <= response.status < 300:
            return None
        if 300 <= response.status < 400:
            where = redact_url(response.location) if response.location else "nowhere"
            return (f"answered {response.status} (redirect to {where}); redirects are not "
                    "followed", False)
        return f"answered HTTP {response.status}", response.status >= 500 or \
            response.status == 429

    def send(self, alert: Mapping[str, JSONValue]) -> None:
        """POST the alert; raise `SinkError` after the last failed attempt."""
        idem = str(alert.get("idempotency_key") or alert.get("alert_id") or "")
        body = json.dumps({**dict(alert), "idempotency_key": idem} if idem else dict(alert),
                          default=str).encode()
        headers = {**self.headers, "Idempotency-Key": idem} if idem else self.headers
        reason, cause = "no attempt", None
        for attempt in range(self.retries + 1):
            cause = None
            try:
                outcome = self._attempt(body, headers)
            except (OSError, http.client.HTTPException, ValueError) as err:
                reason, retryable, cause = _describe(err, self.timeout), True, err
            else:
                if outcome is None:
                    return
                reason, retryable = outcome
            if not retryable:
                break
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        message = redact_text(f"webhook {self.display_url} {reason}", self._secrets)
        raise SinkError(message) from cause


def _describe(err: BaseException, timeout: float) -> str:
    if isinstance(err, TimeoutError):
        return f"did not answer within the {timeout:g} s deadline"
    if isinstance(err, http.client.IncompleteRead):
        return "closed the connection mid-response"
    if isinstance(err, ConnectionError | http.client.RemoteDisconnected):
        return f"dropped the connection ({type(err).__name__})"
    return f"failed: {type(err).__name__}: {err}"
