"""The HTTP API as a plain FastAPI app: `create_api(workspace)`; Serve's ingress wraps it (`serving/app.py`).

Errors are mapped once, here, onto the body of `c360.api.http`. Nothing a client sends is echoed into logs:
the access line names the route template (`/v1/profiles/{customer_id}`), never the path or the query
string, and the key by its id; an unexpected exception is logged by type and answered with a bare 500,
never a traceback. The routes themselves live in one module per group (`ROUTE_GROUPS`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from c360.api.content import content_routes
from c360.api.context import ApiContext, RateLimiter, Services
from c360.api.customers import customer_routes
from c360.api.events import event_routes
from c360.api.http import (
    API_VERSION,
    HTTP_CODES,
    ErrorBody,
    PayloadTooLargeError,
    RateLimitedError,
    error_code,
    error_response,
    json_response,
)
from c360.api.keys import KeyStore
from c360.api.metrics import ApiMetrics
from c360.api.personalize import MODELS, personalize_routes
from c360.api.profiles import profile_routes
from c360.errors import C360Error
from c360.inference.clients import ModelClients
from c360.io import heap
from c360.profile.store import ProfileStore
from c360.settings import Settings
from c360.workspace import Workspace

log = logging.getLogger("c360.api")

MAX_BODY_BYTES = 1_000_000
"""Requests with a larger body are refused with 413 before the body is parsed."""


class HealthStatus(BaseModel):
    status: str


class RequestGuard:
    """Pure ASGI middleware: the body size limit, one access log line without PII, and the last line of
    defence that turns an unexpected exception into a bare 500 instead of a traceback."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES, metrics: ApiMetrics | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
            await send(message)

        try:
            declared = dict(scope.get("headers") or ()).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                raise PayloadTooLargeError(f"the request body exceeds {self.max_body_bytes} bytes")
            await self.app(scope, self._limited(receive), send_status)
        except Exception as exc:  # noqa: BLE001 - nothing past this point may reach the client as a trace
            if isinstance(exc, C360Error) and exc.status_code < 500:
                response = error_response(exc.status_code, error_code(exc), exc.message)
            else:
                log.error("unhandled %s on %s %s", type(exc).__name__, scope["method"], _route(scope))
                response = error_response(500, "internal", "internal error")
            if not status["sent"]:
                await response(scope, receive, send_status)
        finally:
            key_id = (scope.get("state") or {}).get("key_id", "-")
            elapsed, route = time.perf_counter() - started, _route(scope)
            if self.metrics is not None:
                self.metrics.observe(route, scope["method"], status["code"], elapsed)
            log.info("%s %s %s %.1fms key=%s", scope["method"], route, status["code"], elapsed * 1000, key_id)

    def _limited(self, receive: Receive) -> Callable[[], Awaitable[Message]]:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise PayloadTooLargeError(f"the request body exceeds {self.max_body_bytes} bytes")
            return message

        return limited


def _route(scope: Scope) -> str:
    """The matched route's template (ids stay out of logs), or a placeholder when nothing matched."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or "<unmatched>"


def _workspace_of(source: Workspace | Settings | str | Path) -> Workspace:
    if isinstance(source, Workspace):
        return source
    if isinstance(source, Settings):
        return Workspace.from_settings(source)
    return Workspace.load(source)


def _warm_up(services: Services) -> None:
    """A server's start: open the stores now rather than on the first request, then settle the heap
    (`c360.io.heap`). A store that does not answer yet is left to `/readyz` and the first request."""
    try:
        services.check()
    except C360Error as exc:
        log.warning("a store does not answer at start-up: %s", type(exc).__name__)
    heap.settle_heap("start-up")


def create_api(
    source: Workspace | Settings | str | Path,
    *,
    profile_store: ProfileStore | None = None,
    keys: KeyStore | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    models: ModelClients | None = None,
) -> FastAPI:
    """The c360 API over one workspace (a `Workspace`, its `Settings`, or its folder).

    `profile_store` and `keys` replace the workspace's own (tests, benchmarks); the app closes only a store
    it opened itself. `models` reaches the models where they run (Serve's deployments); without it they
    load in this process (`LocalModels`).
    """
    services = Services(_workspace_of(source), profile_store, keys)
    if models is not None:
        services.provide(MODELS, models)
    serving = services.ws.settings.serving
    ctx = ApiContext(
        services, ApiMetrics(), RateLimiter(serving.rate_limit_per_second, serving.rate_limit_burst)
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if heap.enabled():  # a server: open the stores and start the model loads now, not on first use
            await run_in_threadpool(_warm_up, services)
            models: ModelClients | None = services.provided(MODELS)
            if models is not None:
                await models.ready()
        yield
        services.close()

    api = FastAPI(
        title="c360",
        version=API_VERSION,
        summary="Customer 360 profiles, personalization and events over HTTP.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        responses={
            401: {"model": ErrorBody},
            403: {"model": ErrorBody},
            422: {"model": ErrorBody},
            429: {"model": ErrorBody},
        },
    )
    api.add_middleware(RequestGuard, max_body_bytes=max_body_bytes, metrics=ctx.metrics)
    api.state.services = services
    api.state.context = ctx
    _add_error_handlers(api)
    api.include_router(_health_routes(ctx))
    for routes in ROUTE_GROUPS:
        api.include_router(routes(ctx))
    return api


def _add_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(C360Error)
    async def _c360_error(request: Request, exc: C360Error) -> Response:
        if exc.status_code >= 500:
            # Store addresses and driver messages are for operators, not clients.
            log.error("%s on %s: %s", type(exc).__name__, _route(request.scope), exc.message)
            return error_response(exc.status_code, error_code(exc), "a backing store is unavailable")
        headers = None
        if exc.status_code == 401:
            headers = {"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'}
        elif isinstance(exc, RateLimitedError):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        return error_response(exc.status_code, error_code(exc), exc.message, headers)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # Locations and reasons only: pydantic's `input` would echo the value (an email, a phone).
        parts = [
            ".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg", "")) for e in exc.errors()
        ]
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")


def _health_routes(ctx: ApiContext) -> APIRouter:
    health = APIRouter(tags=["health"])
    services, metrics = ctx.services, ctx.metrics

    @health.get("/healthz", response_model=HealthStatus)
    def healthz() -> HealthStatus:
        """The process answers (no key needed)."""
        return HealthStatus(status="ok")

    @health.get("/readyz", response_model=HealthStatus, responses={503: {"model": ErrorBody}})
    async def readyz() -> Response:
        """The stores answer and the models given to the app have finished starting (no key needed); 503
        until then. A model not trained yet counts as started: it answers its fallback."""
        try:
            await run_in_threadpool(services.check)
        except C360Error as exc:
            log.warning("not ready: %s", type(exc).__name__)
            return error_response(503, "not_ready", "a backing store does not answer yet")
        models: ModelClients | None = services.provided(MODELS)
        if models is not None and not await models.ready():
            return error_response(503, "not_ready", "the models are still loading")
        return json_response({"status": "ready"})

    @health.get("/metrics", response_class=Response)
    def prometheus_metrics() -> Response:
        """Requests and latency per route template in Prometheus' text format (no key needed)."""
        return Response(metrics.render(), media_type=metrics.content_type)

    return health


ROUTE_GROUPS: tuple[Callable[[ApiContext], APIRouter], ...] = (
    profile_routes,
    customer_routes,
    personalize_routes,
    event_routes,
    content_routes,
)
"""Each group of `/v1` routes, in the order the OpenAPI document lists them."""
