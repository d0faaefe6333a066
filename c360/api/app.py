"""The HTTP API as a plain FastAPI app: `create_api(workspace)`; Serve's ingress wraps it (`serving/app.py`).

Every error leaves as `{"error": {"code": ..., "message": ...}}` with the status its `C360Error` subclass
carries, mapped once, here. Nothing a client sends is echoed into logs: the access line names the route
template (`/v1/profiles/{customer_id}`), never the path or the query string, and the key by its id; an
unexpected exception is logged by type and answered with a bare 500, never a traceback.

The profile routes read the workspace's profile store (`stores.profile` in c360.yaml), which follows the
aliases identity merges leave behind: a merged-away id answers with the surviving profile, whose
`customerId` tells the caller the id it lives under now.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from c360.api.keys import ApiKey, KeyStore
from c360.api.metrics import ApiMetrics
from c360.errors import C360Error, NotFoundError, StoreUnavailableError, ValidationError
from c360.profile.store import ProfileStore, open_profile_store
from c360.settings import Settings
from c360.workspace import Workspace

log = logging.getLogger("c360.api")

API_VERSION = "v1"
MAX_BODY_BYTES = 1_000_000
"""Requests with a larger body are refused with 413 before the body is parsed."""
IDENTIFIER_PARAMS = {"email": "email", "phone": "phone", "device_id": "device", "cookie_id": "cookie"}
"""Query parameter of `GET /v1/profiles` -> identifier kind of the profile store's index."""
MAX_ID_CHARS = 256
KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKeyHeader")
BEARER = HTTPBearer(auto_error=False, scheme_name="Bearer")


class UnauthorizedError(C360Error):
    """No API key, or one the workspace does not know (or has revoked)."""

    status_code = 401
    exit_code = 2


class ForbiddenError(C360Error):
    """A valid key without the scope the route needs."""

    status_code = 403
    exit_code = 2


class PayloadTooLargeError(C360Error):
    """A request body past the size limit."""

    status_code = 413
    exit_code = 2


ERROR_CODES: tuple[tuple[type[C360Error], str], ...] = (
    (UnauthorizedError, "unauthorized"),
    (ForbiddenError, "forbidden"),
    (PayloadTooLargeError, "payload_too_large"),
    (NotFoundError, "not_found"),
    (ValidationError, "invalid_request"),
    (StoreUnavailableError, "store_unavailable"),
)
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error response: a stable machine-readable code and a sentence for people."""

    error: ErrorDetail


class HealthStatus(BaseModel):
    status: str


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def error_code(exc: C360Error) -> str:
    return next((code for kind, code in ERROR_CODES if isinstance(exc, kind)), "internal")


def _json(doc: Any) -> Response:
    # Serialized directly: FastAPI's jsonable_encoder walks every value of a ~2 KB document again.
    return Response(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), media_type="application/json")


class Services:
    """The stores the API reads, opened on first use so the app starts (and `/healthz` answers) while a
    store is still down; `/readyz` says when they answer."""

    def __init__(
        self, ws: Workspace, profile_store: ProfileStore | None = None, keys: KeyStore | None = None
    ):
        self.ws = ws
        self.keys = keys if keys is not None else KeyStore.for_workspace(ws)
        self._profiles = profile_store
        self._lock = threading.Lock()

    def profiles(self) -> ProfileStore:
        if self._profiles is None:
            with self._lock:
                if self._profiles is None:
                    self._profiles = open_profile_store(self.ws)
        return self._profiles

    def check(self) -> None:
        """Raise when a store does not answer: one cheap read of each."""
        self.profiles().resolve("readyz-probe")
        self.keys.list()

    def close(self) -> None:
        if self._profiles is not None:
            self._profiles.close()
            self._profiles = None


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


def create_api(
    source: Workspace | Settings | str | Path,
    *,
    profile_store: ProfileStore | None = None,
    keys: KeyStore | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The c360 API over one workspace (a `Workspace`, its `Settings`, or its folder).

    `profile_store` and `keys` replace the workspace's own (tests, benchmarks); the app closes only a store
    it opened itself.
    """
    services = Services(_workspace_of(source), profile_store, keys)
    owns_store = profile_store is None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_store:
            services.close()

    api = FastAPI(
        title="c360",
        version=API_VERSION,
        summary="Customer 360 profiles over HTTP.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    )
    metrics = ApiMetrics()
    api.add_middleware(RequestGuard, max_body_bytes=max_body_bytes, metrics=metrics)
    api.state.services = services

    @api.exception_handler(C360Error)
    async def _c360_error(request: Request, exc: C360Error) -> Response:
        if exc.status_code >= 500:
            # Store addresses and driver messages are for operators, not clients.
            log.error("%s on %s: %s", type(exc).__name__, _route(request.scope), exc.message)
            return error_response(exc.status_code, error_code(exc), "a backing store is unavailable")
        headers = (
            {"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'} if exc.status_code == 401 else None
        )
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

    def require(scope: str) -> Callable[..., Awaitable[ApiKey]]:
        async def authorized(
            request: Request,
            header_key: Annotated[str | None, Security(KEY_HEADER)],
            bearer_key: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
        ) -> ApiKey:
            presented = header_key or (bearer_key.credentials if bearer_key else None)
            key = services.keys.authenticate(presented)
            if key is None:
                raise UnauthorizedError(
                    "a valid API key is required: header X-API-Key or Authorization: Bearer"
                )
            request.state.key_id = key.key_id
            if not key.allows(scope):
                raise ForbiddenError(f"this API key lacks the scope {scope}")
            return key

        return authorized

    @api.get("/healthz", tags=["health"], response_model=HealthStatus)
    def healthz() -> HealthStatus:
        """The process answers (no key needed)."""
        return HealthStatus(status="ok")

    @api.get("/readyz", tags=["health"], response_model=HealthStatus, responses={503: {"model": ErrorBody}})
    def readyz() -> Response:
        """The stores answer (no key needed); 503 until they do."""
        try:
            services.check()
        except C360Error as exc:
            log.warning("not ready: %s", type(exc).__name__)
            return error_response(503, "not_ready", "a backing store does not answer yet")
        return _json({"status": "ready"})

    @api.get("/metrics", tags=["health"], response_class=Response)
    def prometheus_metrics() -> Response:
        """Requests and latency per route template in Prometheus' text format (no key needed)."""
        return Response(metrics.render(), media_type=metrics.content_type)

    v1 = APIRouter(prefix=f"/{API_VERSION}", tags=["profiles"])
    profile_doc = {200: {"content": {"application/json": {"schema": {"type": "object"}}}}}
    read_profiles = [Depends(require("profiles:read"))]

    @v1.get(
        "/profiles/{customer_id}",
        dependencies=read_profiles,
        responses={**profile_doc, 404: {"model": ErrorBody}},
        response_class=Response,
    )
    def get_profile(customer_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS)]) -> Response:
        """One customer's unified profile; a merged-away id answers with the surviving profile."""
        try:
            return _json(services.profiles().get(customer_id))
        except NotFoundError:
            raise NotFoundError("no profile for this customer id") from None

    @v1.get(
        "/profiles",
        dependencies=read_profiles,
        responses={**profile_doc, 404: {"model": ErrorBody}},
        response_class=Response,
    )
    def find_profile(
        email: Annotated[str | None, Query(max_length=320)] = None,
        phone: Annotated[str | None, Query(max_length=64)] = None,
        device_id: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
        cookie_id: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
    ) -> Response:
        """The profile holding one identifier: exactly one of email, phone (E.164), device_id, cookie_id."""
        given = {
            param: value
            for param, value in {
                "email": email,
                "phone": phone,
                "device_id": device_id,
                "cookie_id": cookie_id,
            }.items()
            if value is not None
        }
        if len(given) != 1:
            raise ValidationError(f"give exactly one of {', '.join(IDENTIFIER_PARAMS)}")
        ((param, value),) = given.items()
        store = services.profiles()
        return _json(store.get(store.lookup(IDENTIFIER_PARAMS[param], value)))

    api.include_router(v1)
    return api
