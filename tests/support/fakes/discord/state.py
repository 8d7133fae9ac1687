"""What the fake Discord holds: users, the guild and its channels, messages, attachments,
interactions and synced commands, and a record of everything the client did."""

from __future__ import annotations

import mimetypes
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tests.support.fakes.changes import Changes
from tests.support.fakes.discord import payloads
from tests.support.fakes.discord.payloads import (
    DISCORD_EPOCH_MS,
    DM_CHANNEL,
    GUILD_MEMBERS,
    PUBLIC_THREAD,
    TEXT_CHANNEL,
    Json,
)


class Snowflakes:
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


class World(Changes):
    """A bot user (``bot``, whose id is also ``application_id``), a human user (``user``) and
    one guild (``guild``) holding a text channel (``text_channel``) and a public thread in it
    (``thread``); more users and channels as a test adds them."""

    def __init__(self) -> None:
        super().__init__()
        self.port = 0  # of the server, once started (attachment URLs point at it)
        self.ids = Snowflakes()
        self.bot = FakeUser(self.ids.next(), "pagemind", bot=True)
        self.application_id = self.bot.id
        self.user = FakeUser(self.ids.next(), "alice")
        guild_id = self.ids.next()
        self.text_channel = FakeChannel(self.ids.next(), "general", guild_id=guild_id)
        self.thread = FakeChannel(
            self.ids.next(),
            "pagemind-thread",
            type=PUBLIC_THREAD,
            guild_id=guild_id,
            parent_id=self.text_channel.id,
        )
        self.guild = FakeGuild(
            guild_id, "Pagemind Test Guild", [self.text_channel, self.thread], [self.bot, self.user]
        )
        self.users = {u.id: u for u in (self.bot, self.user)}
        self.channels = {c.id: c for c in self.guild.channels}
        self.joined_at = payloads.now_iso()

        # What the client did.
        self.calls: list[RecordedCall] = []
        self.typing_calls: list[int] = []  # channel ids, in order
        # {interaction_id, token, type, data, message_id (the original response, if any)}
        self.interaction_responses: list[Json] = []
        self.followups: list[Json] = []  # webhook follow-up messages (as created)
        self.commands: dict[int | None, list[Json]] = {}  # synced commands; key None = global

        self.messages: dict[int, Json] = {}
        self.sent: list[int] = []  # ids of the messages the bot created with POST .../messages
        self.nonces: dict[tuple[int, str], tuple[float, int]] = {}
        self.files: dict[int, tuple[bytes, str]] = {}  # attachment id -> (bytes, content type)
        self.interactions: dict[int, Json] = {}  # id -> {payload, responded}
        self.original: dict[str, int] = {}  # interaction token -> original response message id

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ world building

    def add_user(self, username: str, *, in_guild: bool = True) -> FakeUser:
        user = FakeUser(self.ids.next(), username)
        self.users[user.id] = user
        if in_guild:
            self.guild.members.append(user)
        return user

    def add_channel(self, name: str, *, thread_of: FakeChannel | None = None) -> FakeChannel:
        channel = FakeChannel(
            self.ids.next(),
            name,
            type=PUBLIC_THREAD if thread_of else TEXT_CHANNEL,
            guild_id=self.guild.id,
            parent_id=thread_of.id if thread_of else None,
        )
        self.guild.channels.append(channel)
        self.channels[channel.id] = channel
        return channel

    def dm_channel(self, user: FakeUser | None = None) -> FakeChannel:
        user = user or self.user
        for channel in self.channels.values():
            if channel.recipient is not None and channel.recipient.id == user.id:
                return channel
        channel = FakeChannel(self.ids.next(), "", type=DM_CHANNEL, recipient=user)
        self.channels[channel.id] = channel
        return channel

    def add_attachment(self, filename: str, data: bytes, content_type: str | None = None) -> Json:
        attachment_id = self.ids.next()
        ctype = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        self.files[attachment_id] = (data, ctype)
        expires = format(int(time.time()) + 86_400, "x")
        url = (
            f"{self.base_url}/attachments/{attachment_id}/{quote(filename)}"
            f"?ex={expires}&is={format(int(time.time()), 'x')}&hm={secrets.token_hex(32)}&"
        )
        return payloads.attachment(attachment_id, filename, len(data), url, ctype)

    # ------------------------------------------------------------------ messages

    def mentions(self, content: str, reply_to: Json | None, reply_ping: bool) -> list[Json]:
        ids = payloads.mentioned_ids(content, reply_to, reply_ping)
        known = dict.fromkeys(i for i in ids if i in self.users)
        return [self.users[i].payload() for i in known]

    def create_message(
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
        message = payloads.message(
            self.ids.next(),
            channel,
            author,
            content,
            mentions=self.mentions(content, reply_to, reply_ping),
            attachments=attachments,
            reply_to=reply_to,
            **extra,
        )
        self.messages[int(message["id"])] = message
        return message

    def gateway_message(self, message: Json) -> Json:
        """The gateway shape of a stored message: guild_id and member objects added."""
        channel = self.channels.get(int(message["channel_id"]))
        if channel is None or channel.guild_id is None:
            return message
        return payloads.gateway_message(message, channel.guild_id, self.member_of)

    def member_of(self, user_id: int) -> Json:
        return payloads.member(self.users[user_id], self.joined_at)

    def channel_payload(self, channel: FakeChannel) -> Json:
        position = next((i for i, c in enumerate(self.guild.channels) if c.id == channel.id), -1)
        return payloads.channel(
            channel, position=position, owner=self.user, joined_at=self.joined_at
        )

    def guild_payload(self, intents: int) -> Json:
        members = self.guild.members if intents & GUILD_MEMBERS else [self.bot]
        channels = self.guild.channels
        return payloads.guild(
            self.guild,
            members=[self.member_of(u.id) for u in members],
            channels=[self.channel_payload(c) for c in channels if c.type != PUBLIC_THREAD],
            threads=[self.channel_payload(c) for c in channels if c.type == PUBLIC_THREAD],
            owner=self.user,
            joined_at=self.joined_at,
            system_channel=self.text_channel,
        )

    def find_command(self, name: str, guild_id: int | None) -> Json:
        for key in (guild_id, None) if guild_id is not None else (None,):
            for command in self.commands.get(key, []):
                if command["name"] == name:
                    return command
        raise LookupError(f"/{name} was never synced (PUT .../commands) for this guild or globally")

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str, path: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method.upper() and path in (c.path, c.route)]

    def sent_messages(self, channel_id: int | None = None) -> list[Json]:
        messages = [self.messages[mid] for mid in self.sent if mid in self.messages]
        if channel_id is None:
            return messages
        return [m for m in messages if m["channel_id"] == str(channel_id)]
