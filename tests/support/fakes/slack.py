"""A protocol-level fake of Slack on 127.0.0.1: a TEST DOUBLE for driving the real slack-bolt/sdk.

One aiohttp server plays three parts:

* the Web API under ``/api/<method>`` (point ``AsyncWebClient(base_url=fake.api_url)`` at it),
  with private file downloads under ``/files-pri/`` and slash-command ``response_url`` endpoints;
* the Socket Mode websocket (``apps.connections.open`` hands out single-use ``ws://`` URLs);
* the Events API *sender*: signed HTTP POSTs of events, slash commands and interactions to an app.

Everything the fake sees is recorded for assertions; :meth:`FakeSlack.wait_for` waits for a
condition without sleeping. See ``SLACK_NOTES.md`` next to this file for usage and limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import mimetypes
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

T = TypeVar("T")
Json = dict[str, Any]
MethodHandler = Callable[[Json], Json]

#: Slack truncates message text above this many characters.
MAX_TEXT = 40_000
_JSON_FIELDS = ("blocks", "attachments", "metadata", "files")
_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    "<body><h1>Sign in to your workspace</h1></body></html>"
)


class _ApiError(Exception):
    """Raised by a method implementation to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class ApiCall:
    """One Web API request as the fake received it (injected failures included)."""

    method: str
    args: Json
    at: float  # time.monotonic() on arrival
    token: str | None
    http_method: str
    status: int = 200
    error: str | None = None  # None when the call succeeded
    retry_after: int | None = None  # the Retry-After header of an injected failure


@dataclass
class Message:
    """A message the bot posted with chat.postMessage (updated in place by chat.update)."""

    channel: str
    ts: str
    text: str
    thread_ts: str | None = None
    blocks: list[Json] | None = None
    user: str | None = None
    history: list[str] = field(default_factory=list)  # earlier texts, oldest first


@dataclass
class Envelope:
    """One Socket Mode delivery. A redelivery is a new envelope carrying the same payload."""

    envelope_id: str
    type: str
    payload: Json
    accepts_response_payload: bool
    retry_attempt: int = 0
    retry_reason: str = ""
    first_id: str = ""  # envelope_id of the first delivery of the same payload
    sent_at: float = 0.0

    def __post_init__(self) -> None:
        self.first_id = self.first_id or self.envelope_id

    @property
    def event(self) -> Json:
        """The inner Events API event (``payload["event"]``), or ``{}``."""
        return dict(self.payload.get("event") or {})

    @property
    def event_id(self) -> str | None:
        return self.payload.get("event_id")

    def to_wire(self) -> Json:
        wire: Json = {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
        }
        if self.type == "events_api":
            wire |= {"retry_attempt": self.retry_attempt, "retry_reason": self.retry_reason}
        return wire


@dataclass
class Ack:
    """A Socket Mode acknowledgement sent by the app."""

    envelope_id: str
    payload: Json | None
    at: float


@dataclass
class HttpResult:
    """What an app answered to a signed POST from :class:`FakeSlack`."""

    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Failure:
    status: int
    error: str
    retry_after: int | None
    remaining: int


@dataclass
class _File:
    info: Json
    content: bytes


@dataclass
class Upload:
    """A file the bot shared with files.upload v2 (getUploadURLExternal, the upload itself,
    completeUploadExternal)."""

    file_id: str
    filename: str
    title: str
    content: bytes
    channel: str | None
    thread_ts: str | None
    initial_comment: str | None


class FakeSlack:
    """A fake Slack workspace with one bot, served on a random port of 127.0.0.1.

    Use ``async with FakeSlack() as slack:``. ``redeliver_after`` (seconds) makes the fake
    redeliver an unacknowledged ``events_api`` envelope up to ``max_redeliveries`` times, as
    Slack does; by default nothing is redelivered unless :meth:`redeliver` is called.
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake-bot-token",
        app_token: str = "xapp-1-fake-app-token",
        signing_secret: str = "fake-signing-secret",
        team_id: str = "T0FAKE0001",
        bot_user_id: str = "U0BOT00001",
        bot_id: str = "B0BOT00001",
        app_id: str = "A0APP00001",
        user_id: str = "U0USER0001",
        redeliver_after: float | None = None,
        max_redeliveries: int = 3,
    ) -> None:
        self.bot_token, self.app_token, self.signing_secret = bot_token, app_token, signing_secret
        self.team_id, self.app_id = team_id, app_id
        self.bot_user_id, self.bot_id = bot_user_id, bot_id
        self.user_id = user_id  # the default human sender of events
        self.redeliver_after, self.max_redeliveries = redeliver_after, max_redeliveries
        self.port = 0
        self.connect_wait = 5.0  # how long an envelope waits for a Socket Mode connection

        self.calls: list[ApiCall] = []
        self.messages: list[Message] = []
        self.ephemerals: list[Json] = []
        self.reactions: list[Json] = []
        self.envelopes: list[Envelope] = []
        self.acks: list[Ack] = []
        self.responses: list[Json] = []  # bodies POSTed to response_url endpoints
        self.downloads: list[tuple[str, bool]] = []  # (file id, authorized)
        # File id -> an HTML page served in place of the file even with a good token (what
        # Slack does when the app lacks files:read, or for an error page).
        self.pages_instead: dict[str, str] = {}
        self.uploads: list[Upload] = []  # files shared by the bot (files.upload v2)
        self._pending_uploads: dict[str, tuple[str, bytes | None]] = {}  # id -> (name, bytes)
        self.connections_opened = 0

        self.users: dict[str, Json] = {}
        self.conversations: dict[str, Json] = {}
        self._files: dict[str, _File] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._overrides: dict[str, MethodHandler] = {}
        self._tickets: set[str] = set()
        self._sockets: list[tuple[web.WebSocketResponse, web.Request]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._seq = itertools.count(1)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

        self.add_user(bot_user_id, "pagemind", is_bot=True)
        self.add_user(user_id, "alice", real_name="Alice Example")
        self.add_channel("C0CHAN0001", "general")
        self.add_im("D0DM000001", user_id)

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """``base_url`` for ``AsyncWebClient``; it ends with ``/api/``."""
        return f"{self.base_url}/api/"

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link/", self._socket)
        app.router.add_get("/files-pri/{team_file}/{name}", self._download)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._download)
        app.router.add_post("/commands/{hook}", self._response_url)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ workspace data

    def add_user(
        self, user_id: str, name: str, *, real_name: str | None = None, is_bot: bool = False
    ) -> Json:
        """Register a user for users.info; returns the user object."""
        real = real_name or name
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "real_name": real,
            "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "is_bot": is_bot,
            "is_admin": False,
            "is_app_user": False,
            "updated": int(time.time()),
            "profile": {"real_name": real, "display_name": name, "team": self.team_id},
        }
        self.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False) -> Json:
        """Register a public or private channel for conversations.info."""
        conversation = {
            "id": channel_id,
            "name": name,
            "name_normalized": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "is_archived": False,
            "is_member": True,
            "created": int(time.time()),
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }
        self.conversations[channel_id] = conversation
        return conversation

    def add_im(self, channel_id: str, user_id: str) -> Json:
        """Register the direct-message conversation between the bot and ``user_id``."""
        conversation = {
            "id": channel_id,
            "created": int(time.time()),
            "is_im": True,
            "is_org_shared": False,
            "user": user_id,
            "is_user_deleted": False,
            "priority": 0,
        }
        self.conversations[channel_id] = conversation
        return conversation

    def add_file(
        self,
        file_id: str,
        content: bytes,
        *,
        name: str = "file.txt",
        mimetype: str = "text/plain",
        filetype: str = "text",
        user: str | None = None,
    ) -> Json:
        """Register downloadable bytes; returns the file object (as files.info shows it)."""
        base = f"{self.base_url}/files-pri/{self.team_id}-{file_id}"
        info = {
            "id": file_id,
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": user or self.user_id,
            "user_team": self.team_id,
            "mode": "hosted",
            "editable": False,
            "is_external": False,
            "is_public": False,
            "size": len(content),
            "url_private": f"{base}/{name}",
            "url_private_download": f"{base}/download/{name}",
            "permalink": f"https://fake.slack.com/files/{user or self.user_id}/{file_id}/{name}",
        }
        self._files[file_id] = _File(info, content)
        return dict(info)

    # --------------------------------------------------------- failure injection

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
        self._failures[method].append(_Failure(status, error, retry_after, times))

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Next calls answer HTTP 429, integer ``Retry-After``, ``"error": "ratelimited"``."""
        self.fail(method, times=times, status=429, error="ratelimited", retry_after=retry_after)

    def on(self, method: str, handler: MethodHandler) -> None:
        """Serve ``method`` with ``handler(args) -> response fields`` (``ok`` is added)."""
        self._overrides[method] = handler

    # ---------------------------------------------------------------- inspection

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def posted(self, channel: str | None = None) -> list[Message]:
        """Messages the bot posted (current text), optionally only in ``channel``."""
        return [m for m in self.messages if channel is None or m.channel == channel]

    def acked(self, envelope: Envelope | str) -> Ack | None:
        envelope_id = envelope if isinstance(envelope, str) else envelope.envelope_id
        return next((a for a in self.acks if a.envelope_id == envelope_id), None)

    @property
    def open_connections(self) -> int:
        return len(self._sockets)

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Return ``predicate()`` once it is truthy. It is re-checked whenever the fake records
        something, and every 20 ms (for state the fake cannot see, like a test's own list).
        Raises ``TimeoutError`` (listing the calls seen) after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := predicate()):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.02):
                            await self._changed.wait()
                return result
        except TimeoutError:
            seen = [f"{c.method}:{c.error or 'ok'}" for c in self.calls]
            raise TimeoutError(
                f"condition not met within {timeout}s; api calls: {seen}; "
                f"acks: {len(self.acks)}; open sockets: {self.open_connections}"
            ) from None

    async def wait_for_ack(
        self,
        envelope: Envelope | str,
        timeout: float = 5.0,
    ) -> Ack:
        ack = await self.wait_for(lambda: self.acked(envelope), timeout)
        assert ack is not None
        return ack

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------ payload builders

    def new_ts(self) -> str:
        """A unique, increasing Slack timestamp such as ``"1700000000.000042"``."""
        return f"{int(time.time())}.{next(self._seq):06d}"

    def message_event(
        self,
        text: str,
        *,
        channel: str = "C0CHAN0001",
        user: str | None = None,
        channel_type: str | None = None,
        thread_ts: str | None = None,
        files: list[str] | None = None,
        mention: bool = False,
    ) -> Json:
        """A ``message`` event. ``files`` are ids from :meth:`add_file` (subtype file_share);
        ``mention`` prefixes ``<@BOT>``; ``channel_type`` defaults from the id (D -> im)."""
        if channel not in self.conversations:
            self.add_channel(channel, channel.lower())
        ts = self.new_ts()
        event: Json = {
            "type": "message",
            "user": user or self.user_id,
            "text": f"<@{self.bot_user_id}> {text}" if mention else text,
            "ts": ts,
            "event_ts": ts,
            "team": self.team_id,
            "channel": channel,
            "channel_type": channel_type or _channel_type(channel),
            "client_msg_id": str(uuid.uuid4()),
        }
        if thread_ts is not None:
            event |= {"thread_ts": thread_ts, "parent_user_id": self.user_id}
        if files:
            event |= {
                "subtype": "file_share",
                "files": [dict(self._files[f].info) for f in files],
                "upload": False,
                "display_as_bot": False,
            }
        return event

    def message_changed_event(
        self,
        ts: str,
        new_text: str,
        *,
        old_text: str = "",
        channel: str = "C0CHAN0001",
        user: str | None = None,
    ) -> Json:
        """A ``message_changed`` event: message ``ts`` was edited to ``new_text``."""
        user = user or self.user_id
        now = self.new_ts()
        previous = {"type": "message", "user": user, "text": old_text, "ts": ts}
        return {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": channel,
            "channel_type": _channel_type(channel),
            "ts": now,
            "event_ts": now,
            "message": previous | {"text": new_text, "edited": {"user": user, "ts": now}},
            "previous_message": previous,
        }

    def app_mention_event(
        self,
        text: str,
        *,
        channel: str = "C0CHAN0001",
        user: str | None = None,
        thread_ts: str | None = None,
    ) -> Json:
        """An ``app_mention`` event; the text starts with ``<@BOT>``."""
        event = self.message_event(text, channel=channel, user=user, thread_ts=thread_ts)
        event["type"] = "app_mention"
        event["text"] = f"<@{self.bot_user_id}> {text}"
        del event["channel_type"]  # app_mention events carry no channel_type
        return event

    def event_callback(self, event: Json, *, event_id: str | None = None) -> Json:
        """Wrap ``event`` in the ``event_callback`` body that Events API requests carry."""
        return {
            "token": "fake-verification-token",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }

    def slash_command_payload(
        self,
        command: str,
        text: str = "",
        *,
        user: str | None = None,
        channel: str = "C0CHAN0001",
    ) -> dict[str, str]:
        """The form fields of a slash command; ``response_url`` points at the fake."""
        user = user or self.user_id
        return {
            "token": "fake-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": str(self.conversations.get(channel, {}).get("name", "directmessage")),
            "user_id": user,
            "user_name": str(self.users.get(user, {}).get("name", user)),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": f"{self.base_url}/commands/{uuid.uuid4().hex}",
            "trigger_id": f"{next(self._seq)}.{uuid.uuid4().hex[:12]}",
        }

    # --------------------------------------------------------------- Socket Mode

    async def send_envelope(
        self,
        type: str,
        payload: Json,
        *,
        accepts_response_payload: bool = False,
    ) -> Envelope:
        """Deliver one envelope (``events_api``, ``slash_commands``, ``interactive``) to the
        newest open connection, waiting up to ``connect_wait`` seconds for one to exist."""
        envelope = Envelope(str(uuid.uuid4()), type, payload, accepts_response_payload)
        await self._deliver(envelope)
        return envelope

    async def push_event(self, event: Json, *, event_id: str | None = None) -> Envelope:
        return await self.send_envelope("events_api", self.event_callback(event, event_id=event_id))

    async def push_dm(
        self,
        text: str,
        *,
        user: str | None = None,
        channel: str = "D0DM000001",
        thread_ts: str | None = None,
        files: list[str] | None = None,
    ) -> Envelope:
        """A direct message (``channel_type: im``) from ``user`` to the bot."""
        if channel not in self.conversations:
            self.add_im(channel, user or self.user_id)
        event = self.message_event(
            text, channel=channel, user=user, thread_ts=thread_ts, files=files, channel_type="im"
        )
        return await self.push_event(event)

    async def push_message(
        self,
        text: str,
        *,
        channel: str = "C0CHAN0001",
        user: str | None = None,
        mention: bool = False,
        thread_ts: str | None = None,
        files: list[str] | None = None,
    ) -> Envelope:
        """A channel message (``mention=True`` prefixes ``<@BOT>``). Real Slack would also send
        a separate ``app_mention`` event for a mention; push that with :meth:`push_app_mention`."""
        event = self.message_event(
            text, channel=channel, user=user, mention=mention, thread_ts=thread_ts, files=files
        )
        return await self.push_event(event)

    async def push_edit(
        self, ts: str, new_text: str, *, old_text: str = "", channel: str = "C0CHAN0001"
    ) -> Envelope:
        return await self.push_event(
            self.message_changed_event(ts, new_text, old_text=old_text, channel=channel)
        )

    async def push_app_mention(
        self, text: str, *, channel: str = "C0CHAN0001", thread_ts: str | None = None
    ) -> Envelope:
        return await self.push_event(
            self.app_mention_event(text, channel=channel, thread_ts=thread_ts)
        )

    async def push_slash_command(
        self, command: str, text: str = "", *, user: str | None = None, channel: str = "C0CHAN0001"
    ) -> Envelope:
        payload = self.slash_command_payload(command, text, user=user, channel=channel)
        return await self.send_envelope("slash_commands", payload, accepts_response_payload=True)

    async def redeliver(self, envelope: Envelope, *, reason: str = "timeout") -> Envelope:
        """Send ``envelope``'s payload again in a new envelope (new ``envelope_id``, same
        ``event_id``) whose ``retry_attempt`` counts the earlier deliveries."""
        attempts = sum(1 for e in self.envelopes if e.first_id == envelope.first_id)
        again = Envelope(
            str(uuid.uuid4()),
            envelope.type,
            envelope.payload,
            envelope.accepts_response_payload,
            retry_attempt=attempts,
            retry_reason=reason,
            first_id=envelope.first_id,
        )
        await self._deliver(again)
        return again

    async def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message (the SDK then reconnects by itself)."""
        for ws, _ in list(self._sockets):
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {}})

    async def drop_connections(self, *, abrupt: bool = False) -> None:
        """Close every Socket Mode connection: with a close frame, or (``abrupt``) by
        aborting the TCP connection so the client only notices on its next ping."""
        sockets, self._sockets = self._sockets, []
        self._notify()
        for ws, request in sockets:
            if abrupt and request.transport is not None:
                request.transport.abort()
            else:
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"fake drop")

    async def _deliver(self, envelope: Envelope) -> None:
        await self.wait_for(lambda: self._sockets, self.connect_wait)
        ws = self._sockets[-1][0]
        envelope.sent_at = time.monotonic()
        self.envelopes.append(envelope)
        await ws.send_json(envelope.to_wire())
        self._notify()
        if (
            self.redeliver_after is not None
            and envelope.type == "events_api"
            and envelope.retry_attempt < self.max_redeliveries
        ):
            self._spawn(self._redeliver_if_unacked(envelope, self.redeliver_after))

    async def _redeliver_if_unacked(self, envelope: Envelope, after: float) -> None:
        await asyncio.sleep(after)
        ids = {e.envelope_id for e in self.envelopes if e.first_id == envelope.first_id}
        if not any(a.envelope_id in ids for a in self.acks):
            await self.redeliver(envelope)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or reused ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(timeout=2.0)
        await ws.prepare(request)
        self._sockets.append((ws, request))
        self.connections_opened += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        self._notify()
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        self.acks.append(
                            Ack(data["envelope_id"], data.get("payload"), time.monotonic())
                        )
                        self._notify()
        finally:
            self._sockets = [s for s in self._sockets if s[0] is not ws]
            self._notify()
        return ws

    # ------------------------------------------------------------ HTTP sender

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
        """POST an Events API body (a dict, or exact bytes) to an app, signed like Slack.
        ``retry_num`` adds ``X-Slack-Retry-Num``/``-Reason``; ``stale`` sends a timestamp
        10 minutes old; ``bad_signature`` corrupts the signature. ``session`` reuses the
        caller's connection pool (load tests); by default each POST opens its own."""
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
        """POST a slash command (form-encoded, signed); see :meth:`slash_command_payload`."""
        body = urlencode(dict(form_fields)).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self._post_signed(url, body, headers, stale, bad_signature)

    async def post_interactive(self, url: str, payload: Json) -> HttpResult:
        """POST an interaction (``payload=<json>``, form-encoded, signed)."""
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

    # --------------------------------------------------------------- Web API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: Json = dict(request.query)
        form: Json = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                args |= await request.json()
            else:
                form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        # Slack takes the token from the Authorization header or, in form posts, a field.
        token = _bearer(request) or form.pop("token", None)
        args |= form
        for key in _JSON_FIELDS:
            if isinstance(args.get(key), str) and args[key][:1] in "[{":
                args[key] = json.loads(args[key])
        call = ApiCall(method, args, time.monotonic(), token, request.method)
        self.calls.append(call)
        try:
            return self._answer(call)
        finally:
            self._notify()

    def _answer(self, call: ApiCall) -> web.Response:
        failures = self._failures.get(call.method)
        if failures:
            failure = failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                failures.popleft()
            call.status, call.error = failure.status, failure.error
            call.retry_after = failure.retry_after
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            body = {"ok": False, "error": failure.error}
            return web.json_response(body, status=failure.status, headers=headers)
        try:
            self._check_token(call)
            if call.method in self._overrides:
                result = self._overrides[call.method](call.args)
            elif (impl := self._methods.get(call.method)) is not None:
                result = impl(self, call)
            else:
                raise _ApiError("unknown_method")
        except _ApiError as e:
            call.error = e.error
            extra = {"req_method": call.method} if e.error == "unknown_method" else {}
            return web.json_response({"ok": False, "error": e.error, **extra})
        return web.json_response({"ok": True, **result})

    def _check_token(self, call: ApiCall) -> None:
        if not call.token:
            raise _ApiError("not_authed")
        wanted = self.app_token if call.method == "apps.connections.open" else self.bot_token
        if call.token in (self.app_token, self.bot_token) and call.token != wanted:
            raise _ApiError("not_allowed_token_type")
        if call.token != wanted:
            raise _ApiError("invalid_auth")

    def _auth_test(self, call: ApiCall) -> Json:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake Team",
            "user": self.users[self.bot_user_id]["name"],
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _channel(self, call: ApiCall) -> str:
        channel = str(call.args.get("channel", ""))
        if channel in self.users:  # posting to a user id lands in the DM with them
            dm = next((c for c, v in self.conversations.items() if v.get("user") == channel), None)
            channel = dm or self.add_im(f"D{channel[1:]}", channel)["id"]
        if channel not in self.conversations:
            raise _ApiError("channel_not_found")
        return channel

    def _post_message(self, call: ApiCall) -> Json:
        channel = self._channel(call)
        text = str(call.args.get("text") or call.args.get("markdown_text") or "")
        blocks = call.args.get("blocks")
        if not text and not blocks and not call.args.get("attachments"):
            raise _ApiError("no_text")
        thread_ts = call.args.get("thread_ts") or None
        message = Message(channel, self.new_ts(), text[:MAX_TEXT], thread_ts, blocks)
        message.user = self.bot_user_id
        self.messages.append(message)
        return {"channel": channel, "ts": message.ts, "message": self._message_json(message)}

    def _update(self, call: ApiCall) -> Json:
        channel = self._channel(call)
        ts = call.args.get("ts")
        message = next((m for m in self.messages if m.channel == channel and m.ts == ts), None)
        if message is None:
            raise _ApiError("message_not_found")
        message.history.append(message.text)
        message.text = str(call.args.get("text") or "")[:MAX_TEXT]
        message.blocks = call.args.get("blocks", message.blocks)
        return {"channel": channel, "ts": ts, "text": message.text}

    def _post_ephemeral(self, call: ApiCall) -> Json:
        channel = self._channel(call)
        if call.args.get("user") not in self.users:
            raise _ApiError("user_not_in_channel")
        ts = self.new_ts()
        self.ephemerals.append({"channel": channel, "message_ts": ts, **call.args})
        return {"message_ts": ts}

    def _users_info(self, call: ApiCall) -> Json:
        user = self.users.get(str(call.args.get("user")))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": user}

    def _conversations_info(self, call: ApiCall) -> Json:
        conversation = self.conversations.get(str(call.args.get("channel")))
        if conversation is None:
            raise _ApiError("channel_not_found")
        return {"channel": conversation}

    def _files_info(self, call: ApiCall) -> Json:
        stored = self._files.get(str(call.args.get("file")))
        if stored is None:
            raise _ApiError("file_not_found")
        return {"file": stored.info, "comments": [], "response_metadata": {"next_cursor": ""}}

    def _reactions_add(self, call: ApiCall) -> Json:
        reaction = {k: call.args.get(k) for k in ("channel", "timestamp", "name")}
        if not reaction["name"]:
            raise _ApiError("invalid_name")
        if reaction in self.reactions:
            raise _ApiError("already_reacted")
        self.reactions.append(reaction)
        return {}

    def _reactions_remove(self, call: ApiCall) -> Json:
        reaction = {k: call.args.get(k) for k in ("channel", "timestamp", "name")}
        if reaction not in self.reactions:
            raise _ApiError("no_reaction")
        self.reactions.remove(reaction)
        return {}

    def _get_upload_url(self, call: ApiCall) -> Json:
        filename, length = call.args.get("filename"), call.args.get("length")
        if not filename or not str(length or "").isdigit():
            raise _ApiError("invalid_arguments")
        file_id = f"F0UP{next(self._seq):06d}"
        self._pending_uploads[file_id] = (str(filename), None)
        return {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _complete_upload(self, call: ApiCall) -> Json:
        files = call.args.get("files")
        if not isinstance(files, list) or not files:
            raise _ApiError("invalid_arguments")
        # Shared to ``channel_id`` (the fake ignores ``channels``), or kept private.
        channel = str(call.args.get("channel_id") or "") or None
        if channel is not None and channel not in self.conversations:
            raise _ApiError("channel_not_found")
        shared = []
        for entry in files:
            name, content = self._pending_uploads.get(str(entry.get("id")), ("", None))
            if content is None:
                raise _ApiError("file_not_found")  # never uploaded, or already completed
            del self._pending_uploads[str(entry["id"])]
            title = str(entry.get("title") or name)
            mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self.add_file(entry["id"], content, name=name, mimetype=mimetype, user=self.bot_user_id)
            self._files[entry["id"]].info["title"] = title
            self.uploads.append(
                Upload(
                    entry["id"],
                    name,
                    title,
                    content,
                    channel,
                    call.args.get("thread_ts") or None,
                    call.args.get("initial_comment") or None,
                )
            )
            shared.append(dict(self._files[entry["id"]].info))
        return {"files": shared}

    def _connections_open(self, call: ApiCall) -> Json:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"}

    _methods: ClassVar[dict[str, Callable[[FakeSlack, ApiCall], Json]]] = {
        "auth.test": _auth_test,
        "chat.postMessage": _post_message,
        "chat.update": _update,
        "chat.postEphemeral": _post_ephemeral,
        "users.info": _users_info,
        "conversations.info": _conversations_info,
        "files.info": _files_info,
        "reactions.add": _reactions_add,
        "reactions.remove": _reactions_remove,
        "files.getUploadURLExternal": _get_upload_url,
        "files.completeUploadExternal": _complete_upload,
        "apps.connections.open": _connections_open,
    }

    def _message_json(self, message: Message) -> Json:
        body: Json = {
            "type": "message",
            "user": message.user,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": message.text,
            "ts": message.ts,
            "team": self.team_id,
        }
        if message.thread_ts:
            body["thread_ts"] = message.thread_ts
        if message.blocks is not None:
            body["blocks"] = message.blocks
        return body

    # ------------------------------------------------------ files and response_url

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["team_file"].removeprefix(f"{self.team_id}-")
        stored = self._files.get(file_id)
        authorized = _bearer(request) == self.bot_token
        self.downloads.append((file_id, authorized))
        self._notify()
        if not authorized:  # real Slack answers a sign-in page, still with status 200
            return web.Response(text=_LOGIN_PAGE, content_type="text/html")
        if file_id in self.pages_instead:
            return web.Response(text=self.pages_instead[file_id], content_type="text/html")
        if stored is None:
            return web.Response(status=404, text="file not found")
        return web.Response(body=stored.content, content_type=stored.info["mimetype"])

    async def _upload(self, request: web.Request) -> web.Response:
        """The second step of files.upload v2: the raw bytes, POSTed to the issued URL."""
        file_id = request.match_info["file_id"]
        if file_id not in self._pending_uploads:
            return web.Response(status=404, text="unknown upload")
        name, _ = self._pending_uploads[file_id]
        content = await request.read()
        self._pending_uploads[file_id] = (name, content)
        self._notify()
        return web.Response(text=f"OK - {len(content)}")

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses.append({"hook": request.match_info["hook"], **body})
        self._notify()
        return web.Response(text="ok")


def _channel_type(channel: str) -> str:
    return {"D": "im", "G": "group"}.get(channel[:1], "channel")


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return None
    return auth.removeprefix("Bearer ").strip() or None
