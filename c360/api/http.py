"""What every route shares on the wire: the error body and its codes, and a fast JSON response.

Every error leaves as `{"error": {"code": ..., "message": ...}}` with the status its `C360Error` subclass
carries; `error_code` maps the subclass to the stable code once, here.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from c360.errors import (
    AmbiguousIdentifierError,
    C360Error,
    NotFoundError,
    StoreUnavailableError,
    ValidationError,
)

API_VERSION = "v1"
MAX_ID_CHARS = 256


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


class RateLimitedError(C360Error):
    """A key past its request rate; `retry_after` seconds until a request would pass."""

    status_code = 429
    exit_code = 2

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


ERROR_CODES: tuple[tuple[type[C360Error], str], ...] = (
    (UnauthorizedError, "unauthorized"),
    (ForbiddenError, "forbidden"),
    (PayloadTooLargeError, "payload_too_large"),
    (RateLimitedError, "rate_limited"),
    (AmbiguousIdentifierError, "ambiguous_identifier"),  # before its base class, NotFoundError
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


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def error_code(exc: C360Error) -> str:
    return next((code for kind, code in ERROR_CODES if isinstance(exc, kind)), "internal")


def json_response(doc: Any, status_code: int = 200) -> Response:
    """`doc` serialized directly: FastAPI's jsonable_encoder would walk a ~2 KB document again."""
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(body, status_code=status_code, media_type="application/json")
