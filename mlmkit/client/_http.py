"""The HTTP client of ``mlmkit serve``: requests, retries with back-off, errors, row encoding."""

from __future__ import annotations

import io
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from mlmkit._lazy import require
from mlmkit._validation import check_int, check_real, invalid
from mlmkit.client._registry import RegistryCalls
from mlmkit.exceptions import DuplicateError, MlmkitError, NotFoundError, ValidationError

if TYPE_CHECKING:
    import httpx
    import polars as pl

__all__ = ["AuthError", "Client", "ConflictError", "MissingError", "RejectedError",
           "ServerError", "UnavailableError"]

JSON = "application/json"
ARROW = "application/vnd.apache.arrow.stream"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class ServerError(MlmkitError):
    """The server refused a request, or could not be reached (base of the client's errors).

    ``status_code`` is ``None`` when no answer came; ``field``, ``row`` and ``value`` are what
    the server named in its JSON error (``None`` when it named none).
    """

    def __init__(self, message: str, *, status_code: int | None = None,
                 detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        info = dict(detail or {})
        self.status_code = status_code
        self.field: str | None = info.get("field")
        self.row: int | None = info.get("row")
        self.value: object = info.get("value")  # (the server's repr of it, a str)
        self.detail = info


class RejectedError(ServerError, ValidationError):
    """400, 413 or 422: the request (a row, a field, the body) is invalid; nothing was written."""


class ConflictError(ServerError, DuplicateError):
    """409: a prediction id exists already with other values."""


class MissingError(ServerError, NotFoundError):
    """404: the model, version, prediction id or route does not exist."""


class AuthError(ServerError):
    """401 (no, unknown or revoked token) or 403 (the token's scope does not allow this)."""


class UnavailableError(ServerError):
    """The server did not answer, or answered 429/5xx, on every attempt."""


def _error(method: str, path: str, response: httpx.Response) -> ServerError:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    detail = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(detail, dict):
        detail = {"message": response.text[:500]}
    message = f"{method} {path} answered {response.status_code}: {detail.get('message')}"
    code = response.status_code
    kind: type[ServerError] = (
        RejectedError if code in (400, 413, 422) else ConflictError if code == 409
        else MissingError if code == 404 else AuthError if code in (401, 403)
        else UnavailableError if code in _RETRY_STATUS else ServerError)
    return kind(message, status_code=code, detail=detail)


def _jsonable(value: Any) -> Any:
    """``json.dumps`` default: datetimes as ISO 8601 (naive = UTC), numpy scalars as Python."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(payload: Any) -> bytes:
    try:
        return json.dumps(payload, default=_jsonable, allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise invalid("rows", "JSON values (numbers, strings, booleans, datetimes, null)",
                      str(err)) from err


class Client(RegistryCalls):
    """A client of ``mlmkit serve``: log predictions and labels, read models and metrics.

    With an ``admin`` token it also changes the registry (`register`, `deploy`, `rollback`).

    Every write carries its prediction ids and timestamps (generated here when absent), so a
    retry after a timeout replays exactly the same rows: the server answers such a replay with
    ``{"written": 0, "duplicates": n}`` and nothing is logged twice. Retried: connection
    errors, timeouts, 429 and 5xx, with exponential back-off (``Retry-After`` honoured).

    Safe to share between threads (each thread gets its own connection pool) and across
    ``fork()`` (a child opens its own connections and generates its own ids).

    Parameters
    ----------
    base_url
        ``http://127.0.0.1:8000`` or the reverse proxy's ``https://`` address.
    token
        An API token (``mlmkit tokens create``); ``None`` for a server without auth.
    timeout
        Seconds per attempt (connect, read, write).
    retries
        Further attempts after the first one fails with a retryable error.
    backoff
        First back-off in seconds (doubled each attempt, with jitter, at most ``max_backoff``).
    arrow_min_rows
        A frame of at least this many rows is sent as an Arrow IPC stream (else JSON).
    chunk_rows
        A larger batch is sent in chunks of this many rows (each chunk all-or-nothing).
    transport
        An ``httpx`` transport (tests pass ``httpx.MockTransport``).
    """

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 10.0,
                 retries: int = 3, backoff: float = 0.1, max_backoff: float = 5.0,
                 arrow_min_rows: int = 2_000, chunk_rows: int = 100_000,
                 transport: Any = None) -> None:
        require("httpx", "server")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise invalid("base_url", "an http:// or https:// URL", base_url)
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = check_real("timeout", timeout, low=0.0)
        self.retries = check_int("retries", retries, low=0)
        self.backoff = check_real("backoff", backoff, low=0.0)
        self.max_backoff = check_real("max_backoff", max_backoff, low=0.0)
        self.arrow_min_rows = check_int("arrow_min_rows", arrow_min_rows, low=1)
        self.chunk_rows = check_int("chunk_rows", chunk_rows, low=1)
        self._transport = transport
        self._reset(os.getpid())

    def _reset(self, pid: int) -> None:
        """New connection pools, lock and id prefix (at creation and in a forked child)."""
        self._pid = pid
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()
        self._prefix = uuid.uuid4().hex[:16]
        self._counter = 0

    def _session(self) -> httpx.Client:
        if os.getpid() != self._pid:  # forked: the parent's sockets and lock are not ours
            self._reset(os.getpid())
        session: httpx.Client | None = getattr(self._local, "session", None)
        if session is None:
            import httpx

            headers = {"User-Agent": "mlmkit-client"}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            session = httpx.Client(base_url=self.base_url, headers=headers,
                                   timeout=self.timeout, transport=self._transport)
            self._local.session = session
            with self._lock:
                self._clients.append(session)
        return session

    def new_id(self) -> str:
        """A fresh prediction id, unique across threads and forked processes."""
        if os.getpid() != self._pid:
            self._reset(os.getpid())
        with self._lock:
            self._counter += 1
            return f"{self._prefix}-{self._counter}"

    # -- the request loop -------------------------------------------------------------------
    def request(self, method: str, path: str, *, content: bytes | None = None,
                content_type: str = JSON, params: Mapping[str, Any] | None = None) -> Any:
        """Send a request with retries; return the decoded JSON answer (or raise)."""
        import httpx

        headers = {"Content-Type": content_type} if content is not None else {}
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self._session().request(method, path, content=content,
                                                   headers=headers, params=query)
            except httpx.TransportError as err:
                if attempt >= self.retries:
                    raise UnavailableError(f"{method} {path}: no answer from {self.base_url} "
                                           f"after {attempt + 1} attempt(s): "
                                           f"{type(err).__name__}: {err}") from err
                wait = self._delay(attempt, None)
            else:
                if response.status_code < 400:
                    return response.json() if response.content else None
                if response.status_code not in _RETRY_STATUS or attempt >= self.retries:
                    raise _error(method, path, response)
                wait = self._delay(attempt, response.headers.get("Retry-After"))
            time.sleep(wait)
            attempt += 1

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), 60.0)
            except ValueError:
                pass
        base = min(self.max_backoff, self.backoff * 2 ** attempt)
        return base * (0.5 + random.random() / 2)

    # -- writes -----------------------------------------------------------------------------
    def track(self, model_name: str, version: Any, prediction: bool | int, *,
              actual: bool | int | None = None, score: float | None = None,
              confidence: float | None = None, features: Mapping[str, Any] | None = None,
              prediction_id: str | None = None, timestamp: datetime | None = None,
              unit_id: str | int | None = None, role: str = "served") -> str:
        """Log one prediction (durable when it returns); returns its id (generated if absent)."""
        row = self.row(model_name, version, prediction, actual=actual, score=score,
                       confidence=confidence, features=features, prediction_id=prediction_id,
                       timestamp=timestamp, unit_id=unit_id, role=role)
        self.request("POST", "/v1/predictions", content=_dumps([row]))
        return str(row["prediction_id"])

    def row(self, model_name: str, version: Any, prediction: Any, *,
            actual: Any = None, score: float | None = None,
            confidence: float | None = None, features: Mapping[str, Any] | None = None,
            prediction_id: str | None = None, timestamp: datetime | None = None,
            unit_id: str | int | None = None, role: str = "served",
            probabilities: Mapping[Any, float] | None = None) -> dict[str, Any]:
        """The JSON row of one prediction, with its id and timestamp fixed (for replays).

        ``prediction``/``actual`` are of the model's task (booleans, class labels, numbers);
        ``probabilities`` (multiclass) maps class label -> probability.
        """
        row: dict[str, Any] = {
            "model_name": model_name, "version": str(version), "prediction": prediction,
            "prediction_id": self.new_id() if prediction_id is None else str(prediction_id),
            "timestamp": datetime.now(UTC) if timestamp is None else timestamp, "role": role}
        extra = {"actual": actual, "score": score, "confidence": confidence,
                 "unit_id": None if unit_id is None else str(unit_id),
                 "probabilities": None if probabilities is None else dict(probabilities)}
        row.update({k: v for k, v in extra.items() if v is not None})
        if features:
            row["features"] = dict(features)
        return row

    def track_batch(self, rows: Any) -> dict[str, int]:
        """Log a batch: a list of row dicts, or a polars/pandas/pyarrow frame. All rows or none.

        Rows without ``prediction_id`` or ``timestamp`` get them here, so a retried batch is
        recognised as a replay. A frame of ``arrow_min_rows`` rows or more goes as Arrow IPC.
        Returns ``{"written": n, "duplicates": m}`` summed over the chunks.
        """
        total = {"written": 0, "duplicates": 0}
        for content, kind in self._bodies(rows):
            answer = self.request("POST", "/v1/predictions", content=content,
                                  content_type=kind)
            for key in total:
                total[key] += int(answer.get(key, 0))
        return total

    def _bodies(self, rows: Any) -> Iterable[tuple[bytes, str]]:
        if isinstance(rows, Sequence) and not isinstance(rows, str | bytes):
            if not rows:
                raise invalid("rows", "at least one row", 0)
            fixed = [self._fill(r, i) for i, r in enumerate(rows)]
            for start in range(0, len(fixed), self.chunk_rows):
                yield _dumps(fixed[start:start + self.chunk_rows]), JSON
            return
        frame = self._frame(rows)
        for start in range(0, frame.height, self.chunk_rows):
            part = frame.slice(start, self.chunk_rows)
            if part.height >= self.arrow_min_rows:
                yield _arrow(part), ARROW
            else:
                yield _dumps(part.to_dicts()), JSON

    def _fill(self, row: Any, index: int) -> dict[str, Any]:
        if not isinstance(row, Mapping):
            raise invalid(f"rows (row {index})", "a mapping of column to value", row)
        out = dict(row)
        if out.get("prediction_id") is None:
            out["prediction_id"] = self.new_id()
        if out.get("timestamp") is None:
            out["timestamp"] = datetime.now(UTC)
        return out

    def _frame(self, rows: Any) -> pl.DataFrame:
        import polars as pl

        try:
            frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows)
        except (TypeError, ValueError, pl.exceptions.PolarsError) as err:
            raise invalid("rows", "a list of dicts or a polars, pandas or pyarrow frame",
                          type(rows).__name__) from err
        if frame.height == 0:
            raise invalid("rows", "at least one row", 0)
        prefix, start = self._reserve(frame.height)
        generated = pl.format(f"{prefix}-{{}}", pl.int_range(pl.len()) + start)
        now = datetime.now(UTC)
        fills = [pl.coalesce(pl.col("prediction_id").cast(pl.String), generated)
                 if "prediction_id" in frame.columns else generated.alias("prediction_id")]
        fills.append(pl.col("timestamp").fill_null(now) if "timestamp" in frame.columns
                     else pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("timestamp"))
        return frame.with_columns(fills)

    def _reserve(self, n: int) -> tuple[str, int]:
        """Reserve ``n`` consecutive ids: (prefix, first counter value)."""
        self.new_id()  # the fork check, and the counter moves past any earlier id
        with self._lock:
            start = self._counter + 1
            self._counter += n
            return self._prefix, start

    def record_actuals(self, prediction_ids: Iterable[Any], actuals: Iterable[Any], *,
                       model_name: str, version: Any = None, on_unknown: str = "raise"
                       ) -> dict[str, int]:
        """Attach ground truth to ``model_name``'s predictions; ``{"labelled", "skipped"}``."""
        body: dict[str, Any] = {"model_name": model_name, "prediction_ids": list(prediction_ids),
                                "actuals": list(actuals), "on_unknown": on_unknown}
        if version is not None:
            body["version"] = str(version)
        answer: dict[str, int] = self.request("POST", "/v1/actuals", content=_dumps(body))
        return answer

    # -- reads ------------------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """The registered models, each with its deployed version and every version's metadata."""
        answer = self.request("GET", "/v1/models")
        return list(answer["models"])

    def metrics(self, model_name: str, *, version: Any = None, window: str = "24h"
                ) -> dict[str, Any]:
        """Current metrics of a version (default: the deployed one) over ``window``."""
        answer: dict[str, Any] = self.request(
            "GET", f"/v1/models/{model_name}/metrics",
            params={"window": window, "version": None if version is None else str(version)})
        return answer

    def route(self, model_name: str, unit_id: str | int) -> dict[str, Any]:
        """The version serving ``unit_id``: the sticky A/B or rollout assignment.

        A dict with ``version`` and ``source`` (``"rollout"`` or ``"deployment"``).
        """
        answer: dict[str, Any] = self.request(
            "GET", "/v1/route", params={"model": model_name, "unit_id": str(unit_id)})
        return answer

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Close this process's connection pools (a forked child's parent keeps its own)."""
        if os.getpid() != self._pid:
            self._reset(os.getpid())
            return
        with self._lock:
            sessions, self._clients = self._clients, []
        self._local = threading.local()
        for session in sessions:
            session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, retries={self.retries}, timeout={self.timeout:g})"


def _arrow(frame: pl.DataFrame) -> bytes:
    import pyarrow as pa

    table = frame.to_arrow()
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()

