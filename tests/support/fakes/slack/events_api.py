"""The Events API sender: events, slash commands and interactions POSTed to an app over HTTP,
signed as Slack signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDict

from tests.support.fakes.slack.payloads import Json


@dataclass
class HttpResult:
    """What an app answered to a signed POST from the fake."""

    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


class EventsSender:
    def __init__(self, signing_secret: str) -> None:
        self.signing_secret = signing_secret

    def sign(self, timestamp: int, body: bytes) -> str:
        """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret."""
        base = b"v0:" + str(timestamp).encode() + b":" + body
        return "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()

    async def post_event(
        self,
        url: str,
        payload: Json | bytes,
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        stale: bool = False,
        bad_signature: bool = False,
        session: aiohttp.ClientSession | None = None,
    ) -> HttpResult:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return await self._post_signed(url, body, headers, stale, bad_signature, session)

    async def post_command(
        self,
        url: str,
        form_fields: Mapping[str, str],
        *,
        stale: bool = False,
        bad_signature: bool = False,
    ) -> HttpResult:
        body = urlencode(dict(form_fields)).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self._post_signed(url, body, headers, stale, bad_signature)

    async def post_interactive(self, url: str, payload: Json) -> HttpResult:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self._post_signed(url, body, headers, False, False)

    async def _post_signed(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        stale: bool,
        bad_signature: bool,
        session: aiohttp.ClientSession | None = None,
    ) -> HttpResult:
        timestamp = int(time.time()) - (600 if stale else 0)
        signature = self.sign(timestamp, body)
        if bad_signature:
            signature = signature[:-4] + ("0000" if not signature.endswith("0000") else "1111")
        headers |= {
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": signature,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if session is not None:
            async with session.post(url, data=body, headers=headers) as resp:
                return HttpResult(resp.status, CIMultiDict(resp.headers), await resp.read())
        async with (
            aiohttp.ClientSession() as own,
            own.post(url, data=body, headers=headers) as resp,
        ):
            return HttpResult(resp.status, CIMultiDict(resp.headers), await resp.read())
