"""``FakeDiscord``: the server, what a test does to it, and what it asks of it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from aiohttp import web

from tests.support.fakes.discord import payloads
from tests.support.fakes.discord.faults import Faults
from tests.support.fakes.discord.gateway import Gateway
from tests.support.fakes.discord.payloads import Json
from tests.support.fakes.discord.rest import API_PREFIX, RestApi
from tests.support.fakes.discord.state import FakeChannel, FakeUser, RecordedCall, World

T = TypeVar("T")


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
        self.state = World()
        self.faults = Faults()
        self.gateway = Gateway(
            self.state,
            token=token,
            allowed_intents=allowed_intents,
            heartbeat_interval_ms=heartbeat_interval_ms,
        )
        self.rest = RestApi(
            self.state,
            self.faults,
            self.gateway,
            token=token,
            nonce_window=nonce_window,
            echo_own_messages=echo_own_messages,
        )
        self._runner: web.AppRunner | None = None

        world = self.state
        self.bot, self.application_id, self.user = world.bot, world.application_id, world.user
        self.guild, self.text_channel, self.thread = world.guild, world.text_channel, world.thread
        # What the client did (the world's and the gateway's own lists, never replaced).
        self.calls: list[RecordedCall] = world.calls
        self.typing_calls: list[int] = world.typing_calls  # channel ids, in order
        # {interaction_id, token, type, data, message_id (the original response, if any)}
        self.interaction_responses: list[Json] = world.interaction_responses
        self.followups: list[Json] = world.followups  # webhook follow-up messages (as created)
        self.commands: dict[int | None, list[Json]] = world.commands  # key None = global
        self.identifies: list[Json] = self.gateway.identifies  # ``d`` of every IDENTIFY
        self.resumes: list[Json] = self.gateway.resumes  # ``d`` of every accepted RESUME
        self.gateway_received: list[Json] = self.gateway.received  # every payload from the client
        self.gateway_urls: list[str] = self.gateway.urls  # path?query of every connection
        self.dispatched: list[tuple[int, str, Json]] = self.gateway.dispatched  # all sessions

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeDiscord:
        self._runner = web.AppRunner(self.rest.application(), access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.state.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def port(self) -> int:
        return self.state.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self.state.base_url

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
        return self.state.add_user(username, in_guild=in_guild)

    def add_channel(self, name: str, *, thread_of: FakeChannel | None = None) -> FakeChannel:
        """A new text channel in ``dc.guild``, or a public thread when ``thread_of`` is given."""
        return self.state.add_channel(name, thread_of=thread_of)

    def dm_channel(self, user: FakeUser | None = None) -> FakeChannel:
        """The DM channel between the bot and ``user`` (default ``dc.user``), made on first use."""
        return self.state.dm_channel(user)

    def add_attachment(self, filename: str, data: bytes, content_type: str | None = None) -> Json:
        """Register bytes on the fake CDN; returns the attachment object for a message."""
        return self.state.add_attachment(filename, data, content_type)

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
        message = self.state.create_message(
            self.dm_channel(author), author, content, attachments, reply_to, reply_ping
        )
        await self.dispatch("MESSAGE_CREATE", self.state.gateway_message(message))
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
        message = self.state.create_message(
            channel or self.text_channel,
            author or self.user,
            content,
            attachments,
            reply_to,
            reply_ping,
        )
        await self.dispatch("MESSAGE_CREATE", self.state.gateway_message(message))
        return message

    async def edit_message(self, message: Json, content: str) -> Json:
        """The author edits a message: dispatches MESSAGE_UPDATE with the full new message."""
        stored = self.state.messages[int(message["id"])]
        replied = stored.get("referenced_message")
        pinged = replied is not None and replied["author"] in stored["mentions"]
        stored.update(content=content, edited_timestamp=payloads.now_iso())
        stored["mentions"] = self.state.mentions(content, replied, pinged)
        await self.dispatch("MESSAGE_UPDATE", self.state.gateway_message(stored))
        return stored

    async def redeliver(self, message: Json) -> None:
        """Dispatch the same MESSAGE_CREATE again (at-least-once delivery happens)."""
        await self.dispatch("MESSAGE_CREATE", self.state.gateway_message(message))

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
        world = self.state
        interaction = payloads.slash_command(
            interaction_id=world.ids.next(),
            application_id=self.application_id,
            command=world.find_command(name, channel.guild_id),
            options=options or {},
            channel_id=channel.id,
            channel=world.channel_payload(channel),
            guild_id=channel.guild_id,
            member=world.member_of(user.id) if channel.guild_id is not None else None,
            user=user,
        )
        world.interactions[int(interaction["id"])] = {"payload": interaction, "responded": False}
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

    async def dispatch(self, event: str, data: Json) -> int:
        """Send any DISPATCH (op 0) event on the current session; returns its sequence number.

        While the client is disconnected the event is kept and replayed on RESUME, like
        Discord. Raises if no client ever identified (push events after ``wait_until_ready``).
        """
        return await self.gateway.dispatch(event, data)

    async def drop_gateway(self, code: int | None = 4000) -> None:
        """Close the live gateway connection with ``code``; ``None`` aborts the TCP connection
        without a close frame (the client sees 1006). The session stays resumable."""
        await self.gateway.drop(code)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client should reconnect and RESUME."""
        await self.gateway.request_reconnect()

    async def invalidate_session(self) -> None:
        """Send op 9 INVALID_SESSION (not resumable) and forget the session: the client must
        IDENTIFY again; events dispatched in between are lost, like on Discord."""
        await self.gateway.invalidate_session()

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
        self.faults.fail_next(
            method, path, status=status, times=times, retry_after=retry_after, is_global=is_global
        )

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str, path: str) -> list[RecordedCall]:
        """Recorded calls matching ``method`` and a route template or concrete path."""
        return self.state.calls_to(method, path)

    def sent_messages(self, channel_id: int | None = None) -> list[Json]:
        """Messages the bot created with POST /channels/{id}/messages (current state, edits
        included), optionally only those in ``channel_id``. Deduplicated nonces add nothing."""
        return self.state.sent_messages(channel_id)

    def message(self, message_id: int | str) -> Json:
        """Any stored message by id (user messages, bot messages, interaction responses)."""
        return self.state.messages[int(message_id)]

    @property
    def intents(self) -> int | None:
        """The intents of the last IDENTIFY, if any."""
        return self.identifies[-1].get("intents") if self.identifies else None

    @property
    def connected(self) -> bool:
        """Whether a client holds a live (identified or resumed) gateway connection."""
        return self.gateway.live is not None

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
            changed = self.state.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.02))
        return result
