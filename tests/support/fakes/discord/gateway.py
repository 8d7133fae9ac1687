"""The Gateway websocket under ``/gateway``: HELLO, IDENTIFY and READY, heartbeats, dispatches
filtered by intents, and sessions that can be RESUMEd (missed events replayed) through
``/gateway-resume``."""

from __future__ import annotations

import asyncio
import json
import secrets
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.fakes.discord import payloads
from tests.support.fakes.discord.payloads import (
    DIRECT_MESSAGES,
    GUILD_MESSAGES,
    MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
    Json,
)
from tests.support.fakes.discord.state import World


@dataclass
class Session:
    id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    log: list[tuple[int, str, Json]] = field(default_factory=list)


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    request: web.Request
    compressor: Any = None  # a zlib compressobj for compress=zlib-stream, else text frames
    session: Session | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: Json) -> None:
        text = json.dumps(payload)
        async with self.lock:
            if self.ws.closed:
                return
            if self.compressor is None:
                await self.ws.send_str(text)
            else:
                data = self.compressor.compress(text.encode()) + self.compressor.flush(
                    zlib.Z_SYNC_FLUSH
                )
                await self.ws.send_bytes(data)


class Gateway:
    """``allowed_intents`` is the set of *privileged* intents enabled for the application
    (None: all); an IDENTIFY asking for others is closed with 4014 like Discord does."""

    def __init__(
        self, world: World, *, token: str, allowed_intents: int | None, heartbeat_interval_ms: int
    ) -> None:
        self.world = world
        self.token = token
        self.allowed_intents = allowed_intents
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.identifies: list[Json] = []  # ``d`` of every IDENTIFY
        self.resumes: list[Json] = []  # ``d`` of every accepted RESUME
        self.received: list[Json] = []  # every gateway payload from the client
        self.urls: list[str] = []  # path?query of every websocket connection
        self.dispatched: list[tuple[int, str, Json]] = []  # (seq, event, data), all sessions
        self.session: Session | None = None
        self.live: Connection | None = None
        self._open: set[Connection] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway-resume", self._gateway)

    async def close(self) -> None:
        for conn in list(self._open):
            await conn.ws.close(code=1001, message=b"fake shutting down")

    # ------------------------------------------------------------------ what a test does

    async def dispatch(self, event: str, data: Json) -> int:
        session = self.session
        if session is None:
            raise RuntimeError("no gateway session yet: wait until the client is ready")
        session.seq += 1
        session.log.append((session.seq, event, data))
        self.dispatched.append((session.seq, event, data))
        live = self.live
        if live is not None and live.session is session:
            await self._deliver(live, session.seq, event, data)
        self.world.notify()
        return session.seq

    async def drop(self, code: int | None) -> None:
        conn = self.live
        if conn is None:
            raise RuntimeError("no live gateway connection")
        self.live = None
        if code is None:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        else:
            await conn.ws.close(code=code, message=b"fake: connection dropped")
        self.world.notify()

    async def request_reconnect(self) -> None:
        if self.live is None:
            raise RuntimeError("no live gateway connection")
        await self.live.send({"op": 7, "d": None, "s": None, "t": None})

    async def invalidate_session(self) -> None:
        conn = self.live
        if conn is None:
            raise RuntimeError("no live gateway connection")
        self.session = None
        self.live = None
        await conn.send({"op": 9, "d": False, "s": None, "t": None})

    # ------------------------------------------------------------------ the websocket

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.urls.append(request.path_qs)
        compress = request.query.get("compress") == "zlib-stream"
        conn = Connection(ws, request, zlib.compressobj() if compress else None)
        self._open.add(conn)
        self.world.notify()
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gw"]}
            await conn.send({"op": 10, "d": hello, "s": None, "t": None})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_payload(conn, json.loads(msg.data))
        finally:
            self._open.discard(conn)
            if self.live is conn:
                self.live = None
            self.world.notify()
        return ws

    async def _on_payload(self, conn: Connection, payload: Json) -> None:
        self.received.append(payload)
        self.world.notify()
        op, data = payload.get("op"), payload.get("d")
        if op == 1:  # HEARTBEAT
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, data)
        elif op == 6:
            await self._resume(conn, data)
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
        elif op == 8:  # REQUEST_GUILD_MEMBERS
            await self._members_chunk(data)
        elif op not in (3, 4):  # presence and voice state updates are accepted and ignored
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: Connection, data: Json) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        allowed = PRIVILEGED_INTENTS if self.allowed_intents is None else self.allowed_intents
        if intents & PRIVILEGED_INTENTS & ~allowed:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self.identifies.append(data)
        session = Session(secrets.token_hex(16), intents, data.get("shard"))
        self.session, conn.session, self.live = session, session, conn
        world = self.world
        ready = payloads.ready(
            world.bot,
            guild_id=world.guild.id,
            session_id=session.id,
            resume_url=f"ws://127.0.0.1:{world.port}/gateway-resume",
            application_id=world.application_id,
            flags=payloads.application_flags(self.allowed_intents),
            shard=session.shard,
        )
        await self.dispatch("READY", ready)
        await self.dispatch("GUILD_CREATE", world.guild_payload(intents))

    async def _resume(self, conn: Connection, data: Json) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        session = self.session
        if session is None or data.get("session_id") != session.id:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        self.resumes.append(data)
        conn.session, self.live = session, conn
        last_seen = data.get("seq") or 0
        for seq, event, payload in list(session.log):
            if seq > last_seen:
                await self._deliver(conn, seq, event, payload)
        await self.dispatch("RESUMED", {"_trace": ["fake-gw"]})

    async def _members_chunk(self, data: Json) -> None:
        query = (data.get("query") or "").lower()
        wanted = {str(i) for i in data.get("user_ids") or []}
        world = self.world
        members = [
            world.member_of(u.id)
            for u in world.guild.members
            if (str(u.id) in wanted if wanted else u.username.lower().startswith(query))
        ]
        chunk = payloads.members_chunk(world.guild.id, members, data.get("nonce"))
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    async def _deliver(self, conn: Connection, seq: int, event: str, data: Json) -> None:
        """Send one dispatch, filtered by the session's intents like Discord does."""
        intents = conn.session.intents if conn.session else 0
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            in_guild = "guild_id" in data
            if not intents & (GUILD_MESSAGES if in_guild else DIRECT_MESSAGES):
                return
            bot_id = str(self.world.bot.id)
            exempt = data["author"]["id"] == bot_id or any(
                m["id"] == bot_id for m in data.get("mentions", [])
            )
            if in_guild and not intents & MESSAGE_CONTENT and not exempt:
                data = data | {"content": "", "embeds": [], "attachments": [], "components": []}
        await conn.send({"op": 0, "t": event, "s": seq, "d": data})
