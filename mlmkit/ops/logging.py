"""Five logging set-ups for the ``mlmkit`` logger, chosen by name, ``MLMKIT_LOG`` or ``--log``.

============ ===========================================================================
strategy     what it emits
============ ===========================================================================
``console``  human lines on stderr, level names coloured when stderr is a TTY
``json``     one JSON object per line on stderr (``ts, level, logger, message`` + context)
``file``     JSON lines into a size-rotated file (``path``, ``max_bytes``, ``backup_count``)
``syslog``   RFC 3164 messages to the local syslog socket or ``host:port`` (UDP)
``quiet``    warnings and errors only, short lines (for notebooks; alias ``notebook``)
============ ===========================================================================

``MLMKIT_LOG`` holds a strategy name, optionally with a target after a colon:
``file:/var/log/mlmkit/mlmkit.log``, ``syslog:/dev/log`` or ``syslog:logs.example:514``.
``MLMKIT_LOG_LEVEL`` sets the level (default ``INFO``; ``WARNING`` for ``quiet``).

Jobs and alerts log with context in ``extra`` (``job``, ``run_id``, ``model``, ``version``,
``rule``, ``severity``); every strategy shows it (JSON as keys, text as ``key=value``).

Examples
--------
>>> import io, json, logging
>>> from mlmkit.ops.logging import configure
>>> buf = io.StringIO()
>>> _ = configure("json", stream=buf)
>>> logging.getLogger("mlmkit.jobs").info("done", extra={"model": "m", "version": "1.0.0"})
>>> rec = json.loads(buf.getvalue())
>>> rec["message"], rec["model"], rec["version"], rec["level"]
('done', 'm', '1.0.0', 'INFO')
>>> _ = configure("quiet")
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
import sys
from datetime import UTC, datetime
from typing import IO, Any

from mlmkit._validation import check_choice, invalid

__all__ = ["CONTEXT_KEYS", "STRATEGIES", "ConsoleFormatter", "JsonFormatter", "configure"]

STRATEGIES = ("console", "json", "file", "syslog", "quiet")
CONTEXT_KEYS = ("job", "run_id", "model", "version", "environment", "rule", "severity",
                "alert_id")
_ALIASES = {"notebook": "quiet", "jsonl": "json", "rotating": "file", "text": "console"}
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message",
                                                                           "asctime"}
_COLOURS = {"DEBUG": "\033[36m", "INFO": "\033[32m", "WARNING": "\033[33m",
            "ERROR": "\033[31m", "CRITICAL": "\033[1;31m"}
_MARK = "_mlmkit_handler"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items()
            if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts, level, logger, message``, context and ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "pid": record.process,
        }
        data.update(_extras(record))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class ConsoleFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value…``, the level coloured if ``colour``."""

    def __init__(self, *, colour: bool = False, short: bool = False) -> None:
        super().__init__(datefmt="%Y-%m-%dT%H:%M:%S%z")
        self.colour = colour
        self.short = short

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one human-readable line (plus a traceback if any)."""
        level = record.levelname
        if self.colour:
            level = f"{_COLOURS.get(level, '')}{level}\033[0m"
        context = " ".join(f"{k}={v}" for k, v in _extras(record).items()
                           if k in CONTEXT_KEYS)
        text = record.getMessage() + (f" [{context}]" if context else "")
        line = f"{level} {record.name}: {text}" if self.short else \
            f"{self.formatTime(record, self.datefmt)} {level:<7} {record.name}: {text}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _SyslogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(f"{k}={v}" for k, v in _extras(record).items() if k in CONTEXT_KEYS)
        return (f"mlmkit[{record.process}]: {record.levelname} {record.name}: "
                f"{record.getMessage()}" + (f" {context}" if context else ""))


def _parse_env(value: str) -> tuple[str, str | None]:
    name, _, target = value.partition(":")
    return name.strip().lower(), (target.strip() or None)


def _syslog_address(target: str | None) -> str | tuple[str, int]:
    if target is None:
        return "/dev/log" if os.path.exists("/dev/log") else ("localhost", 514)
    if target.startswith("/"):
        return target
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise invalid("syslog address", "a socket path or host:port", target)
    return host, int(port)


def _handler(strategy: str, target: str | None, stream: IO[str] | None, max_bytes: int,
             backup_count: int) -> logging.Handler:
    if strategy == "console":
        out = stream or sys.stderr
        handler: logging.Handler = logging.StreamHandler(out)
        tty = hasattr(out, "isatty") and out.isatty() and "NO_COLOR" not in os.environ
        handler.setFormatter(ConsoleFormatter(colour=tty))
    elif strategy == "json":
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif strategy == "file":
        path = target or os.environ.get("MLMKIT_LOG_FILE") or "mlmkit.log"
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes,
                                                       backupCount=backup_count,
                                                       encoding="utf-8")
        handler.setFormatter(JsonFormatter())
    elif strategy == "syslog":
        handler = logging.handlers.SysLogHandler(address=_syslog_address(target),
                                                 socktype=socket.SOCK_DGRAM)
        handler.setFormatter(_SyslogFormatter())
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(ConsoleFormatter(short=True))
    return handler


def configure(strategy: str | None = None, *, level: str | int | None = None,
              path: str | os.PathLike[str] | None = None, address: str | None = None,
              stream: IO[str] | None = None, max_bytes: int = 10_000_000,
              backup_count: int = 5) -> logging.Logger:
    """Install one logging strategy on the ``mlmkit`` logger and return that logger.

    Parameters
    ----------
    strategy
        ``console``, ``json``, ``file``, ``syslog`` or ``quiet`` (``notebook``). ``None``
        reads ``MLMKIT_LOG`` (default ``console``), which may carry a target after a colon.
    level
        Level name or number; default ``MLMKIT_LOG_LEVEL`` or ``INFO`` (``WARNING`` for quiet).
    path
        Log file for ``file`` (default ``MLMKIT_LOG_FILE`` or ``./mlmkit.log``).
    address
        Syslog target for ``syslog``: a socket path or ``host:port``.
    stream
        Stream for ``console``, ``json`` and ``quiet`` (default ``sys.stderr``).
    max_bytes, backup_count
        Rotation of the ``file`` strategy.

    Returns
    -------
    logging.Logger
        The ``mlmkit`` logger; calling again replaces the handler installed before.
    """
    target: str | None = None
    if strategy is None:
        strategy, target = _parse_env(os.environ.get("MLMKIT_LOG", "console"))
    elif ":" in strategy:
        strategy, target = _parse_env(strategy)
    name = _ALIASES.get(strategy.lower(), strategy.lower())
    check_choice("strategy", name, STRATEGIES)
    target = str(path) if path is not None else (address or target)
    if level is None:
        level = os.environ.get("MLMKIT_LOG_LEVEL") or ("WARNING" if name == "quiet" else "INFO")
    resolved = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(resolved, int):
        raise invalid("level", "a logging level name or number", level)
    logger = logging.getLogger("mlmkit")
    for old in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(old)
        old.close()
    handler = _handler(name, target, stream, max_bytes, backup_count)
    setattr(handler, _MARK, True)
    logger.addHandler(handler)
    logger.setLevel(resolved)
    logger.propagate = False
    return logger
