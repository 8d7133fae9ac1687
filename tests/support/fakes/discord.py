"""A protocol-level fake of Discord on 127.0.0.1: a TEST DOUBLE for driving the real discord.py.

One aiohttp server plays three parts:

* the REST API under ``/api/v10`` (what ``discord.http.Route.BASE`` points at),
* the Gateway websocket under ``/gateway`` (``DiscordWebSocket.DEFAULT_GATEWAY``), with sessions
  that can be RESUMEd (missed events are replayed) through ``/gateway-resume``,
* a tiny CDN under ``/attachments`` serving registered attachment bytes.

Tests push events (``send_dm``, ``send_guild_message``, ``send_slash_command``...), inject
failures (``fail_next``), drop the gateway (``drop_gateway``) and inspect what the client did
(``calls``, ``sent_messages``, ``typing_calls``, ``interaction_responses``), using
:meth:`FakeDiscord.wait_for` instead of sleeps. See ``DISCORD_NOTES.md`` next to this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import re
import secrets
import socket
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import WSMsgType, web

Json = dict[str, Any]
T = TypeVar("T")

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Gateway intent bits (https://discord.com/developers/docs/events/gateway#gateway-intents).
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT
# Application flags that say a privileged intent is enabled for the app.
_APP_FLAG = {GUILD_PRESENCES: 1 << 12, GUILD_MEMBERS: 1 << 14, MESSAGE_CONTENT: 1 << 18}

# Channel and message types used here.
TEXT_CHANNEL, DM_CHANNEL, PUBLIC_THREAD = 0, 1, 11
_DEFAULT, _REPLY, _SLASH_COMMAND = 0, 19, 20
_EPHEMERAL, _LOADING = 1 << 6, 1 << 7

# What the @everyone role may do: view, send, embed, attach, history, react, app commands,
# create and post in public threads. Enough for the bot's own permission checks to pass.
_EVERYONE_PERMISSIONS = sum(1 << b for b in (6, 10, 11, 14, 15, 16, 31, 35, 38))
_MENTION = re.compile(r"<@!?(\d+)>")
_Files = list[tuple[str, bytes, str]]  # uploaded (filename, data, content type)
_PAYLOAD = web.RequestKey("payload", object)  # parsed JSON body (or multipart payload_json)
_FILES = web.RequestKey("files", list)  # _Files
_GUILD_COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"
_WEBHOOK_MESSAGE = "/webhooks/{application_id}/{token}/messages/{message_id}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class _Snowflakes:
    """Monotonic, time-based snowflakes so ``discord.utils.snowflake_time`` stays realistic."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


@dataclass
class FakeUser:
    """A Discord user (a human, or the bot itself when ``bot`` is true)."""

    id: int
    username: str
    bot: bool = False

    def payload(self) -> Json:
        """The user object as the API sends it."""
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": None if self.bot else self.username,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    @property
    def mention(self) -> str:
        """The ``<@id>`` markup Discord clients put in message content."""
        return f"<@{self.id}>"


@dataclass
class FakeChannel:
    """A guild text channel, a public thread (``parent_id`` set) or a DM (``recipient`` set)."""

    id: int
    name: str
    type: int = TEXT_CHANNEL
    guild_id: int | None = None
    parent_id: int | None = None
    recipient: FakeUser | None = None


@dataclass
class FakeGuild:
    """A guild with its channels (threads included) and members (the bot must be one)."""

    id: int
    name: str
    channels: list[FakeChannel] = field(default_factory=list)
    members: list[FakeUser] = field(default_factory=list)


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP request the fake answered (REST, webhook or CDN), failed attempts included."""

    method: str
    path: str  # concrete path without the /api/v10 prefix, e.g. /channels/12/messages
    route: str  # the template, e.g. /channels/{channel_id}/messages
    query: dict[str, str]
    json: Any  # parsed JSON body (``payload_json`` for multipart uploads), else None
    files: tuple[str, ...]  # uploaded file names (multipart)
    status: int
    timestamp: float  # time.monotonic()


@dataclass
class _Failure:
    method: str
    path: str
    status: int
    remaining: int
    retry_after: float
    is_global: bool


@dataclass
class _Session:
    id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    log: list[tuple[int, str, Json]] = field(default_factory=list)


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    request: web.Request
    compressor: Any = None  # a zlib compressobj for compress=zlib-stream, else text frames
    session: _Session | None = None
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


def _json(body: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim, a charset breaks it.
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def _error(status: int, message: str, code: int = 0, errors: Json | None = None) -> web.Response:
    body: Json = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return _json(body, status)


def _form_error(field_name: str, code: str, message: str) -> web.Response:
    errors = {field_name: {"_errors": [{"code": code, "message": message}]}}
    return _error(400, "Invalid Form Body", 50035, errors)


class FakeDiscord:
    """Fake Discord REST API + Gateway. Use as ``async with FakeDiscord() as dc:``.

    It comes with a bot user (``dc.bot``, whose id is also ``dc.application_id``), a human user
    (``dc.user``) and one guild (``dc.guild``) holding a text channel (``dc.text_channel``) and
    a public thread in it (``dc.thread``). Add more with :meth:`add_user` / :meth:`add_channel`
    before the client connects.

    ``allowed_intents`` is the set of *privileged* intents enabled for the application (None:
    all); an IDENTIFY asking for others is closed with 4014 like Discord does.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        allowed_intents: int | None = None,
        heartbeat_interval_ms: int = 41_250,
        nonce_window: float = 300.0,
        echo_own_messages: bool = True,
    ) -> None:
        self.token = token
        self.allowed_intents = allowed_intents
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.nonce_window = nonce_window
        self.echo_own_messages = echo_own_messages
        self._ids = _Snowflakes()
        self.bot = FakeUser(self._ids.next(), "pagemind", bot=True)
        self.application_id = self.bot.id
        self.user = FakeUser(self._ids.next(), "alice")
        guild_id = self._ids.next()
        self.text_channel = FakeChannel(self._ids.next(), "general", guild_id=guild_id)
        self.thread = FakeChannel(
            self._ids.next(),
            "pagemind-thread",
            type=PUBLIC_THREAD,
            guild_id=guild_id,
            parent_id=self.text_channel.id,
        )
        self.guild = FakeGuild(
            guild_id, "Pagemind Test Guild", [self.text_channel, self.thread], [self.bot, self.user]
        )
        self._users = {u.id: u for u in (self.bot, self.user)}
        self._channels = {c.id: c for c in self.guild.channels}
        self._joined_at = _now_iso()

        # Inspection state.
        self.calls: list[RecordedCall] = []
        self.typing_calls: list[int] = []  # channel ids, in order
        # {interaction_id, token, type, data, message_id (the original response, if any)}
        self.interaction_responses: list[Json] = []
        self.followups: list[Json] = []  # webhook follow-up messages (as created)
        self.identifies: list[Json] = []  # ``d`` of every IDENTIFY
        self.resumes: list[Json] = []  # ``d`` of every accepted RESUME
        self.gateway_received: list[Json] = []  # every gateway payload from the client
        self.gateway_urls: list[str] = []  # path?query of every websocket connection
        self.dispatched: list[tuple[int, str, Json]] = []  # (seq, event, data), all sessions
        self.commands: dict[int | None, list[Json]] = {}  # synced commands; key None = global

        self._messages: dict[int, Json] = {}
        self._sent: list[int] = []
        self._nonces: dict[tuple[int, str], tuple[float, int]] = {}
        self._files: dict[int, tuple[bytes, str]] = {}
        self._interactions: dict[int, Json] = {}
        self._original: dict[str, int] = {}  # interaction token -> original response message id
        self._failures: list[_Failure] = []
        self._session: _Session | None = None
        self._live: _Connection | None = None
        self._open: set[_Connection] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._middleware])
        for method, path, handler in self._routes():
            app.router.add_route(method, API_PREFIX + path, handler)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway-resume", self._gateway)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._cdn)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for conn in list(self._open):
            await conn.ws.close(code=1001, message=b"fake shutting down")
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """The value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """The value (as a string) for ``DiscordWebSocket.DEFAULT_GATEWAY``."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @contextlib.contextmanager
    def patch_discord_py(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway at this fake; restore on exit."""
        import yarl
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved

    # ------------------------------------------------------------------ world building

    def add_user(self, username: str, *, in_guild: bool = True) -> FakeUser:
        """A new human user (a member of ``dc.guild`` unless told otherwise)."""
        user = FakeUser(self._ids.next(), username)
        self._users[user.id] = user
        if in_guild:
            self.guild.members.append(user)
        return user

    def add_channel(self, name: str, *, thread_of: FakeChannel | None = None) -> FakeChannel:
        """A new text channel in ``dc.guild``, or a public thread when ``thread_of`` is given."""
        channel = FakeChannel(
            self._ids.next(),
            name,
            type=PUBLIC_THREAD if thread_of else TEXT_CHANNEL,
            guild_id=self.guild.id,
            parent_id=thread_of.id if thread_of else None,
        )
        self.guild.channels.append(channel)
        self._channels[channel.id] = channel
        return channel

    def dm_channel(self, user: FakeUser | None = None) -> FakeChannel:
        """The DM channel between the bot and ``user`` (default ``dc.user``), made on first use."""
        user = user or self.user
        for channel in self._channels.values():
            if channel.recipient is not None and channel.recipient.id == user.id:
                return channel
        channel = FakeChannel(self._ids.next(), "", type=DM_CHANNEL, recipient=user)
        self._channels[channel.id] = channel
        return channel

    def add_attachment(self, filename: str, data: bytes, content_type: str | None = None) -> Json:
        """Register bytes on the fake CDN; returns the attachment object for a message."""
        attachment_id = self._ids.next()
        ctype = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        self._files[attachment_id] = (data, ctype)
        expires = format(int(time.time()) + 86_400, "x")
        url = (
            f"{self.base_url}/attachments/{attachment_id}/{quote(filename)}"
            f"?ex={expires}&is={format(int(time.time()), 'x')}&hm={secrets.token_hex(32)}&"
        )
        return {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": ctype,
        }

    # ------------------------------------------------------------------ test-side events

    async def send_dm(
        self,
        content: str,
        *,
        author: FakeUser | None = None,
        attachments: Sequence[Json] = (),
        reply_to: Json | None = None,
        reply_ping: bool = True,
    ) -> Json:
        """A user DMs the bot: dispatches MESSAGE_CREATE and returns the message payload."""
        author = author or self.user
        message = self._create_message(
            self.dm_channel(author), author, content, attachments, reply_to, reply_ping
        )
        await self.dispatch("MESSAGE_CREATE", self._gateway_message(message))
        return message

    async def send_guild_message(
        self,
        content: str,
        *,
        channel: FakeChannel | None = None,
        author: FakeUser | None = None,
        mention_bot: bool = False,
        attachments: Sequence[Json] = (),
        reply_to: Json | None = None,
        reply_ping: bool = True,
    ) -> Json:
        """A user posts in a guild channel or thread (default ``dc.text_channel``).

        ``mention_bot`` prefixes ``<@bot_id> `` to the content. Like Discord, ``mentions`` is
        derived from ``<@id>`` markup, plus the replied-to author when ``reply_ping`` is set.
        """
        if mention_bot:
            content = f"{self.bot.mention} {content}"
        message = self._create_message(
            channel or self.text_channel,
            author or self.user,
            content,
            attachments,
            reply_to,
            reply_ping,
        )
        await self.dispatch("MESSAGE_CREATE", self._gateway_message(message))
        return message

    async def edit_message(self, message: Json, content: str) -> Json:
        """The author edits a message: dispatches MESSAGE_UPDATE with the full new message."""
        stored = self._messages[int(message["id"])]
        replied = stored.get("referenced_message")
        pinged = replied is not None and replied["author"] in stored["mentions"]
        stored.update(content=content, edited_timestamp=_now_iso())
        stored["mentions"] = self._mentions(content, replied, pinged)
        await self.dispatch("MESSAGE_UPDATE", self._gateway_message(stored))
        return stored

    async def redeliver(self, message: Json) -> None:
        """Dispatch the same MESSAGE_CREATE again (at-least-once delivery happens)."""
        await self.dispatch("MESSAGE_CREATE", self._gateway_message(message))

    async def send_slash_command(
        self,
        name: str,
        options: dict[str, str | int | float | bool] | None = None,
        *,
        user: FakeUser | None = None,
        channel: FakeChannel | None = None,
    ) -> Json:
        """A user runs ``/name`` (flat options only): dispatches INTERACTION_CREATE (type 2).

        The command must have been synced (PUT .../commands) for the guild or globally, like on
        Discord. ``channel`` defaults to ``dc.text_channel``; pass ``dc.dm_channel()`` for a DM.
        Returns the interaction payload (its ``id`` and ``token`` identify the responses).
        """
        user = user or self.user
        channel = channel or self.text_channel
        guild_id = channel.guild_id
        command = self._find_command(name, guild_id)
        type_of = {bool: 5, int: 4, float: 10, str: 3}
        data: Json = {
            "id": command["id"],
            "name": name,
            "type": 1,
            "options": [
                {"name": k, "type": type_of[type(v)], "value": v}
                for k, v in (options or {}).items()
            ],
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        interaction: Json = {
            "id": str(self._ids.next()),
            "application_id": str(self.application_id),
            "type": 2,
            "token": "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48),
            "version": 1,
            "data": data,
            "channel_id": str(channel.id),
            "channel": self._channel_payload(channel),
            "app_permissions": str(_EVERYONE_PERMISSIONS),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild_id is not None:
            member = self._member_payload(user)
            member["permissions"] = str(_EVERYONE_PERMISSIONS)
            interaction.update(
                guild_id=str(guild_id),
                guild_locale="en-US",
                member=member,
                context=0,
                authorizing_integration_owners={"0": str(guild_id)},
            )
        else:
            interaction.update(
                user=user.payload(), context=1, authorizing_integration_owners={"0": "0"}
            )
        self._interactions[int(interaction["id"])] = {"payload": interaction, "responded": False}
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

    async def dispatch(self, event: str, data: Json) -> int:
        """Send any DISPATCH (op 0) event on the current session; returns its sequence number.

        While the client is disconnected the event is kept and replayed on RESUME, like
        Discord. Raises if no client ever identified (push events after ``wait_until_ready``).
        """
        session = self._session
        if session is None:
            raise RuntimeError("no gateway session yet: wait until the client is ready")
        session.seq += 1
        session.log.append((session.seq, event, data))
        self.dispatched.append((session.seq, event, data))
        live = self._live
        if live is not None and live.session is session:
            await self._deliver(live, session.seq, event, data)
        self._touch()
        return session.seq

    async def drop_gateway(self, code: int | None = 4000) -> None:
        """Close the live gateway connection with ``code``; ``None`` aborts the TCP connection
        without a close frame (the client sees 1006). The session stays resumable."""
        conn = self._live
        if conn is None:
            raise RuntimeError("no live gateway connection")
        self._live = None
        if code is None:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        else:
            await conn.ws.close(code=code, message=b"fake: connection dropped")
        self._touch()

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client should reconnect and RESUME."""
        if self._live is None:
            raise RuntimeError("no live gateway connection")
        await self._live.send({"op": 7, "d": None, "s": None, "t": None})

    async def invalidate_session(self) -> None:
        """Send op 9 INVALID_SESSION (not resumable) and forget the session: the client must
        IDENTIFY again; events dispatched in between are lost, like on Discord."""
        conn = self._live
        if conn is None:
            raise RuntimeError("no live gateway connection")
        self._session = None
        self._live = None
        await conn.send({"op": 9, "d": False, "s": None, "t": None})

    # ------------------------------------------------------------------ failure injection

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
        """Make the next ``times`` matching requests fail with ``status`` (429 or e.g. 500).

        ``path`` is a route template (``/channels/{channel_id}/messages``) or a concrete path
        (``/channels/123/messages``), without the ``/api/v10`` prefix. A 429 carries the body,
        ``Via`` and ``X-RateLimit-*`` headers discord.py needs in order to retry it.
        """
        self._failures.append(_Failure(method.upper(), path, status, times, retry_after, is_global))

    def _take_failure(self, method: str, path: str, route: str) -> web.Response | None:
        for failure in self._failures:
            if failure.method == method and failure.path in (path, route) and failure.remaining:
                failure.remaining -= 1
                break
        else:
            return None
        if failure.status != 429:
            return _error(failure.status, f"{failure.status}: Internal Server Error")
        body = {
            "message": "You are being rate limited.",
            "retry_after": failure.retry_after,
            "global": failure.is_global,
        }
        response = _json(body, 429)
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

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str, path: str) -> list[RecordedCall]:
        """Recorded calls matching ``method`` and a route template or concrete path."""
        return [c for c in self.calls if c.method == method.upper() and path in (c.path, c.route)]

    def sent_messages(self, channel_id: int | None = None) -> list[Json]:
        """Messages the bot created with POST /channels/{id}/messages (current state, edits
        included), optionally only those in ``channel_id``. Deduplicated nonces add nothing."""
        messages = [self._messages[mid] for mid in self._sent if mid in self._messages]
        if channel_id is None:
            return messages
        return [m for m in messages if m["channel_id"] == str(channel_id)]

    def message(self, message_id: int | str) -> Json:
        """Any stored message by id (user messages, bot messages, interaction responses)."""
        return self._messages[int(message_id)]

    @property
    def intents(self) -> int | None:
        """The intents of the last IDENTIFY, if any."""
        return self.identifies[-1].get("intents") if self.identifies else None

    @property
    def connected(self) -> bool:
        """Whether a client holds a live (identified or resumed) gateway connection."""
        return self._live is not None

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value (no fixed sleeps).

        Re-checked on every change the fake sees and every 20 ms, so predicates on test-side
        state work too. Raises ``TimeoutError`` with the predicate's name on timeout.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while not (result := predicate()):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                name = getattr(predicate, "__qualname__", repr(predicate))
                raise TimeoutError(f"condition not met within {timeout}s: {name}")
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.02))
        return result

    def _touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ payload builders

    def _member_payload(self, user: FakeUser) -> Json:
        return {
            "user": user.payload(),
            "roles": [],
            "joined_at": self._joined_at,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }

    def _channel_payload(self, channel: FakeChannel) -> Json:
        base: Json = {"id": str(channel.id), "type": channel.type, "flags": 0}
        base["last_message_id"] = None
        if channel.type == DM_CHANNEL:
            assert channel.recipient is not None
            return base | {"recipients": [channel.recipient.payload()]}
        base |= {
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "rate_limit_per_user": 0,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
        }
        if channel.type == PUBLIC_THREAD:
            return base | {
                "owner_id": str(self.user.id),
                "message_count": 0,
                "member_count": 2,
                "total_message_sent": 0,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": self._joined_at,
                    "locked": False,
                },
            }
        position = [c.id for c in self.guild.channels].index(channel.id)
        return base | {
            "position": position,
            "topic": None,
            "nsfw": False,
            "permission_overwrites": [],
        }

    def _guild_payload(self, guild: FakeGuild, intents: int) -> Json:
        members = guild.members if intents & GUILD_MEMBERS else [self.bot]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "owner_id": str(self.user.id),
            "unavailable": False,
            "large": False,
            "member_count": len(guild.members),
            "joined_at": self._joined_at,
            "roles": [
                {
                    "id": str(guild.id),
                    "name": "@everyone",
                    "permissions": str(_EVERYONE_PERMISSIONS),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "members": [self._member_payload(u) for u in members],
            "channels": [
                self._channel_payload(c) for c in guild.channels if c.type != PUBLIC_THREAD
            ],
            "threads": [
                self._channel_payload(c) for c in guild.channels if c.type == PUBLIC_THREAD
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "afk_timeout": 300,
            "system_channel_id": str(self.text_channel.id),
        }

    def _application_flags(self) -> int:
        allowed = PRIVILEGED_INTENTS if self.allowed_intents is None else self.allowed_intents
        return sum(flag for intent, flag in _APP_FLAG.items() if allowed & intent)

    def _mentions(self, content: str, reply_to: Json | None, reply_ping: bool) -> list[Json]:
        ids = [int(m) for m in _MENTION.findall(content)]
        if reply_to is not None and reply_ping:
            ids.append(int(reply_to["author"]["id"]))
        known = dict.fromkeys(i for i in ids if i in self._users)
        return [self._users[i].payload() for i in known]

    def _create_message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        content: str,
        attachments: Sequence[Json] = (),
        reply_to: Json | None = None,
        reply_ping: bool = True,
        **extra: Any,
    ) -> Json:
        """Build and store a message (the REST shape: no guild_id/member)."""
        message: Json = {
            "id": str(self._ids.next()),
            "type": _REPLY if reply_to is not None else _DEFAULT,
            "channel_id": str(channel.id),
            "author": author.payload(),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": self._mentions(content, reply_to, reply_ping),
            "mention_roles": [],
            "attachments": list(attachments),
            "embeds": [],
            "components": [],
            "pinned": False,
            "flags": 0,
        }
        if reply_to is not None:
            message["message_reference"] = {
                "type": 0,
                "message_id": reply_to["id"],
                "channel_id": reply_to["channel_id"],
            }
            if channel.guild_id is not None:
                message["message_reference"]["guild_id"] = str(channel.guild_id)
            referenced = dict(reply_to)
            referenced.pop("referenced_message", None)
            message["referenced_message"] = referenced
        message.update(extra)
        self._messages[int(message["id"])] = message
        return message

    def _gateway_message(self, message: Json) -> Json:
        """The gateway shape of a stored message: guild_id and member objects added."""
        channel = self._channels.get(int(message["channel_id"]))
        if channel is None or channel.guild_id is None:
            return message
        member = self._member_payload(self._users[int(message["author"]["id"])])
        del member["user"]
        mentions = []
        for mentioned in message["mentions"]:
            extra = self._member_payload(self._users[int(mentioned["id"])])
            del extra["user"]
            mentions.append(mentioned | {"member": extra})
        return message | {"guild_id": str(channel.guild_id), "member": member, "mentions": mentions}

    def _find_command(self, name: str, guild_id: int | None) -> Json:
        for key in (guild_id, None) if guild_id is not None else (None,):
            for command in self.commands.get(key, []):
                if command["name"] == name:
                    return command
        raise LookupError(f"/{name} was never synced (PUT .../commands) for this guild or globally")

    # ------------------------------------------------------------------ HTTP plumbing

    def _routes(self) -> list[tuple[str, str, Callable[[web.Request], Any]]]:
        return [
            ("GET", "/users/@me", self._get_me),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("POST", "/users/@me/channels", self._open_dm),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("POST", "/channels/{channel_id}/messages", self._post_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._patch_message),
            ("POST", "/channels/{channel_id}/typing", self._typing),
            ("GET", "/applications/{application_id}/commands", self._get_commands),
            ("PUT", "/applications/{application_id}/commands", self._put_commands),
            ("GET", _GUILD_COMMANDS, self._get_commands),
            ("PUT", _GUILD_COMMANDS, self._put_commands),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback),
            ("POST", "/webhooks/{application_id}/{token}", self._followup),
            ("GET", _WEBHOOK_MESSAGE, self._webhook_message),
            ("PATCH", _WEBHOOK_MESSAGE, self._webhook_message),
            ("DELETE", _WEBHOOK_MESSAGE, self._webhook_message),
        ]

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path.startswith("/gateway"):
            return await handler(request)
        path = request.path.removeprefix(API_PREFIX)
        resource = request.match_info.route.resource
        route = path  # unknown routes (the catch-all) are recorded under their concrete path
        if resource is not None and "tail" not in request.match_info:
            route = resource.canonical.removeprefix(API_PREFIX)
        try:
            payload, files = await self._read_body(request)
        except ValueError:
            payload, files = None, []
            response = _error(400, "The request body contains invalid JSON.", 50109)
        else:
            response = self._take_failure(request.method, path, route)
        request[_PAYLOAD], request[_FILES] = payload, files
        if response is None and self._needs_auth(request, route):
            response = _error(401, "401: Unauthorized")
        if response is None:
            response = await handler(request)
        self.calls.append(
            RecordedCall(
                request.method,
                path,
                route,
                dict(request.query),
                payload,
                tuple(name for name, _, _ in files),
                response.status,
                time.monotonic(),
            )
        )
        self._touch()
        return response

    def _needs_auth(self, request: web.Request, route: str) -> bool:
        if not request.path.startswith(API_PREFIX) or route.startswith(
            ("/webhooks", "/interactions")
        ):
            return False
        return request.headers.get("Authorization") != f"Bot {self.token}"

    async def _read_body(self, request: web.Request) -> tuple[Any, _Files]:
        if not request.can_read_body:
            return None, []
        if request.content_type != "multipart/form-data":
            raw = await request.read()
            return (json.loads(raw) if raw else None), []
        payload: Any = None
        files: _Files = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            data = await part.read()  # type: ignore[union-attr]
            if part.filename:
                ctype = part.headers.get("Content-Type", "application/octet-stream")
                files.append((part.filename, bytes(data), ctype))
            elif part.name == "payload_json":
                payload = json.loads(data)
        return payload, files

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error(404, "404: Not Found")

    async def _cdn(self, request: web.Request) -> web.Response:
        found = self._files.get(int(request.match_info["attachment_id"]))
        if found is None:
            return web.Response(status=404, text="Not Found")
        data, ctype = found
        return web.Response(body=data, headers={"Content-Type": ctype})

    # ------------------------------------------------------------------ REST handlers

    async def _get_me(self, request: web.Request) -> web.Response:
        me = self.bot.payload() | {"verified": True, "mfa_enabled": False, "flags": 0}
        return _json(me)

    async def _get_application(self, request: web.Request) -> web.Response:
        owner = self.user.payload()
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot.username,
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": owner,
                "verify_key": secrets.token_hex(32),
                "flags": self._application_flags(),
                "bot": self.bot.payload(),
                "team": None,
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
            }
        )

    async def _open_dm(self, request: web.Request) -> web.Response:
        user = self._users.get(int(request[_PAYLOAD]["recipient_id"]))
        if user is None:
            return _error(404, "Unknown User", 10013)
        return _json(self._channel_payload(self.dm_channel(user)))

    def _channel(self, request: web.Request) -> FakeChannel | None:
        return self._channels.get(int(request.match_info["channel_id"]))

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _error(404, "Unknown Channel", 10003)
        return _json(self._channel_payload(channel))

    async def _typing(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _error(404, "Unknown Channel", 10003)
        self.typing_calls.append(channel.id)
        return web.Response(status=204)

    async def _post_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _error(404, "Unknown Channel", 10003)
        body: Json = request[_PAYLOAD] or {}
        files: _Files = request[_FILES]
        content = body.get("content") or ""
        if len(content) > 2000:
            return _form_error(
                "content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."
            )
        if not (content or body.get("embeds") or files or body.get("sticker_ids")):
            return _error(400, "Cannot send an empty message", 50006)
        nonce = body.get("nonce")
        key = (self.bot.id, str(nonce))
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get(key)
            if seen and time.monotonic() - seen[0] < self.nonce_window:
                return _json(self._messages[seen[1]])
        reply_to = None
        reference = body.get("message_reference")
        if reference and reference.get("message_id"):
            reply_to = self._messages.get(int(reference["message_id"]))
            if reply_to is None and reference.get("fail_if_not_exists", True):
                return _form_error(
                    "message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message"
                )
        replied_ping = (body.get("allowed_mentions") or {}).get("replied_user", True)
        attachments = [self.add_attachment(name, data, ctype) for name, data, ctype in files]
        message = self._create_message(
            channel,
            self.bot,
            content,
            attachments,
            reply_to,
            replied_ping,
            embeds=body.get("embeds") or [],
            flags=body.get("flags") or 0,
        )
        if nonce is not None:
            message["nonce"] = nonce
            self._nonces[key] = (time.monotonic(), int(message["id"]))
        self._sent.append(int(message["id"]))
        await self._echo("MESSAGE_CREATE", message)
        return _json(message)

    async def _get_message(self, request: web.Request) -> web.Response:
        message = self._messages.get(int(request.match_info["message_id"]))
        if message is None or message["channel_id"] != request.match_info["channel_id"]:
            return _error(404, "Unknown Message", 10008)
        return _json(message)

    async def _patch_message(self, request: web.Request) -> web.Response:
        message = self._messages.get(int(request.match_info["message_id"]))
        if message is None or message["channel_id"] != request.match_info["channel_id"]:
            return _error(404, "Unknown Message", 10008)
        if message["author"]["id"] != str(self.bot.id):
            return _error(403, "Cannot edit a message authored by another user", 50005)
        await self._edit(message, request[_PAYLOAD] or {})
        return _json(message)

    async def _edit(self, message: Json, body: Json) -> None:
        for key in ("content", "embeds", "flags", "components"):
            if key in body and body[key] is not None:
                message[key] = body[key]
        message["edited_timestamp"] = _now_iso()
        await self._echo("MESSAGE_UPDATE", message)

    async def _echo(self, event: str, message: Json) -> None:
        """Send the bot's own message back over the gateway, as Discord does (not ephemerals)."""
        if self.echo_own_messages and self._session and not message["flags"] & _EPHEMERAL:
            await self.dispatch(event, self._gateway_message(message))

    def _guild_key(self, request: web.Request) -> int | None:
        guild_id = request.match_info.get("guild_id")
        return int(guild_id) if guild_id else None

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self.commands.get(self._guild_key(request), []))

    async def _put_commands(self, request: web.Request) -> web.Response:
        if request.match_info["application_id"] != str(self.application_id):
            return _error(403, "Missing Access", 50001)
        guild_id = self._guild_key(request)
        old = {c["name"]: c["id"] for c in self.commands.get(guild_id, [])}
        synced = []
        for command in request[_PAYLOAD] or []:
            entry = {"type": 1, "options": [], "nsfw": False} | command
            entry |= {
                "id": old.get(command["name"]) or str(self._ids.next()),
                "application_id": str(self.application_id),
                "version": str(self._ids.next()),
                "default_member_permissions": command.get("default_member_permissions"),
            }
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            synced.append(entry)
        self.commands[guild_id] = synced
        return _json(synced)

    async def _callback(self, request: web.Request) -> web.Response:
        found = self._interactions.get(int(request.match_info["interaction_id"]))
        if found is None or found["payload"]["token"] != request.match_info["token"]:
            return _error(404, "Unknown interaction", 10062)
        if found["responded"]:
            return _error(400, "Interaction has already been acknowledged.", 40060)
        found["responded"] = True
        interaction = found["payload"]
        body: Json = request[_PAYLOAD] or {}
        kind, data = body.get("type"), body.get("data") or {}
        message = None
        if kind in (4, 5):  # CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            flags = (data.get("flags") or 0) | (_LOADING if kind == 5 else 0)
            message = await self._interaction_message(interaction, data, flags)
            self._original[interaction["token"]] = int(message["id"])
        self.interaction_responses.append(
            {"interaction_id": int(interaction["id"]), "token": interaction["token"]}
            | {"type": kind, "data": data, "message_id": message and int(message["id"])}
        )
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        callback: Json = {
            "id": interaction["id"],
            "type": 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(message and message["flags"] & _EPHEMERAL),
        }
        resource: Json = {"type": kind}
        if message is not None:
            callback["response_message_id"] = message["id"]
            resource["message"] = message
        return _json({"interaction": callback, "resource": resource})

    async def _interaction_message(
        self, interaction: Json, data: Json, flags: int, attachments: Sequence[Json] = ()
    ) -> Json:
        user = interaction.get("user") or interaction["member"]["user"]
        message = self._create_message(
            self._channels[int(interaction["channel_id"])],
            self.bot,
            data.get("content") or "",
            attachments,
            type=_SLASH_COMMAND,
            flags=flags,
            embeds=data.get("embeds") or [],
            webhook_id=str(self.application_id),
            application_id=str(self.application_id),
            interaction_metadata={
                "id": interaction["id"],
                "type": 2,
                "user": user,
                "authorizing_integration_owners": interaction["authorizing_integration_owners"],
                "name": interaction["data"]["name"],
            },
        )
        await self._echo("MESSAGE_CREATE", message)
        return message

    def _interaction_by_token(self, request: web.Request) -> Json | None:
        if request.match_info["application_id"] != str(self.application_id):
            return None
        token = request.match_info["token"]
        for found in self._interactions.values():
            if found["payload"]["token"] == token:
                return found["payload"]
        return None

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request)
        if interaction is None:
            return _error(404, "Unknown Webhook", 10015)
        data: Json = request[_PAYLOAD] or {}
        files: _Files = request[_FILES]  # uploaded files become the message's attachments
        attachments = [self.add_attachment(name, blob, ctype) for name, blob, ctype in files]
        flags = data.get("flags") or 0
        message = await self._interaction_message(interaction, data, flags, attachments)
        self.followups.append(message)
        if request.query.get("wait") in ("1", "true", "True"):
            return _json(message)
        return web.Response(status=204)

    async def _webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request)
        if interaction is None:
            return _error(404, "Unknown Webhook", 10015)
        raw_id = request.match_info["message_id"]
        if raw_id == "@original":
            message_id = self._original.get(interaction["token"])
        else:
            message_id = int(raw_id)
        message = self._messages.get(message_id) if message_id is not None else None
        if message is None:
            return _error(404, "Unknown Message", 10008)
        if request.method == "DELETE":
            del self._messages[int(message["id"])]
            return web.Response(status=204)
        if request.method == "PATCH":
            message["flags"] &= ~_LOADING
            await self._edit(message, request[_PAYLOAD] or {})
        return _json(message)

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.gateway_urls.append(request.path_qs)
        compress = request.query.get("compress") == "zlib-stream"
        conn = _Connection(ws, request, zlib.compressobj() if compress else None)
        self._open.add(conn)
        self._touch()
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gw"]}
            await conn.send({"op": 10, "d": hello, "s": None, "t": None})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_payload(conn, json.loads(msg.data))
        finally:
            self._open.discard(conn)
            if self._live is conn:
                self._live = None
            self._touch()
        return ws

    async def _on_gateway_payload(self, conn: _Connection, payload: Json) -> None:
        self.gateway_received.append(payload)
        self._touch()
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

    async def _identify(self, conn: _Connection, data: Json) -> None:
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
        session = _Session(secrets.token_hex(16), intents, data.get("shard"))
        self._session, conn.session, self._live = session, session, conn
        ready: Json = {
            "v": 10,
            "user": self.bot.payload() | {"verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(self.guild.id), "unavailable": True}],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway-resume",
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "_trace": ["fake-gw"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self.dispatch("READY", ready)
        await self.dispatch("GUILD_CREATE", self._guild_payload(self.guild, intents))

    async def _resume(self, conn: _Connection, data: Json) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        session = self._session
        if session is None or data.get("session_id") != session.id:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        self.resumes.append(data)
        conn.session, self._live = session, conn
        last_seen = data.get("seq") or 0
        for seq, event, payload in list(session.log):
            if seq > last_seen:
                await self._deliver(conn, seq, event, payload)
        await self.dispatch("RESUMED", {"_trace": ["fake-gw"]})

    async def _members_chunk(self, data: Json) -> None:
        query = (data.get("query") or "").lower()
        wanted = {str(i) for i in data.get("user_ids") or []}
        members = [
            self._member_payload(u)
            for u in self.guild.members
            if (str(u.id) in wanted if wanted else u.username.lower().startswith(query))
        ]
        chunk = {
            "guild_id": str(self.guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    async def _deliver(self, conn: _Connection, seq: int, event: str, data: Json) -> None:
        """Send one dispatch, filtered by the session's intents like Discord does."""
        intents = conn.session.intents if conn.session else 0
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            in_guild = "guild_id" in data
            if not intents & (GUILD_MESSAGES if in_guild else DIRECT_MESSAGES):
                return
            exempt = data["author"]["id"] == str(self.bot.id) or any(
                m["id"] == str(self.bot.id) for m in data.get("mentions", [])
            )
            if in_guild and not intents & MESSAGE_CONTENT and not exempt:
                data = data | {"content": "", "embeds": [], "attachments": [], "components": []}
        await conn.send({"op": 0, "t": event, "s": seq, "d": data})
