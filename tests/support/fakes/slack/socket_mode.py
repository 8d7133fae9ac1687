"""The Socket Mode link: the websocket under ``/link/`` (``apps.connections.open`` hands out
its single-use URLs), envelopes sent down it, the app's acknowledgements, redeliveries."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.fakes.slack import payloads
from tests.support.fakes.slack.payloads import Json
from tests.support.fakes.slack.state import Ack, Envelope, Workspace

WaitFor = Callable[[Callable[[], Any], float], Awaitable[Any]]


class SocketMode:
    """``redeliver_after`` (seconds) makes it redeliver an unacknowledged ``events_api``
    envelope up to ``max_redeliveries`` times, as Slack does."""

    def __init__(
        self,
        ws: Workspace,
        tickets: set[str],
        wait_for: WaitFor,
        *,
        redeliver_after: float | None,
        max_redeliveries: int,
    ) -> None:
        self.ws = ws
        self.tickets = tickets
        self.wait_for = wait_for
        self.redeliver_after = redeliver_after
        self.max_redeliveries = max_redeliveries
        self.connect_wait = 5.0  # how long an envelope waits for a connection
        self.connections_opened = 0
        self.sockets: list[tuple[web.WebSocketResponse, web.Request]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/link/", self._socket)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.drop_connections()

    async def send(self, type: str, payload: Json, *, accepts_response_payload: bool) -> Envelope:
        envelope = Envelope(str(uuid.uuid4()), type, payload, accepts_response_payload)
        await self._deliver(envelope)
        return envelope

    async def redeliver(self, envelope: Envelope, *, reason: str) -> Envelope:
        again = Envelope(
            str(uuid.uuid4()),
            envelope.type,
            envelope.payload,
            envelope.accepts_response_payload,
            retry_attempt=len(self.ws.deliveries_of(envelope)),
            retry_reason=reason,
            first_id=envelope.first_id,
        )
        await self._deliver(again)
        return again

    async def send_disconnect(self, reason: str) -> None:
        for ws, _ in list(self.sockets):
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {}})

    async def drop_connections(self, *, abrupt: bool = False) -> None:
        sockets, self.sockets = self.sockets, []
        self.ws.notify()
        for ws, request in sockets:
            if abrupt and request.transport is not None:
                request.transport.abort()
            else:
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"fake drop")

    async def _deliver(self, envelope: Envelope) -> None:
        await self.wait_for(lambda: self.sockets, self.connect_wait)
        ws = self.sockets[-1][0]
        envelope.sent_at = time.monotonic()
        self.ws.envelopes.append(envelope)
        await ws.send_json(envelope.to_wire())
        self.ws.notify()
        if (
            self.redeliver_after is not None
            and envelope.type == "events_api"
            and envelope.retry_attempt < self.max_redeliveries
        ):
            self._spawn(self._redeliver_if_unacked(envelope, self.redeliver_after))

    async def _redeliver_if_unacked(self, envelope: Envelope, after: float) -> None:
        await asyncio.sleep(after)  # Slack's own timer: it redelivers what is not acked by then
        ids = {e.envelope_id for e in self.ws.deliveries_of(envelope)}
        if not any(a.envelope_id in ids for a in self.ws.acks):
            await self.redeliver(envelope, reason="timeout")

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            return web.Response(status=401, text="invalid or reused ticket")
        self.tickets.discard(ticket)
        ws = web.WebSocketResponse(timeout=2.0)
        await ws.prepare(request)
        self.sockets.append((ws, request))
        self.connections_opened += 1
        await ws.send_json(payloads.hello(len(self.sockets), self.ws.identity.app_id))
        self.ws.notify()
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        self.ws.acks.append(
                            Ack(data["envelope_id"], data.get("payload"), time.monotonic())
                        )
                        self.ws.notify()
        finally:
            self.sockets = [s for s in self.sockets if s[0] is not ws]
            self.ws.notify()
        return ws
