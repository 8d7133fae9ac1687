"""Limits on what a request may cost: its body's size, and each key's rate.

Bodies: the whole body is read (at most the limit, plus one byte) before the application
sees it; over the limit is a 413 at once, whatever ``Content-Length`` said. The upload route
has its own limit (``PAGEMIND_MAX_UPLOAD_MB`` and room for the form around the file).

Rates: a token bucket per key and process (``core.inbound.RateLimiter``, as for people on the
platforms), on the clock the composition root gives; over it, 429 with ``Retry-After``."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http_api.errors import error_response
from core.inbound.messages import RateLimiter
from core.operator.errors import RateLimitedError
from core.ports import Clock

FORM_ROOM = 64 * 1024  # multipart boundaries and headers around an uploaded file


class BodyLimit:
    """ASGI middleware: a body over ``limit_for(path)`` bytes is answered with a 413."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(limit, scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._refuse(limit, scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        shown = f"{limit / 2**20:.1f} MB" if limit >= 2**20 else f"{limit // 1024} KB"
        response = error_response(
            413, "too_large", f"the body is larger than this route takes ({shown})", field="body"
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class KeyRates:
    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.limiter = RateLimiter(per_minute)
        self.clock = clock

    def check(self, key_id: str) -> None:
        wait = self.limiter.allow(key_id, self.clock.now().timestamp())
        if wait > 0:
            raise RateLimitedError(
                f"over this key's rate of {self.limiter.per_minute} requests a minute; "
                f"retry in {wait:.1f} s",
                retry_after=wait,
            )
