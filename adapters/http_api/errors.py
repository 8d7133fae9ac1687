"""One error shape for every failure: ``{"error": {"code", "message", "field"?}}``.

The operator layer's errors map to statuses here; FastAPI's validation errors become 422s
naming the field; an unknown route is a 404 like an unknown id. An unexpected exception is
logged with its traceback and answered with a plain 500 (no internals in the body)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import StorageError, StorageUnavailableError
from core.operator.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    NotReadyError,
    OperatorError,
    PayloadTooLargeError,
    RateLimitedError,
    UnauthorizedError,
)
from core.operator.memory import BlockConflictError
from pagemind_client.models import ErrorBody, ErrorDetail, MemoryBlock

log = logging.getLogger(__name__)

STATUS: dict[type[OperatorError], int] = {
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    InvalidRequestError: 422,
    RateLimitedError: 429,
    NotReadyError: 202,  # accepted: queued for the agent, applied in order
}
HTTP_CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "invalid",
    422: "invalid",
    429: "rate_limited",
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field, **extra))
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers
    )


def _status(exc: OperatorError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


async def operator_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OperatorError)
    status = _status(exc)
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, UnauthorizedError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if isinstance(exc, ConflictError):
        extra["current"] = exc.current
    if isinstance(exc, BlockConflictError):
        b = exc.block
        extra["block"] = MemoryBlock(
            label=b.label, value=b.value, limit=b.limit, title=b.title, version=b.version
        )
    if isinstance(exc, NotReadyError):
        extra["event_id"] = exc.event_id
    if status == 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(
        status, exc.code, str(exc), field=exc.field, headers=headers or None, **extra
    )


def _field(loc: tuple[int | str, ...]) -> str:
    """The field a validation error names: its location without the part of the request
    ("body", "query", "path"); a body that is not JSON at all: "body"."""
    parts = [str(p) for p in loc[1:] if not isinstance(p, int)] if len(loc) > 1 else []
    return ".".join(parts) or (str(loc[0]) if loc else "body")


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = _field(tuple(first.get("loc", ("body",))))
    if first.get("type") == "json_invalid":
        field, message = "body", f"the body is not valid JSON: {first.get('msg', '')}"
    elif first.get("type") == "missing":
        message = f"{field} is required"
    else:
        message = f"{field}: {first.get('msg', 'invalid')}"
    more = len(errors) - 1
    if more > 0:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return error_response(422, "invalid", message, field=field)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"there is no {request.url.path} here (see /docs)"
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def storage_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s: storage failed: %s", request.method, request.url.path, exc)
    unavailable = isinstance(exc, StorageUnavailableError)
    message = "the database is unreachable" if unavailable else "the database failed"
    return error_response(503, "unavailable", f"{message}; try again shortly")


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "error", "internal error (logged on the server)")


def install(app: FastAPI) -> None:
    app.add_exception_handler(OperatorError, operator_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(StorageError, storage_error)
    app.add_exception_handler(Exception, unexpected_error)
