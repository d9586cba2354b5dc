"""The ASGI application (Starlette): health, metrics, ingestion and read endpoints.

- ``GET /health/live`` (no file access), ``/health/ready`` and ``/metrics`` from the
  background [`Snapshot`][mlmkit.server.Snapshot] (scrapes never touch the file);
  ``GET /health`` the detailed JSON report (``?max_staleness=``; 400 when unparsable).
- ``POST /v1/predictions``: ``application/json`` (array of row objects),
  ``application/x-ndjson`` or ``application/vnd.apache.arrow.stream``; validated by the
  validator of ``track_batch``, all rows or none, answered after the commit (group commit
  through `GroupCommitWriter`).
- ``POST /v1/actuals``: ``{"model_name", "version"?, "prediction_ids", "actuals",
  "on_unknown"?}``, committed in the transaction of the next ingestion group.
- ``GET /v1/models``, ``GET /v1/models/{name}/metrics?window=24h&version=``,
  ``.../history?environment=``, ``GET /v1/route?model=&unit_id=`` (the sticky A/B / rollout
  decision for a unit): read on a cursor beside the writer (`mlmkit.server.reads`).
- ``POST /v1/models`` (register), ``/v1/models/{name}/deploy``, ``.../rollback`` (admin):
  on the writer thread, between ingestion groups.

Errors are JSON ``{"error": {"field", "row", "value", "message"}}``: 422 invalid, 404 unknown,
409 duplicate, 413 body too large, 408 body too slow, 400 bad query parameter, 503 locked
or shutting down.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mlmkit._lazy import require
from mlmkit._validation import check_name
from mlmkit.exceptions import MlmkitError, NotFoundError, ValidationError
from mlmkit.server import views
from mlmkit.server.bodies import (
    ARROW,
    error_payload,
    media_type,
    parse_predictions,
    parse_rows,
    read_body,
    row_shape,
    status_of,
)
from mlmkit.server.labels import Labels
from mlmkit.server.tasks import TaskCache
from mlmkit.server.writer import GroupCommitWriter, Prepared, Rows

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from mlmkit.services.experiments.rollout import Rollout
    from mlmkit.values import Version

__all__ = ["Limits", "create_app"]


@dataclasses.dataclass(frozen=True)
class Limits:
    """Request limits of the application (the connection limits are uvicorn's)."""

    max_body_bytes: int = 64 * 1024 * 1024
    body_timeout: float = 60.0
    max_future: timedelta = timedelta(minutes=5)
    lock_timeout: float = 30.0
    route_ttl: float = 1.0
    """Seconds ``/v1/route`` reuses a model's rollout state (a new step shows within this)."""


_SMALL_BODY = 16 * 1024
"""JSON bodies up to this size are validated on the writer thread with their group."""


class _BadParam(ValidationError):
    """A query parameter that does not parse (HTTP 400)."""


class _Conflict(MlmkitError):
    """A registry change refused in the registry's state, e.g. nothing to roll back (409)."""


def _json(payload: object, status: int = 200) -> Response:
    from starlette.responses import Response

    body = json.dumps(payload, default=str, allow_nan=False).encode()
    return Response(body, status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def _error(err: BaseException) -> Response:
    status = 400 if isinstance(err, _BadParam) else 409 if isinstance(err, _Conflict) \
        else status_of(err)
    payload = error_payload(err)
    if isinstance(err, _Conflict):
        payload["error"]["type"] = "StateError"
    return _json(payload, status)


def _actor(request: Request) -> str | None:
    """Who changes the registry: the token's name (or id), ``None`` without auth."""
    principal = request.scope.get("auth")
    if principal is None:
        return None
    return principal.name or f"token {principal.token_id}"


def _param(request: Request, name: str, *, required: bool = False) -> str | None:
    value = request.query_params.get(name)
    if required and not value:
        raise _BadParam(f"{name} must be given as a query parameter; got {value!r}",
                        field=name, value=value)
    return value


def create_app(path: str | os.PathLike[str], *, verifier: Any = None, snapshot: Any = None,
               limits: Limits | None = None, metrics_public: bool = True,
               writer: GroupCommitWriter | None = None,
               max_staleness: str | None = None) -> Starlette:
    """The Starlette application serving the workspace at ``path``.

    Parameters
    ----------
    path
        Workspace file.
    verifier
        A `mlmkit.server.auth.TokenVerifier`; ``None`` serves without authentication
        (only for a loopback bind).
    snapshot
        A [`mlmkit.server.Snapshot`][mlmkit.server.Snapshot] (started and stopped
        with the app); ``None``: ``/metrics`` and ``/health/ready`` answer 503.
    limits
        Body size, clock-skew bound, lock timeout.
    metrics_public
        Serve ``/metrics`` without a token (when a verifier is given).
    writer
        The writer owning the workspace (default: a new `GroupCommitWriter`).
    max_staleness
        Default ``max_staleness`` of ``/health``.
    """
    require("starlette", "server")
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    lim = limits or Limits()
    out = writer or GroupCommitWriter(path, lock_timeout=lim.lock_timeout)
    api = _Api(os.fspath(path), out, snapshot, lim, max_staleness)
    if snapshot is not None:  # refreshes read on a cursor beside the writer: the file stays
        snapshot.read_through(  # with it, and ingestion goes on during the refresh
            lambda read: out.read(lambda ws: read(ws.db), timeout=lim.lock_timeout + 30))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        out.start()
        if snapshot is not None:  # the first scrape already has numbers
            await asyncio.to_thread(snapshot.refresh)
            snapshot.start()
        try:
            yield
        finally:  # uvicorn has let in-flight requests finish: commit the queue, close
            if snapshot is not None:
                snapshot.stop()
            await asyncio.to_thread(out.close)

    from mlmkit.server.probes import LiveFirst

    middleware = [Middleware(LiveFirst)]  # (the probe skips auth and routing)
    if verifier is not None:
        from mlmkit.server.auth import DEFAULT_RULES, AuthMiddleware

        middleware.append(Middleware(AuthMiddleware, verifier=verifier, rules=DEFAULT_RULES,
                                     metrics_public=metrics_public))
    routes = [
        Route("/health/live", api.live), Route("/health/ready", api.ready),
        Route("/health", api.health), Route("/metrics", api.metrics),
        Route("/v1/predictions", api.predictions, methods=["POST"]),
        Route("/v1/actuals", api.actuals, methods=["POST"]),
        Route("/v1/models", api.models), Route("/v1/models/{name}/metrics", api.model_metrics),
        Route("/v1/models", api.register, methods=["POST"]),
        Route("/v1/models/{name}/deploy", api.deploy, methods=["POST"]),
        Route("/v1/models/{name}/rollback", api.rollback, methods=["POST"]),
        Route("/v1/models/{name}/history", api.history),
        Route("/v1/route", api.route),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={404: api.not_found})
    app.state.writer = out
    return app


class _Api:
    """The endpoints; the workspace is reached only through the writer thread."""

    def __init__(self, db_path: str, writer: GroupCommitWriter, snapshot: Any, limits: Limits,
                 max_staleness: str | None) -> None:
        self.db_path = db_path
        self.writer = writer
        self.snapshot = snapshot
        self.limits = limits
        self.max_staleness = max_staleness
        self.routes: dict[str, tuple[float, Rollout | Version]] = {}
        self.tasks = TaskCache(lambda models: self.writer.read(  # the models' tasks (W1)
            lambda ws: ws.log.store.tasks(models), self.limits.lock_timeout + 30))

    def via(self, read: Any) -> Any:
        """Run ``read(db)`` on a read cursor beside the writer (which holds the file)."""
        return self.writer.read(lambda ws: read(ws.db), self.limits.lock_timeout + 30)

    async def on_writer(self, fn: Any) -> Any:
        """Run ``fn(workspace)`` on the writer thread (writes: labels, registry changes)."""
        return await asyncio.wrap_future(self.writer.call(fn))

    async def on_reader(self, fn: Any) -> Any:
        """Run ``fn(workspace)`` in a worker thread on a read cursor (never the writer's)."""
        return await asyncio.to_thread(self.writer.read, fn, self.limits.lock_timeout + 30)

    async def body(self, request: Request) -> bytes:
        return await read_body(request.stream(), self.limits.max_body_bytes,
                               request.headers.get("content-length"),
                               timeout=self.limits.body_timeout)

    async def live(self, request: Request) -> Response:
        return _json({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        if self.snapshot is None:
            return _json({"status": "error", "error": "no snapshot configured"}, 503)
        result = self.snapshot.readiness()
        return _json(result.body, result.status_code)

    async def metrics(self, request: Request) -> Response:
        from starlette.responses import Response

        if self.snapshot is None:
            return _json({"status": "error", "error": "no snapshot configured"}, 503)
        return Response(self.snapshot.metrics_text() + self.writer.metrics_text(),
                        media_type="text/plain; version=0.0.4",
                        headers={"Cache-Control": "no-store"})

    async def health(self, request: Request) -> Response:
        from mlmkit.ops.health import health_report
        from mlmkit.windows import parse_window

        stale = request.query_params.get("max_staleness", self.max_staleness)
        try:  # parsed once, here at the edge (a bad value is the client's 400)
            limit = None if stale is None else parse_window(stale, "max_staleness")
        except MlmkitError as err:
            return _json(error_payload(err), 400)
        result = await asyncio.to_thread(health_report, self.db_path, max_staleness=limit,
                                         lock_timeout=5.0, via=self.via)
        return _json(result.body, result.status_code)

    async def predictions(self, request: Request) -> Response:
        try:
            body = await self.body(request)
            content_type = request.headers.get("content-type")
            future = await self.small(body, content_type)
            if future is None:  # a large or mixed body: parsed and validated in a thread
                prepared = await asyncio.to_thread(self.prepare, body, content_type)
                if prepared is None:
                    return _json({"written": 0, "duplicates": 0})
                future = self.writer.submit(prepared)
            result = await asyncio.wrap_future(future)
        except MlmkitError as err:
            return _error(err)
        return _json(result, 201 if result["written"] else 200)

    async def small(self, body: bytes, content_type: str | None
                    ) -> Future[dict[str, int]] | None:
        """A small JSON body of one row shape, validated with its group (else ``None``)."""
        if len(body) > _SMALL_BODY or media_type(content_type) == ARROW:
            return None
        rows = parse_rows(body, content_type)
        shape, models = row_shape(rows) if rows else None, {r.get("model_name") for r in rows}
        if shape is None or not all(isinstance(m, str) for m in models):
            return None  # (no rows, rows of several shapes, a bad name: the general path)
        tasks = self.tasks.known(models) or await asyncio.to_thread(  # (expired: read again)
            self.tasks.lookup, sorted(str(m) for m in models))
        return self.writer.submit_rows(Rows(rows, shape, self.limits.max_future, tasks))

    def prepare(self, body: bytes, content_type: str | None) -> Prepared | None:
        """Parse, validate (``prediction_batch``) and convert a body, in a worker thread."""
        batch = parse_predictions(body, content_type, max_future=self.limits.max_future,
                                  tasks=self.tasks.lookup)
        return None if batch is None or batch.num_rows == 0 else self.writer.prepare(batch)

    async def actuals(self, request: Request) -> Response:
        try:  # validated here; committed in the transaction of the next group
            spec = _actuals_spec(await self.body(request))
            if self.tasks.known([spec["model_name"]]) is None:  # (the task read in a thread)
                await asyncio.to_thread(self.tasks.lookup, [spec["model_name"]])
            labels = Labels.parse(spec, lambda m: self.tasks.lookup([m])[m])
            result = await asyncio.wrap_future(self.writer.submit_labels(labels)) \
                if labels else {"labelled": 0, "skipped": 0}
        except MlmkitError as err:
            return _error(err)
        return _json(result)

    async def register(self, request: Request) -> Response:
        try:
            spec = views.json_object(await self.body(request), views.REGISTER_KEYS,
                                     ("model_name", "model_type", "version"))
            meta = views.metadata_of(spec)
            return _json({"model": await self.change(lambda ws: views.register(ws, meta))}, 201)
        except MlmkitError as err:
            return _error(err)

    async def deploy(self, request: Request) -> Response:
        name, actor = request.path_params["name"], _actor(request)
        try:
            spec = views.json_object(await self.body(request), views.CHANGE_KEYS, ("version",))
            return _json({"model": await self.change(
                lambda ws: views.deploy(ws, name, spec, actor))})
        except MlmkitError as err:
            return _error(err)

    async def rollback(self, request: Request) -> Response:
        name, actor = request.path_params["name"], _actor(request)
        try:
            spec = views.json_object(await self.body(request),
                                     views.CHANGE_KEYS - {"version"})
            return _json(await self.change(lambda ws: views.rollback(ws, name, spec, actor)))
        except MlmkitError as err:
            return _error(err)

    async def change(self, fn: Any) -> Any:
        """A registry change on the writer thread; its refusals are 409, never a retryable 503."""
        from mlmkit.exceptions import StateError

        try:
            return await self.on_writer(fn)
        except StateError as err:
            if not self.writer.accepting:
                raise
            raise _Conflict(str(err)) from err

    async def history(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            env = _param(request, "environment")
            events = await self.on_reader(lambda ws: views.history(ws, name, env))
        except MlmkitError as err:
            return _error(err)
        return _json({"model_name": name, "events": events})

    async def models(self, request: Request) -> Response:
        return _json({"models": await self.on_reader(views.models)})

    async def model_metrics(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            window = _window(_param(request, "window") or "24h")
            version = _param(request, "version")
            found = await self.on_reader(lambda ws: views.metrics(ws, name, version, window))
        except MlmkitError as err:
            return _error(err)
        return _json(found)

    async def route(self, request: Request) -> Response:
        try:
            model = str(_param(request, "model", required=True))
            unit = str(_param(request, "unit_id", required=True))
            now = time.monotonic()
            cached = self.routes.get(model)
            if cached is None or cached[0] < now:  # re-read at most every route_ttl seconds
                source = await self.on_reader(lambda ws: views.route_source(ws, model))
                cached = self.routes[model] = (now + self.limits.route_ttl, source)
        except MlmkitError as err:
            return _error(err)
        return _json(views.route(cached[1], model, unit))

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return _json(error_payload(NotFoundError(f"no route {request.url.path}")), 404)


def _window(text: str) -> timedelta:
    """``?window=`` checked by the one window rule, here at the edge (400, not a 422 later)."""
    from mlmkit.windows import resolve_range

    try:
        return resolve_range(text).duration
    except ValidationError as err:
        raise _BadParam(str(err), field=err.field, value=err.value) from err


def _actuals_spec(body: bytes) -> dict[str, Any]:
    """The ``/v1/actuals`` body; its ids and labels are checked by `Labels.parse`."""
    spec = views.json_object(body, frozenset({"model_name", "version", "prediction_ids",
                                              "actuals", "on_unknown"}),
                             ("model_name", "prediction_ids", "actuals"))
    check_name("model_name", spec["model_name"])
    return spec
