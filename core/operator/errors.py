"""What an operator's request can run into, each mapped to one HTTP status at the edge."""

from __future__ import annotations

from core.errors import PagemindError


class OperatorError(PagemindError):
    """A request the operator layer refuses; ``str(error)`` is written for the operator."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnauthorizedError(OperatorError):
    """No key, a malformed key, an unknown key or a revoked key."""

    code = "unauthorized"


class ForbiddenError(OperatorError):
    """A viewer key asked to change something."""

    code = "forbidden"


class NotFoundError(OperatorError):
    """The agent, passage, check-in or job named does not exist."""

    code = "not_found"


class InvalidRequestError(OperatorError):
    """The request is well-formed but cannot be done as asked (names the ``field``)."""

    code = "invalid"


class ConflictError(OperatorError):
    """The request lost a race or contradicts the current state (``current`` says what is
    there now, e.g. a block's version)."""

    code = "conflict"

    def __init__(
        self, message: str, *, field: str | None = None, current: int | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.current = current


class RateLimitedError(OperatorError):
    """The key sent more requests than its rate allows; retry after ``retry_after`` s."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotReadyError(OperatorError):
    """The change is queued for the agent but not applied yet (its worker is busy, or the
    process is stopping); it will be applied, in order, by whichever worker runs the agent."""

    code = "queued"

    def __init__(self, message: str, *, event_id: str) -> None:
        super().__init__(message)
        self.event_id = event_id


class PayloadTooLargeError(OperatorError):
    """A body or an uploaded file over its stated limit."""

    code = "too_large"
