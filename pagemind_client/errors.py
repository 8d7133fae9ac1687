"""Errors the API answers with, as exceptions carrying the server's message."""

from __future__ import annotations

from pagemind_client.models import MemoryBlock


class PagemindError(Exception):
    """Root of the client's errors."""


class APIConnectionError(PagemindError):
    """The server could not be reached (or the connection broke)."""


class APIError(PagemindError):
    """The server answered with an error: ``status``, ``code``, ``message`` (the server's
    words) and the ``field`` at fault, when one is."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class AuthenticationError(APIError):
    """401: no key, or an unknown or revoked one."""


class PermissionDeniedError(APIError):
    """403: a viewer key asked to change something."""


class NotFoundError(APIError):
    """404: no such agent, passage, check-in or job."""


class ConflictError(APIError):
    """409: the change contradicts the current state; ``current`` names the version."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        current: int | None = None,
    ) -> None:
        super().__init__(status, code, message, field)
        self.current = current
        self.block: MemoryBlock | None = None  # a memory block's edit: the block as it is now


class PayloadTooLargeError(APIError):
    """413: a body or file over the server's limit."""


class ValidationError(APIError):
    """422: malformed JSON, a wrong type or value; ``field`` names it."""


class RateLimitError(APIError):
    """429: over the key's rate; ``retry_after`` seconds to wait."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        retry_after: float = 1.0,
    ) -> None:
        super().__init__(status, code, message, field)
        self.retry_after = retry_after


class ChangeQueuedError(APIError):
    """202: the change is queued for the agent and will be applied in order, but was not
    applied within the server's wait (the agent is busy, or the server is stopping)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        event_id: str | None = None,
    ) -> None:
        super().__init__(status, code, message, field)
        self.event_id = event_id


class ServerError(APIError):
    """5xx: the server failed (its log says why)."""


_BY_STATUS: dict[int, type[APIError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitError,
    202: ChangeQueuedError,
}


def error_for(status: int, body: object, retry_after: str | None) -> APIError:
    """The exception for an error response (``body`` as parsed JSON, if it was JSON)."""
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        detail = {"code": "error", "message": str(body)[:500] or f"HTTP {status}"}
    code = str(detail.get("code", "error"))
    message = str(detail.get("message", ""))
    field = detail.get("field")
    field = str(field) if field is not None else None
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    if kind is ConflictError:
        current = detail.get("current")
        conflict = ConflictError(
            status, code, message, field, current if isinstance(current, int) else None
        )
        block = detail.get("block")
        if isinstance(block, dict):
            conflict.block = MemoryBlock.model_validate(block)
        return conflict
    if kind is RateLimitError:
        try:
            wait = float(retry_after) if retry_after else 1.0
        except ValueError:
            wait = 1.0
        return RateLimitError(status, code, message, field, wait)
    if kind is ChangeQueuedError:
        event = detail.get("event_id")
        return ChangeQueuedError(status, code, message, field, str(event) if event else None)
    return kind(status, code, message, field)
