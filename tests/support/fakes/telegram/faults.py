"""Scripted failures: the next calls of a method answer an error, or lose their connection."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tests.support.fakes.telegram.payloads import JSON


class TelegramAPIError(Exception):
    """An error the fake answers with: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(what: str) -> TelegramAPIError:
    return TelegramAPIError(400, f"Bad Request: {what}")


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Failure:
    error: TelegramAPIError | None  # None: drop the connection instead of answering


class Faults:
    """Failures queued per method (case-insensitive), each used by one call."""

    def __init__(self) -> None:
        self._queued: dict[str, deque[Failure]] = {}

    def fail_next(
        self,
        method: str,
        *,
        times: int = 1,
        error_code: int = 400,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` fail; 429 gets ``parameters.retry_after``."""
        if error_code == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or _DEFAULT_DESCRIPTIONS.get(error_code, "Injected failure")
        error = TelegramAPIError(error_code, description, retry_after=retry_after)
        self._queue(method).extend(Failure(error) for _ in range(times))

    def drop_next(self, method: str = "getUpdates", *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get their connection closed, no response."""
        self._queue(method).extend(Failure(None) for _ in range(times))

    def take(self, method: str) -> Failure | None:
        """The failure the next call of ``method`` meets, if any."""
        queued = self._queued.get(method.lower())
        return queued.popleft() if queued else None

    def _queue(self, method: str) -> deque[Failure]:
        return self._queued.setdefault(method.lower(), deque())
