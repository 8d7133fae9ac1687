"""Scripted failures and answers: the next calls of a Web API method fail, or a method is
served by the test's own handler."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from tests.support.fakes.slack.payloads import Json

MethodHandler = Callable[[Json], Json]


class ApiError(Exception):
    """Raised by a method implementation to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class Failure:
    status: int
    error: str
    retry_after: int | None
    remaining: int


class Faults:
    def __init__(self) -> None:
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.overrides: dict[str, MethodHandler] = {}

    def fail(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 200,
        error: str = "internal_error",
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``status`` and ``error``."""
        self._failures[method].append(Failure(status, error, retry_after, times))

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Next calls answer HTTP 429, integer ``Retry-After``, ``"error": "ratelimited"``."""
        self.fail(method, times=times, status=429, error="ratelimited", retry_after=retry_after)

    def on(self, method: str, handler: MethodHandler) -> None:
        """Serve ``method`` with ``handler(args) -> response fields`` (``ok`` is added)."""
        self.overrides[method] = handler

    def take(self, method: str) -> Failure | None:
        """The failure the next call of ``method`` meets, if any."""
        failures = self._failures.get(method)
        if not failures:
            return None
        failure = failures[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            failures.popleft()
        return failure
