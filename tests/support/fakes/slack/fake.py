"""``FakeSlack``: the server, what a test does to it, and what it asks of it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Mapping
from typing import TypeVar

import aiohttp
from aiohttp import web

from tests.support.fakes.slack import payloads
from tests.support.fakes.slack.events_api import EventsSender, HttpResult
from tests.support.fakes.slack.faults import Faults, MethodHandler
from tests.support.fakes.slack.payloads import Identity, Json
from tests.support.fakes.slack.routes import WebApi
from tests.support.fakes.slack.socket_mode import SocketMode
from tests.support.fakes.slack.state import Ack, ApiCall, Envelope, Message, Upload, Workspace

T = TypeVar("T")


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
        self.identity = Identity(team_id, app_id, bot_user_id, bot_id, user_id)
        self.state = Workspace(self.identity)
        self.faults = Faults()
        self.api = WebApi(self.state, self.faults, bot_token=bot_token, app_token=app_token)
        self.socket_mode = SocketMode(
            self.state,
            self.api.tickets,
            self.wait_for,
            redeliver_after=redeliver_after,
            max_redeliveries=max_redeliveries,
        )
        self.sender = EventsSender(signing_secret)
        self._runner: web.AppRunner | None = None

        # What the fake recorded (the workspace's own lists and dicts, never replaced).
        self.calls: list[ApiCall] = self.state.calls
        self.messages: list[Message] = self.state.messages
        self.ephemerals: list[Json] = self.state.ephemerals
        self.reactions: list[Json] = self.state.reactions
        self.envelopes: list[Envelope] = self.state.envelopes
        self.acks: list[Ack] = self.state.acks
        self.responses: list[Json] = self.state.responses  # bodies POSTed to response_url
        self.downloads: list[tuple[str, bool]] = self.state.downloads  # (file id, authorized)
        self.uploads: list[Upload] = self.state.uploads  # files shared by the bot
        self.users: dict[str, Json] = self.state.users
        self.conversations: dict[str, Json] = self.state.conversations
        # File id -> an HTML page served in place of the file even with a good token (what
        # Slack does when the app lacks files:read, or for an error page).
        self.pages_instead: dict[str, str] = self.state.pages_instead

        self.add_user(bot_user_id, "pagemind", is_bot=True)
        self.add_user(user_id, "alice", real_name="Alice Example")
        self.add_channel("C0CHAN0001", "general")
        self.add_im("D0DM000001", user_id)

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        return self.state.port

    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def api_url(self) -> str:
        """``base_url`` for ``AsyncWebClient``; it ends with ``/api/``."""
        return f"{self.base_url}/api/"

    @property
    def connect_wait(self) -> float:
        """How long an envelope waits for a Socket Mode connection."""
        return self.socket_mode.connect_wait

    @connect_wait.setter
    def connect_wait(self, seconds: float) -> None:
        self.socket_mode.connect_wait = seconds

    async def start(self) -> FakeSlack:
        app = web.Application()
        self.api.add_routes(app)
        self.socket_mode.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.state.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        await self.socket_mode.close()
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
        return self.state.add_user(user_id, name, real_name=real_name, is_bot=is_bot)

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False) -> Json:
        """Register a public or private channel for conversations.info."""
        return self.state.add_channel(channel_id, name, is_private=is_private)

    def add_im(self, channel_id: str, user_id: str) -> Json:
        """Register the direct-message conversation between the bot and ``user_id``."""
        return self.state.add_im(channel_id, user_id)

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
        return self.state.add_file(
            file_id, content, name=name, mimetype=mimetype, filetype=filetype, user=user
        )

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
        self.faults.fail(method, times=times, status=status, error=error, retry_after=retry_after)

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Next calls answer HTTP 429, integer ``Retry-After``, ``"error": "ratelimited"``."""
        self.faults.rate_limit(method, times=times, retry_after=retry_after)

    def on(self, method: str, handler: MethodHandler) -> None:
        """Serve ``method`` with ``handler(args) -> response fields`` (``ok`` is added)."""
        self.faults.on(method, handler)

    # ---------------------------------------------------------------- inspection

    @property
    def connections_opened(self) -> int:
        return self.socket_mode.connections_opened

    @property
    def open_connections(self) -> int:
        return len(self.socket_mode.sockets)

    def calls_to(self, method: str) -> list[ApiCall]:
        return self.state.calls_to(method)

    def posted(self, channel: str | None = None) -> list[Message]:
        """Messages the bot posted (current text), optionally only in ``channel``."""
        return self.state.posted(channel)

    def acked(self, envelope: Envelope | str) -> Ack | None:
        return self.state.acked(envelope)

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Return ``predicate()`` once it is truthy. It is re-checked whenever the fake records
        something, and every 20 ms (for state the fake cannot see, like a test's own list).
        Raises ``TimeoutError`` (listing the calls seen) after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := predicate()):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.02):
                            await self.state.changed.wait()
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

    # ------------------------------------------------------------ payload builders

    def new_ts(self) -> str:
        """A unique, increasing Slack timestamp such as ``"1700000000.000042"``."""
        return self.state.new_ts()

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
        if channel not in self.state.conversations:
            self.add_channel(channel, channel.lower())
        return payloads.message_event(
            self.identity,
            text,
            ts=self.new_ts(),
            channel=channel,
            user=user,
            channel_type_=channel_type,
            thread_ts=thread_ts,
            files=[dict(self.state.files[f].info) for f in files or ()],
            mention=mention,
        )

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
        return payloads.message_changed_event(
            ts,
            new_text,
            now=self.new_ts(),
            old_text=old_text,
            channel=channel,
            user=user or self.user_id,
        )

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
        return payloads.event_callback(self.identity, event, event_id=event_id)

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
        conversation = self.state.conversations.get(channel, {})
        return payloads.slash_command(
            self.identity,
            command,
            text,
            user=user,
            user_name=str(self.state.users.get(user, {}).get("name", user)),
            channel=channel,
            channel_name=str(conversation.get("name", "directmessage")),
            response_url=f"{self.base_url}/commands/{uuid.uuid4().hex}",
            trigger=self.state.next_number(),
        )

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
        return await self.socket_mode.send(
            type, payload, accepts_response_payload=accepts_response_payload
        )

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
        if channel not in self.state.conversations:
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
        return await self.socket_mode.redeliver(envelope, reason=reason)

    async def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message (the SDK then reconnects by itself)."""
        await self.socket_mode.send_disconnect(reason)

    async def drop_connections(self, *, abrupt: bool = False) -> None:
        """Close every Socket Mode connection: with a close frame, or (``abrupt``) by
        aborting the TCP connection so the client only notices on its next ping."""
        await self.socket_mode.drop_connections(abrupt=abrupt)

    # ------------------------------------------------------------ HTTP sender

    def sign(self, timestamp: int, body: bytes) -> str:
        """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret."""
        return self.sender.sign(timestamp, body)

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
        return await self.sender.post_event(
            url,
            payload,
            retry_num=retry_num,
            retry_reason=retry_reason,
            stale=stale,
            bad_signature=bad_signature,
            session=session,
        )

    async def post_command(
        self,
        url: str,
        form_fields: Mapping[str, str],
        *,
        stale: bool = False,
        bad_signature: bool = False,
    ) -> HttpResult:
        """POST a slash command (form-encoded, signed); see :meth:`slash_command_payload`."""
        return await self.sender.post_command(
            url, form_fields, stale=stale, bad_signature=bad_signature
        )

    async def post_interactive(self, url: str, payload: Json) -> HttpResult:
        """POST an interaction (``payload=<json>``, form-encoded, signed)."""
        return await self.sender.post_interactive(url, payload)
