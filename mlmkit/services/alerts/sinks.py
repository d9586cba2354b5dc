"""Alert sinks: Python logging, a callback, and a JSON webhook (HTTP POST with retry)."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from mlmkit._validation import check_int, check_real, invalid

__all__ = ["AlertSink", "CallbackSink", "LoggingSink", "SinkError", "WebhookSink"]

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


class SinkError(RuntimeError):
    """A sink could not deliver an alert (the alert stays stored as unsent)."""


class AlertSink(Protocol):
    """Anything with ``name`` and ``send(alert: dict) -> None`` (raise to report failure)."""

    name: str

    def send(self, alert: Mapping[str, Any]) -> None:
        """Deliver one alert (a JSON-friendly dict)."""


class LoggingSink:
    """Log each alert on ``logger`` at the level matching its severity.

    Examples
    --------
    >>> LoggingSink("mlmkit.alerts").name
    'logging'
    """

    name = "logging"

    def __init__(self, logger: str | logging.Logger = "mlmkit.alerts") -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger

    def send(self, alert: Mapping[str, Any]) -> None:
        """Log the alert's message with its id, rule and severity."""
        level = _LEVELS.get(str(alert.get("severity")), logging.WARNING)
        self.logger.log(level, "[%s] alert %s (%s): %s", alert.get("severity"),
                        alert.get("alert_id"), alert.get("rule"), alert.get("message"))


class CallbackSink:
    """Call ``callback(alert_dict)`` for each alert; an exception marks the alert unsent."""

    name = "callback"

    def __init__(self, callback: Callable[[dict[str, Any]], Any]) -> None:
        if not callable(callback):
            raise invalid("callback", "a callable taking the alert dict", callback)
        self.callback = callback

    def send(self, alert: Mapping[str, Any]) -> None:
        """Call the callback with a copy of the alert."""
        self.callback(dict(alert))


class WebhookSink:
    """POST each alert as JSON to an ``http``/``https`` URL, with timeout and retry.

    A response status of 2xx is success; 5xx, 429, connection errors and timeouts are retried
    ``retries`` times with exponential back-off (``backoff * 2**attempt`` seconds); other 4xx
    fail at once. Failure raises :class:`SinkError`.

    Examples
    --------
    >>> WebhookSink("https://hooks.example.com/x").name
    'webhook'
    >>> WebhookSink("file:///etc/passwd")
    Traceback (most recent call last):
    ...
    mlmkit.exceptions.ValidationError: url must be an http:// or https:// URL; got 'file:///etc/passwd'
    """

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 2,
                 backoff: float = 0.5, headers: Mapping[str, str] | None = None) -> None:
        parsed = urllib.parse.urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise invalid("url", "an http:// or https:// URL", url)
        self.url = url
        self.timeout = check_real("timeout", timeout, low=0.0, low_open=True)
        self.retries = check_int("retries", retries, low=0, high=10)
        self.backoff = check_real("backoff", backoff, low=0.0)
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(self.url, data=body, headers=self.headers,
                                         method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()

    def send(self, alert: Mapping[str, Any]) -> None:
        """POST the alert; raise :class:`SinkError` after the last failed attempt."""
        body = json.dumps(dict(alert), default=str).encode()
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                self._post(body)
                return
            except urllib.error.HTTPError as err:
                last = err
                if err.code < 500 and err.code != 429:
                    break
            except (urllib.error.URLError, TimeoutError, OSError) as err:
                last = err
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        raise SinkError(f"webhook {self.url} failed: {last}") from last
