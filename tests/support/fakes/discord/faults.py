"""Scripted failures: the next matching REST requests answer 429 (with everything discord.py
needs to wait and retry) or another error status."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from tests.support.fakes.discord.responses import error, json_response


@dataclass
class Failure:
    method: str
    path: str
    status: int
    remaining: int
    retry_after: float
    is_global: bool


class Faults:
    def __init__(self) -> None:
        self._failures: list[Failure] = []

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: float = 0.5,
        is_global: bool = False,
    ) -> None:
        self._failures.append(Failure(method.upper(), path, status, times, retry_after, is_global))

    def take(self, method: str, path: str, route: str) -> web.Response | None:
        """The failure answer for this request, if one is queued for it."""
        for failure in self._failures:
            if failure.method == method and failure.path in (path, route) and failure.remaining:
                failure.remaining -= 1
                break
        else:
            return None
        if failure.status != 429:
            return error(failure.status, f"{failure.status}: Internal Server Error")
        body = {
            "message": "You are being rate limited.",
            "retry_after": failure.retry_after,
            "global": failure.is_global,
        }
        response = json_response(body, 429)
        response.headers.update(
            {
                "Via": "1.1 google",
                "Retry-After": str(max(1, round(failure.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                "X-RateLimit-Bucket": format(abs(hash(route)), "x"),
                "X-RateLimit-Scope": "global" if failure.is_global else "user",
            }
        )
        if failure.is_global:
            response.headers["X-RateLimit-Global"] = "true"
        return response
